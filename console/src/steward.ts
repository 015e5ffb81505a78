import { CATEGORIES, PURPOSES, categoryDisplay } from './categories';
import { announce, formatInstant, h, render } from './dom';
import { param, params, paramText, type Fhir, type Json, type Param } from './fhir';

/**
 * The data steward's view: the ledger's health (`GET /ledger/status`, public), the full
 * verification (`POST [base]/$full-audit`, role admin) and the consent-decision explorer
 * (`Patient/{id}/$consent-decision`, role admin).
 */
export class StewardView {
  private readonly statusBody = h('div', { class: 'stats' });
  private readonly auditBody = h('div', { role: 'status', 'aria-live': 'polite' });
  private readonly explainBody = h('div', { role: 'region', 'aria-live': 'polite', 'aria-label': 'Decision' });

  constructor(
    private readonly fhir: Fhir,
    private readonly ledgerStatusUrl: string,
  ) {}

  element(): HTMLElement[] {
    return [this.statusCard(), this.auditCard(), this.explorerCard()];
  }

  private statusCard(): HTMLElement {
    return h(
      'section',
      { class: 'card', 'aria-labelledby': 'ledger-title' },
      h('h2', { id: 'ledger-title' }, 'Ledger health'),
      h('div', { class: 'toolbar' }, h('button', { type: 'button', id: 'refresh-status', onclick: () => void this.loadStatus() }, 'Refresh')),
      this.statusBody,
    );
  }

  async loadStatus(): Promise<void> {
    const res = await fetch(this.ledgerStatusUrl, { headers: { accept: 'application/json' } });
    if (!res.ok) {
      render(this.statusBody, h('p', { class: 'error' }, `/ledger/status answered ${res.status}`));
      return;
    }
    const s = (await res.json()) as Json;
    const cp = s.latestCheckpoint as { size?: number; signedAt?: string } | null;
    const anchor = s.latestAnchor as { size?: number; anchoredAt?: string; sequence?: number; txId?: string | null } | null;
    const lag = (s.anchoring ?? {}) as Json;
    const ledger = (s.ledger ?? {}) as Json;
    const healthy = ledger.healthy !== false && !lag.alarm && !lag.lastError;
    render(
      this.statusBody,
      stat('Log size', `${s.logSize ?? '—'} leaves`, 'log-size'),
      stat('Latest checkpoint', cp ? `size ${cp.size}, signed ${formatInstant(cp.signedAt)}` : 'none yet', 'latest-checkpoint'),
      stat('Latest anchor', anchor ? `size ${anchor.size} (#${anchor.sequence}), ${formatInstant(anchor.anchoredAt)}${anchor.txId ? `, tx ${anchor.txId.slice(0, 16)}…` : ''}` : 'none yet', 'latest-anchor'),
      stat('Anchoring lag', `${s.unanchoredLeaves ?? '—'} leaves not anchored; ${describeLag(lag)}`, 'anchoring-lag'),
      stat('Ledger adapter', `${String(ledger.name ?? 'ledger')}: ${healthy ? 'healthy' : 'needs attention'}${ledger.detail ? ` (${String(ledger.detail)})` : ''}`, 'ledger-adapter', healthy ? 'ok' : 'bad'),
      h('details', {}, h('summary', {}, 'Public keys'), h('dl', { class: 'facts' }, [h('dt', {}, 'Log verifier key'), h('dd', {}, h('code', {}, String(s.verifierKey ?? '—')))], s.anchorPublicKey ? [h('dt', {}, 'Anchor public key'), h('dd', {}, h('code', {}, String(s.anchorPublicKey)))] : [])),
    );
  }

  private auditCard(): HTMLElement {
    const button = h('button', { type: 'button', id: 'run-full-audit', class: 'primary' }, 'Run the full verification');
    button.addEventListener('click', () => void this.runAudit(button));
    return h(
      'section',
      { class: 'card', 'aria-labelledby': 'audit-title' },
      h('h2', { id: 'audit-title' }, 'Full verification'),
      h('p', { class: 'muted' }, 'Recomputes every leaf of the Merkle log from the store and checks the whole log against the anchored checkpoints (what npm run audit-log does), on the running server.'),
      button,
      this.auditBody,
    );
  }

