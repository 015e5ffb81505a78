import { CATEGORIES, categoryDisplay, type Category } from './categories';
import { announce, h, render } from './dom';
import { param, params, paramText, type Fhir, type Param } from './fhir';
import { CONSOLE_CONSENT_SYSTEM, RECIPIENTS, columnConsent, listedCategories, type ConsentResource, type Recipient } from './recipients';

/**
 * The consent grid: data categories × recipients. Every cell shows what the server decides
 * (`Patient/{id}/$consent-decision`, never a rule evaluated here); activating a cell rewrites
 * the column's Consent through the API and asks the server again.
 */
interface CellDecision {
  decision: 'permit' | 'deny' | 'conditional';
  basis?: string;
  consent?: string;
  provision?: string;
  conditions: string[];
}

interface Column {
  readonly recipient: Recipient;
  /** The parties the column is about (the employer's organisations); empty for purpose columns. */
  actors: string[];
  consent?: ConsentResource;
  decisions: Map<string, CellDecision>;
  /** Why the column cannot be used, if it cannot. */
  unavailable?: string;
}

export class ConsentGrid {
  private columns: Column[] = [];
  private readonly table = h('table', { class: 'grid', role: 'grid', 'aria-labelledby': 'grid-title', 'aria-describedby': 'grid-help' });
  private readonly status = h('p', { class: 'muted', role: 'status' });
  private focus = { row: 0, col: 0 };

  constructor(
    private readonly fhir: Fhir,
    private readonly patientId: string,
  ) {
    this.table.addEventListener('keydown', (ev) => this.onKey(ev));
  }

  element(): HTMLElement {
    return h(
      'section',
      { class: 'card', 'aria-labelledby': 'grid-title' },
      h('h2', { id: 'grid-title' }, 'Who may see which part of my record'),
      h(
        'p',
        { id: 'grid-help', class: 'muted' },
        'Each cell shows what the server decides today. Select a cell (Enter or Space) to allow or deny it; arrow keys move between cells. Your choice is saved as a FHIR Consent.',
      ),
      h('div', { class: 'scroll' }, this.table),
      this.status,
    );
  }

  async load(): Promise<void> {
    this.status.textContent = 'Loading your consents…';
    const employers = await this.fhir
      .get<{ entry?: { resource?: { id?: string } }[] }>('Organization?type=bus&_count=20&_elements=id')
      .then((b) => (b.entry ?? []).flatMap((e) => (e.resource?.id ? [`Organization/${e.resource.id}`] : [])));
    const consents = await this.fhir.get<{ entry?: { resource?: ConsentResource }[] }>(
      `Consent?patient=Patient/${encodeURIComponent(this.patientId)}&identifier=${encodeURIComponent(`${CONSOLE_CONSENT_SYSTEM}|`)}&_count=50`,
    );
    const mine = new Map<string, ConsentResource>();
    for (const e of consents.entry ?? []) {
      const key = e.resource?.identifier?.find((i) => i.system === CONSOLE_CONSENT_SYSTEM)?.value;
      if (key && e.resource) mine.set(key, e.resource);
    }
    this.columns = RECIPIENTS.map((recipient) => {
      const actors = recipient.byPurpose ? [] : employers;
      const column: Column = { recipient, actors, decisions: new Map() };
      const consent = mine.get(recipient.key);
      if (consent) column.consent = consent;
      if (!recipient.byPurpose && actors.length === 0) column.unavailable = 'No employer is on record on this server.';
      return column;
    });
    await Promise.all(this.columns.map((c) => this.refreshColumn(c)));
    this.status.textContent = '';
    this.draw();
  }

  private async refreshColumn(column: Column): Promise<void> {
    if (column.unavailable) return;
    const q = new URLSearchParams({ purpose: column.recipient.purpose });
    for (const a of column.actors) q.append('actor', a);
    const answer = await this.fhir.get<{ parameter?: Param[] }>(`Patient/${encodeURIComponent(this.patientId)}/$consent-decision?${q.toString()}`);
    column.decisions = new Map();
    for (const result of params(answer, 'result')) {
      const code = param(result, 'category')?.valueCoding?.code;
      if (!code) continue;
      const decision = paramText(param(result, 'decision')) as CellDecision['decision'];
      const cell: CellDecision = { decision, conditions: [] };
      const basis = paramText(param(result, 'basis'));
      const consent = paramText(param(result, 'consent'));
      const provision = paramText(param(result, 'provision'));
      if (basis) cell.basis = basis;
      if (consent) cell.consent = consent;
      if (provision) cell.provision = provision;
      for (const o of params(result, 'outcome')) {
        const cond = params(o, 'condition').map((c) => c.valueString ?? '');
        cell.conditions.push(`${paramText(param(o, 'decision'))}${cond.length > 0 ? ` when ${cond.join(' and ')}` : ' otherwise'}`);
      }
      column.decisions.set(code, cell);
    }
  }

