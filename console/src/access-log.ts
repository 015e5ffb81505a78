import { accessChart } from './access-chart';
import { categoryDisplay, purposeDisplay } from './categories';
import { announce, formatInstant, h, render } from './dom';
import { eachLimited, param, params, paramText, type Fhir, type Json, type Param } from './fhir';

/**
 * The patient's access log: `AuditEvent?patient=…`, newest first. Each row says who, when,
 * what, which data categories (read from the accessed versions' category tags), for which
 * purpose and with which consent decision; break-the-glass rows stand out. Each row's badge
 * comes from `AuditEvent/{id}/$verify`, and its details show the proof.
 */
const CONSENT_DECISION_EXTENSION = 'https://custodian.example.org/fhir/StructureDefinition/audit-consent-decision';
const CATEGORY_TAG_SYSTEM = 'https://custodian.example.org/fhir/CodeSystem/data-category';
const RESTFUL = 'http://hl7.org/fhir/restful-interaction';
const PAGE = 100;
/** How often, and how many times, a row still waiting for its anchor is checked again. */
const PENDING_RETRY_MS = 2000;
const PENDING_RETRIES = 30;

interface Coding {
  system?: string;
  code?: string;
  display?: string;
}

interface AuditEventJson {
  id: string;
  recorded?: string;
  meta?: { security?: Coding[] };
  subtype?: Coding[];
  outcome?: string;
  outcomeDesc?: string;
  purposeOfEvent?: { coding?: Coding[] }[];
  agent?: { requestor?: boolean; who?: { reference?: string; display?: string; identifier?: { system?: string; value?: string } }; altId?: string }[];
  entity?: { what?: { reference?: string }; securityLabel?: Coding[] }[];
  extension?: { url: string; extension?: { url: string; valueCode?: string; valueReference?: { reference?: string } }[] }[];
}

export interface AccessRow {
  readonly id: string;
  readonly recorded: string;
  readonly who: string;
  readonly client?: string;
  readonly interaction: string;
  readonly entities: string[];
  readonly purposes: string[];
  readonly decision?: string;
  readonly mode?: string;
  readonly breakGlass: boolean;
  readonly outcome: string;
  readonly own: boolean;
}