  private async runAudit(button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    render(this.auditBody, h('p', {}, 'Running… every stored version is recomputed, which takes a while on a large store.'));
    try {
      const r = await this.fhir.post<{ parameter?: Param[] }>('$full-audit');
      const num = (n: string): string => paramText(param(r, n)) ?? '—';
      const ok = param(r, 'ok')?.valueBoolean === true;
      const findings = params(r, 'finding');
      const serious = findings.filter((f) => paramText(param(f, 'kind')) !== 'unanchored');
      render(
        this.auditBody,
        h('p', { class: `verdict ${ok ? 'ok' : 'bad'}`, id: 'full-audit-result', 'data-ok': String(ok) }, ok ? '✓ Passed: the store and the log agree, and the log agrees with its anchored checkpoints.' : `✕ Failed: ${serious.length} findings.`),
        h(
          'dl',
          { class: 'facts' },
          [
            ['Log', `${num('logSize')} leaves (${num('origin')})`],
            ['Anchored', `size ${num('anchoredSize')}, ${num('anchoredCheckpoints')} anchored checkpoints checked`],
            ['Recomputed', `${num('checkedVersions')} stored versions, ${num('checkedLeaves')} leaves`],
            ['Written while it ran', num('writtenDuringAudit')],
          ].flatMap(([t, v]) => [h('dt', {}, t as string), h('dd', {}, v as string)]),
        ),
        findings.length > 0
          ? h(
              'table',
              { class: 'log' },
              h('caption', {}, 'Findings'),
              h('thead', {}, h('tr', {}, ['Kind', 'Record', 'Leaf', 'Detail'].map((t) => h('th', { scope: 'col' }, t)))),
              h(
                'tbody',
                {},
                findings.map((f) =>
                  h('tr', {}, h('td', {}, paramText(param(f, 'kind')) ?? ''), h('td', {}, paramText(param(f, 'key')) ?? '—'), h('td', {}, paramText(param(f, 'leafIndex')) ?? '—'), h('td', {}, paramText(param(f, 'detail')) ?? '')),
                ),
              ),
            )
          : null,
      );
      announce(ok ? 'Full verification passed' : 'Full verification failed');
    } catch (err) {
      render(this.auditBody, h('p', { class: 'error' }, `The verification could not run: ${(err as Error).message}`));
    } finally {
      button.disabled = false;
      void this.loadStatus();
    }
  }