  private draw(): void {
    const head = h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Data category'),
        this.columns.map((c) => h('th', { scope: 'col' }, c.recipient.label, h('span', { class: 'sub' }, `for ${c.recipient.purposeLabel}`))),
      ),
    );
    const body = h(
      'tbody',
      {},
      CATEGORIES.map((cat, row) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row', title: cat.definition }, cat.display),
          this.columns.map((column, col) => h('td', { role: 'gridcell' }, this.cellButton(cat, column, row, col))),
        ),
      ),
    );
    render(this.table, head, body);
  }

  private cellButton(cat: Category, column: Column, row: number, col: number): HTMLButtonElement {
    const d = column.decisions.get(cat.code);
    const isFocus = this.focus.row === row && this.focus.col === col;
    const who = `${column.recipient.label} (${column.recipient.purposeLabel})`;
    if (column.unavailable || !d) {
      return h('button', { type: 'button', class: 'cell cell-na', 'data-row': row, 'data-col': col, tabindex: isFocus ? 0 : -1, 'aria-disabled': 'true', 'aria-label': `${cat.display}, ${who}: ${column.unavailable ?? 'no decision'}` }, 'n/a');
    }
    const word = d.decision === 'permit' ? 'Allowed' : d.decision === 'deny' ? 'Denied' : 'Depends';
    const mark = d.decision === 'permit' ? '✓' : d.decision === 'deny' ? '✕' : '~';
    const listed = listedCategories(column.consent).includes(cat.code);
    const why = this.why(d, column, listed);
    const next = d.decision === 'permit' ? 'deny' : 'allow';
    const button = h(
      'button',
      {
        type: 'button',
        class: `cell cell-${d.decision}`,
        'data-row': row,
        'data-col': col,
        'data-category': cat.code,
        'data-recipient': column.recipient.key,
        'data-decision': d.decision,
        tabindex: isFocus ? 0 : -1,
        title: why,
        'aria-label': `${cat.display}, ${who}: ${word}. ${why}. Activate to ${next}.`,
        onclick: () => void this.toggle(cat, column, row, col),
      },
      h('span', { 'aria-hidden': 'true', class: 'mark' }, mark),
      ` ${word}`,
      h('span', { class: 'sub' }, d.basis === 'base-policy' ? 'default' : d.basis === 'consent' ? (listed ? 'your choice' : 'other consent') : ''),
    );
    return button;
  }

  private why(d: CellDecision, column: Column, listed: boolean): string {
    if (d.decision === 'conditional') return `It depends: ${d.conditions.join('; ')}`;
    if (d.basis === 'base-policy') return 'The server default: no Consent of yours decides this';
    if (d.basis === 'consent') return listed ? 'Your choice in this console' : `Decided by ${d.consent ?? 'a Consent'}${d.provision ? ` (${d.provision})` : ''}`;
    return column.recipient.label;
  }

  private async toggle(cat: Category, column: Column, row: number, col: number): Promise<void> {
    const d = column.decisions.get(cat.code);
    if (!d || column.unavailable) return;
    this.focus = { row, col };
    const want: 'permit' | 'deny' = d.decision === 'permit' ? 'deny' : 'permit';
    const listedNow = listedCategories(column.consent);
    // A deny-list column lists what it denies; the research column lists what it permits.
    const shouldList = column.recipient.lists === want;
    const categories = shouldList ? [...listedNow, cat.code] : listedNow.filter((c) => c !== cat.code);
    const body = columnConsent(column.recipient, this.patientId, categories, column.actors, new Date(), column.consent);
    const cellEl = this.table.querySelector<HTMLButtonElement>(`button[data-row="${row}"][data-col="${col}"]`);
    cellEl?.setAttribute('aria-busy', 'true');
    this.status.textContent = `Saving: ${categoryDisplay(cat.code)} for ${column.recipient.label}…`;
    try {
      column.consent = body.id
        ? await this.fhir.put<ConsentResource>(`Consent/${encodeURIComponent(body.id)}`, body)
        : await this.fhir.post<ConsentResource>('Consent', body);
      await this.refreshColumn(column);
      const now = column.decisions.get(cat.code);
      const text =
        now?.decision === want
          ? `Saved: ${categoryDisplay(cat.code)} is now ${want === 'permit' ? 'allowed' : 'denied'} for ${column.recipient.label}.`
          : `Saved, but ${categoryDisplay(cat.code)} is still ${now?.decision ?? 'undecided'} for ${column.recipient.label}: ${now ? this.why(now, column, false) : ''}.`;
      this.status.textContent = text;
      announce(text);
    } catch (err) {
      this.status.textContent = `Not saved: ${(err as Error).message}`;
      announce(this.status.textContent);
    }
    this.draw();
    this.focusCell();
  }

  private onKey(ev: KeyboardEvent): void {
    const target = ev.target as HTMLElement;
    if (!target.matches('button.cell')) return;
    const rows = CATEGORIES.length;
    const cols = this.columns.length;
    let { row, col } = { row: Number(target.dataset.row), col: Number(target.dataset.col) };
    switch (ev.key) {
      case 'ArrowUp': row = Math.max(0, row - 1); break;
      case 'ArrowDown': row = Math.min(rows - 1, row + 1); break;
      case 'ArrowLeft': col = Math.max(0, col - 1); break;
      case 'ArrowRight': col = Math.min(cols - 1, col + 1); break;
      case 'Home': col = 0; if (ev.ctrlKey) row = 0; break;
      case 'End': col = cols - 1; if (ev.ctrlKey) row = rows - 1; break;
      default: return;
    }
    ev.preventDefault();
    this.focus = { row, col };
    this.focusCell();
  }

  private focusCell(): void {
    for (const b of this.table.querySelectorAll<HTMLButtonElement>('button.cell')) {
      const on = Number(b.dataset.row) === this.focus.row && Number(b.dataset.col) === this.focus.col;
      b.tabIndex = on ? 0 : -1;
      if (on) b.focus();
    }
  }
}