export function toRow(e: AuditEventJson, patientRef: string): AccessRow {
  const user = e.agent?.find((a) => a.requestor);
  const client = e.agent?.find((a) => a.who?.identifier?.system === 'urn:ietf:rfc:6749:client_id')?.who?.identifier?.value;
  const whoRef = user?.who?.reference;
  const ext = e.extension?.find((x) => x.url === CONSENT_DECISION_EXTENSION)?.extension ?? [];
  const sub = (name: string): string | undefined => ext.find((x) => x.url === name)?.valueCode;
  const interaction = (e.subtype ?? []).filter((s) => s.code).map((s) => (s.system === RESTFUL ? s.code : `$${s.code}`)).join(' ');
  const btg = (e.meta?.security ?? []).some((s) => s.code === 'BTG') || sub('mode') === 'break-glass' || (e.entity ?? []).some((en) => (en.securityLabel ?? []).some((s) => s.code === 'BTG'));
  const decision = sub('decision');
  const mode = sub('mode');
  return {
    id: e.id,
    recorded: e.recorded ?? '',
    who: whoRef ?? user?.who?.display ?? user?.altId ?? 'unknown',
    ...(client ? { client } : {}),
    interaction: interaction || 'access',
    entities: (e.entity ?? []).flatMap((en) => (en.what?.reference && /\/_history\//.test(en.what.reference) ? [en.what.reference] : [])),
    purposes: (e.purposeOfEvent ?? []).flatMap((p) => (p.coding ?? []).flatMap((c) => (c.code ? [c.code] : []))),
    ...(decision ? { decision } : {}),
    ...(mode ? { mode } : {}),
    breakGlass: btg,
    outcome: e.outcome ?? '0',
    own: whoRef === patientRef,
  };
}

type Verdict = 'verified' | 'pending-anchor' | 'mismatch' | 'error';

export class AccessLog {
  private rows: AccessRow[] = [];
  private includeOwn = false;
  private readonly verdicts = new Map<string, { verdict: Verdict; proof?: { parameter?: Param[] }; error?: string }>();
  private readonly categories = new Map<string, string[]>();
  private readonly names = new Map<string, string>();
  private readonly body = h('div');
  private readonly status = h('p', { class: 'muted', role: 'status' });
  private readonly dialog = h('dialog', { class: 'proof', 'aria-labelledby': 'proof-title' });
  private generation = 0;

  constructor(
    private readonly fhir: Fhir,
    private readonly patientId: string,
  ) {}

  element(): HTMLElement {
    const own = h('input', {
      type: 'checkbox',
      id: 'include-own',
      onchange: (ev: Event) => {
        this.includeOwn = (ev.target as HTMLInputElement).checked;
        this.draw();
      },
    });
    return h(
      'section',
      { class: 'card', 'aria-labelledby': 'log-title' },
      h('h2', { id: 'log-title' }, 'Who accessed my record'),
      h(
        'div',
        { class: 'toolbar' },
        h('button', { type: 'button', id: 'refresh-log', onclick: () => void this.load() }, 'Refresh'),
        h('label', { for: 'include-own', class: 'check' }, own, ' Include my own accesses (this console)'),
      ),
      this.status,
      this.body,
      this.dialog,
    );
  }

  async load(): Promise<void> {
    const generation = ++this.generation;
    this.status.textContent = 'Loading the access log…';
    const bundle = await this.fhir.get<{ entry?: { resource?: AuditEventJson }[] }>(
      `AuditEvent?patient=Patient/${encodeURIComponent(this.patientId)}&_sort=-date&_count=${PAGE}`,
    );
    const patientRef = `Patient/${this.patientId}`;
    this.rows = (bundle.entry ?? []).flatMap((e) => (e.resource ? [toRow(e.resource, patientRef)] : []));
    await this.resolveDetails(this.rows.filter((r) => !r.own));
    if (generation !== this.generation) return;
    this.status.textContent = `${this.rows.filter((r) => !r.own).length} accesses by others, ${this.rows.filter((r) => r.own).length} by you, among the latest ${this.rows.length} events.`;
    this.draw();
    void this.verifyAll(generation);
  }

  /** Categories of the versions accessed (their tags) and names of who accessed, in one batch. */
  private async resolveDetails(rows: readonly AccessRow[]): Promise<void> {
    const refs = [...new Set(rows.flatMap((r) => r.entities))].filter((r) => !this.categories.has(r)).slice(0, 200);
    const people = [...new Set(rows.map((r) => r.who))].filter((w) => /^(Organization|Practitioner)\/[A-Za-z0-9.-]+$/.test(w) && !this.names.has(w));
    const requests = [...refs, ...people];
    if (requests.length === 0) return;
    const batch = await this.fhir
      .post<{ entry?: { resource?: Json; response?: { status?: string } }[] }>('', {
        resourceType: 'Bundle',
        type: 'batch',
        entry: requests.map((url) => ({ request: { method: 'GET', url } })),
      })
      .catch(() => ({ entry: [] as { resource?: Json }[] }));
    (batch.entry ?? []).forEach((entry, i) => {
      const url = requests[i] as string;
      const res = entry.resource;
      if (!res || res.resourceType === 'OperationOutcome') return;
      if (i < refs.length) {
        const tags = ((res.meta as { tag?: Coding[] } | undefined)?.tag ?? []).filter((t) => t.system === CATEGORY_TAG_SYSTEM && t.code).map((t) => t.code as string);
        this.categories.set(url, tags);
      } else {
        const name = typeof res.name === 'string' ? res.name : humanName(res.name);
        if (name) this.names.set(url, name);
      }
    });
  }

  private visible(): AccessRow[] {
    return this.rows.filter((r) => this.includeOwn || !r.own);
  }

  private draw(): void {
    const rows = this.visible();
    const chart = accessChart(rows.map((r) => ({ at: new Date(r.recorded), denied: r.decision === 'deny' || r.outcome !== '0' })));
    const table = h(
      'table',
      { class: 'log' },
      h('caption', { class: 'visually-hidden' }, 'Accesses to my record, newest first'),
      h(
        'thead',
        {},
        h('tr', {}, ['When', 'Who', 'What', 'Categories', 'Purpose', 'Decision', 'Proof'].map((t) => h('th', { scope: 'col' }, t))),
      ),
      h('tbody', {}, rows.map((r) => this.rowElement(r))),
    );
    render(this.body, h('h3', {}, 'Accesses over time'), chart, rows.length > 0 ? h('div', { class: 'scroll' }, table) : h('p', {}, 'No one else has accessed your record yet.'));
  }

  private rowElement(r: AccessRow): HTMLTableRowElement {
    const cats = [...new Set(r.entities.flatMap((e) => this.categories.get(e) ?? []))];
    const types = [...new Set(r.entities.map((e) => e.split('/')[0]))];
    const decision = r.outcome !== '0' && !r.decision ? 'refused' : (r.decision ?? '—');
    return h(
      'tr',
      { class: r.breakGlass ? 'btg' : undefined, 'data-audit-event': r.id, 'data-who': r.who },
      h('td', {}, h('time', { datetime: r.recorded }, formatInstant(r.recorded))),
      h('td', {}, this.names.get(r.who) ?? r.who, this.names.has(r.who) ? h('span', { class: 'sub' }, r.who) : null, r.client ? h('span', { class: 'sub' }, `via ${r.client}`) : null),
      h('td', {}, r.interaction, types.length > 0 ? h('span', { class: 'sub' }, `${r.entities.length} × ${types.join(', ')}`) : null),
      h('td', {}, cats.length > 0 ? h('ul', { class: 'tags' }, cats.map((c) => h('li', { class: `tag tag-${c}` }, categoryDisplay(c)))) : '—'),
      h('td', {}, r.purposes.map(purposeDisplay).join(', ') || '—'),
      h(
        'td',
        {},
        h('span', { class: `decision decision-${decision}` }, decision),
        r.breakGlass ? h('strong', { class: 'btg-flag' }, 'Break the glass') : null,
      ),
      h('td', {}, this.badge(r.id)),
    );
  }

  private badge(id: string): HTMLElement {
    const v = this.verdicts.get(id);
    const verdict = v?.verdict;
    const text = verdict === 'verified' ? '✓ verified' : verdict === 'pending-anchor' ? '… pending anchor' : verdict === 'mismatch' ? '✕ mismatch' : verdict === 'error' ? '? not checked' : 'checking…';
    return h(
      'button',
      {
        type: 'button',
        class: `badge badge-${verdict ?? 'checking'}`,
        'data-verdict': verdict ?? 'checking',
        'aria-label': `Proof: ${text.replace(/^\W+/, '')}. Show details.`,
        disabled: v === undefined,
        onclick: () => this.showProof(id),
      },
      text,
    );
  }

  private async verifyAll(generation: number): Promise<void> {
    const ids = this.visible().map((r) => r.id).slice(0, 50);
    await eachLimited(ids, 4, (id) => this.verify(id));
    for (let attempt = 0; attempt < PENDING_RETRIES; attempt++) {
      if (generation !== this.generation) return;
      const pending = ids.filter((id) => this.verdicts.get(id)?.verdict === 'pending-anchor');
      if (pending.length === 0) return;
      await new Promise((resolve) => setTimeout(resolve, PENDING_RETRY_MS));
      await eachLimited(pending, 4, (id) => this.verify(id));
    }
  }

  private async verify(id: string): Promise<void> {
    try {
      const proof = await this.fhir.get<{ parameter?: Param[] }>(`AuditEvent/${encodeURIComponent(id)}/$verify`);
      const verdict = (paramText(param(proof, 'verdict')) ?? 'error') as Verdict;
      this.verdicts.set(id, { verdict, proof });
    } catch (err) {
      this.verdicts.set(id, { verdict: 'error', error: (err as Error).message });
    }
    const cell = this.body.querySelector(`tr[data-audit-event="${CSS.escape(id)}"] td:last-child`);
    if (cell) render(cell, this.badge(id));
  }

  private showProof(id: string): void {
    const v = this.verdicts.get(id);
    if (!v) return;
    const p = v.proof ?? {};
    const text = (name: string): string => paramText(param(p, name)) ?? '—';
    const receipt = paramText(param(p, 'receipt'));
    const download = receipt ? URL.createObjectURL(new Blob([receipt], { type: 'application/json' })) : undefined;
    const close = h('button', { type: 'button', class: 'close', onclick: () => this.dialog.close() }, 'Close');
    render(
      this.dialog,
      h('h2', { id: 'proof-title' }, `Proof for AuditEvent/${id}`),
      v.error ? h('p', { class: 'error' }, v.error) : null,
      h(
        'dl',
        { class: 'facts' },
        fact('Verdict', text('verdict')),
        fact('Record', text('key')),
        fact('Leaf index', text('leafIndex')),
        fact('Leaf hash (in the log)', h('code', {}, text('leafHash'))),
        fact('Leaf hash (recomputed from the stored event)', h('code', {}, text('recomputedLeafHash'))),
        fact('Tree size of the checkpoint', text('treeSize')),
        fact('Log verifier key', h('code', {}, text('verifierKey'))),
      ),
      h('h3', {}, 'Inclusion proof'),
      h('ol', { class: 'hashes' }, params(p, 'inclusionProof').map((x) => h('li', {}, h('code', {}, x.valueBase64Binary ?? '')))),
      h('h3', {}, 'Signed checkpoint'),
      h('pre', {}, text('checkpoint')),
      h('h3', {}, 'Anchor'),
      h('pre', {}, prettyJson(paramText(param(p, 'anchorReceipt'))) ?? 'Not anchored yet: the checkpoint is waiting for the ledger.'),
      download ? h('p', {}, h('a', { href: download, download: `receipt-${id}.json` }, 'Download the receipt'), ' (check it offline with ', h('code', {}, 'npm run verify'), ')') : null,
      close,
    );
    this.dialog.showModal();
    close.focus();
    announce(`Proof for this access: ${text('verdict')}`);
  }
}

function fact(term: string, value: Node | string): HTMLElement[] {
  return [h('dt', {}, term), h('dd', {}, value)];
}

function prettyJson(text: string | undefined): string | undefined {
  if (!text) return undefined;
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function humanName(names: unknown): string | undefined {
  const n = Array.isArray(names) ? (names[0] as { text?: string; given?: string[]; family?: string; prefix?: string[] } | undefined) : undefined;
  if (!n) return undefined;
  return n.text ?? [...(n.prefix ?? []), ...(n.given ?? []), n.family].filter(Boolean).join(' ');
}