  private explorerCard(): HTMLElement {
    const patient = h('input', { id: 'x-patient', name: 'patient', required: true, autocomplete: 'off', placeholder: 'scn-alice', 'aria-describedby': 'x-patient-help' });
    const found = h('datalist', { id: 'x-patient-list' });
    patient.setAttribute('list', 'x-patient-list');
    const find = h('input', { id: 'x-find', type: 'search', placeholder: 'family name' });
    const category = h('select', { id: 'x-category', name: 'category' }, h('option', { value: '' }, 'Every category'), CATEGORIES.map((c) => h('option', { value: c.code }, c.display)));
    const purpose = h('select', { id: 'x-purpose', name: 'purpose' }, Object.entries(PURPOSES).map(([code, text]) => h('option', { value: code }, `${text} (${code})`)));
    const actor = h('input', { id: 'x-actor', name: 'actor', placeholder: 'Organization/org-employer', autocomplete: 'off', 'aria-describedby': 'x-actor-help' });
    const form = h(
      'form',
      { class: 'explorer', id: 'explorer' },
      h('div', { class: 'field' }, h('label', { for: 'x-find' }, 'Find a patient by name'), h('div', { class: 'row' }, find, h('button', { type: 'button', onclick: () => void this.findPatients(find.value, found) }, 'Find'))),
      h('div', { class: 'field' }, h('label', { for: 'x-patient' }, 'Patient id'), patient, h('span', { id: 'x-patient-help', class: 'sub' }, 'Patient/<id>: type it, or pick one found by name')),
      h('div', { class: 'field' }, h('label', { for: 'x-actor' }, 'Who asks (actor)'), actor, h('span', { id: 'x-actor-help', class: 'sub' }, 'Type/id; leave empty for “anyone else”')),
      h('div', { class: 'field' }, h('label', { for: 'x-category' }, 'Data category'), category),
      h('div', { class: 'field' }, h('label', { for: 'x-purpose' }, 'Purpose of use'), purpose),
      found,
      h('button', { type: 'submit', class: 'primary' }, 'Explain the decision'),
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.explain(patient.value.trim().replace(/^Patient\//, ''), actor.value.trim(), category.value, purpose.value);
    });
    return h(
      'section',
      { class: 'card', 'aria-labelledby': 'explorer-title' },
      h('h2', { id: 'explorer-title' }, 'Consent-decision explorer'),
      h('p', { class: 'muted' }, 'Can this party see this category of this patient’s record for this purpose — and why? The server answers with the deciding Consent and provision.'),
      form,
      this.explainBody,
    );
  }

  private async findPatients(name: string, list: HTMLDataListElement): Promise<void> {
    if (!name.trim()) return;
    const b = await this.fhir.get<{ entry?: { resource?: Json }[] }>(`Patient?name=${encodeURIComponent(name.trim())}&_count=20&_elements=id,name,birthDate`).catch(() => ({ entry: [] }));
    render(
      list,
      (b.entry ?? []).map((e) => {
        const n = (e.resource?.name as { given?: string[]; family?: string }[] | undefined)?.[0];
        return h('option', { value: String(e.resource?.id ?? '') }, `${[...(n?.given ?? []), n?.family].filter(Boolean).join(' ')} ${String(e.resource?.birthDate ?? '')}`);
      }),
    );
    announce(`${b.entry?.length ?? 0} patients found; choose one in the patient id field`);
  }

  private async explain(patientId: string, actor: string, category: string, purpose: string): Promise<void> {
    if (!patientId) return;
    const q = new URLSearchParams({ purpose });
    if (actor) q.set('actor', actor);
    if (category) q.set('category', category);
    render(this.explainBody, h('p', {}, 'Asking the server…'));
    try {
      const answer = await this.fhir.get<{ parameter?: Param[] }>(`Patient/${encodeURIComponent(patientId)}/$consent-decision?${q.toString()}`);
      const results = params(answer, 'result');
      render(
        this.explainBody,
        h('p', {}, `Patient/${patientId}, purpose ${purpose} (group ${paramText(param(answer, 'group')) ?? '—'}), ${actor ? `actor ${params(answer, 'actor').map(paramText).join(', ')}` : 'anyone else'}:`),
        h(
          'table',
          { class: 'log', id: 'explain-result' },
          h('thead', {}, h('tr', {}, ['Category', 'Decision', 'Why', 'Deciding Consent', 'Provision', 'Decided for'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, results.map((r) => explanationRow(r))),
        ),
      );
      announce(`${results.length} decisions shown`);
    } catch (err) {
      render(this.explainBody, h('p', { class: 'error' }, (err as Error).message));
    }
  }
}

function explanationRow(r: Param): HTMLTableRowElement {
  const decision = paramText(param(r, 'decision')) ?? '';
  const basis = paramText(param(r, 'basis')) ?? '';
  const outcomes = params(r, 'outcome').map((o) => {
    const cond = params(o, 'condition').map((c) => c.valueString ?? '');
    return `${paramText(param(o, 'decision'))} ${cond.length > 0 ? `when ${cond.join(' and ')}` : 'otherwise'}`;
  });
  const why = basis === 'base-policy' ? 'No Consent decides: the base policy' : basis === 'consent' ? 'A Consent of the patient' : basis === 'not-patient-data' ? 'Not patient data' : basis;
  const cat = param(r, 'category')?.valueCoding?.code;
  return h(
    'tr',
    { 'data-category': cat, 'data-decision': decision },
    h('th', { scope: 'row' }, cat ? categoryDisplay(cat) : (paramText(param(r, 'resource')) ?? '')),
    h('td', {}, h('span', { class: `decision decision-${decision}` }, decision)),
    h('td', {}, why, outcomes.length > 0 ? h('ul', {}, outcomes.map((o) => h('li', {}, o))) : null),
    h('td', {}, paramText(param(r, 'consent')) ?? '—'),
    h('td', {}, paramText(param(r, 'provision')) ?? '—'),
    h('td', {}, paramText(param(r, 'identity')) === '*' ? 'anyone else' : (paramText(param(r, 'identity')) ?? '—')),
  );
}

function stat(label: string, value: string, id: string, tone?: 'ok' | 'bad'): HTMLElement {
  return h('div', { class: `stat${tone ? ` stat-${tone}` : ''}`, id: `stat-${id}` }, h('span', { class: 'stat-label' }, label), h('span', { class: 'stat-value' }, value));
}

function describeLag(lag: Json): string {
  const parts = [`${Number(lag.pending ?? 0)} checkpoints waiting`, `oldest waited ${Number(lag.lagSeconds ?? 0).toFixed(1)} s`, lag.running ? 'worker running' : 'worker stopped'];
  const err = lag.lastError as { message?: string; consecutiveFailures?: number } | undefined;
  if (err) parts.push(`last error: ${err.message ?? ''} (${err.consecutiveFailures ?? 1} in a row)`);
  const alarm = lag.alarm as { kind?: string; message?: string } | undefined;
  if (alarm) parts.push(`ALARM ${alarm.kind ?? ''}: ${alarm.message ?? ''}`);
  return parts.join(', ');
}
