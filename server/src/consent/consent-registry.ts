import type { ConsentPolicy, Provision } from './consent-policy.js';

/**
 * Every stored Consent, parsed, by patient: what the consent engine evaluates against. Loaded
 * from the store at start and kept current by the consent indexing store on every Consent
 * write (in this process; other processes notice through the store's consent epoch, see
 * consent-service.ts). Also knows the global set of named actors — which of a requester's
 * identities a query clause must mention — and when the next Consent period boundary falls.
 */
export class ConsentRegistry {
  private readonly byId = new Map<string, ConsentPolicy>();
  private readonly byPatient = new Map<string, ConsentPolicy[]>();
  private named = new Map<string, number>();
  private readonly empty: readonly ConsentPolicy[] = Object.freeze([]);
  /** Bumped on every put and remove: what was derived from the registry (a gate's clause) is stale once it moves. */
  version = 0;

  consentsOf = (patient: string): readonly ConsentPolicy[] => this.byPatient.get(patient) ?? this.empty;

  get(id: string): ConsentPolicy | undefined {
    return this.byId.get(id);
  }

  /** Actors named in some active Consent of any patient. */
  isNamed(actor: string): boolean {
    return this.named.has(actor);
  }

  /** Whether any named actor is of this resource type (so identity lookups for it can be skipped). */
  namesType(type: string): boolean {
    for (const a of this.named.keys()) if (a.startsWith(`${type}/`)) return true;
    return false;
  }

  get size(): number {
    return this.byId.size;
  }

  /** Adds or replaces a Consent; returns the patients whose decisions may change. */
  put(policy: ConsentPolicy): string[] {
    this.version++;
    const before = this.byId.get(policy.id);
    if (before) this.detach(before);
    this.byId.set(policy.id, policy);
    let list = this.byPatient.get(policy.patient);
    if (!list) this.byPatient.set(policy.patient, (list = []));
    list.push(policy);
    if (policy.status === 'active') countActors(policy.root, this.named, 1);
    return before && before.patient !== policy.patient ? [before.patient, policy.patient] : [policy.patient];
  }

  /** Removes a deleted Consent; returns the affected patient, if it was known. */
  remove(id: string): string[] {
    const before = this.byId.get(id);
    if (!before) return [];
    this.version++;
    this.detach(before);
    this.byId.delete(id);
    return [before.patient];
  }

  /** A registry with some Consents replaced or removed, leaving this one untouched (commit planning). */
  overlay(changes: ReadonlyArray<{ id: string; policy?: ConsentPolicy }>): ConsentRegistry {
    const copy = new ConsentRegistry();
    for (const p of this.byId.values()) copy.put(p);
    for (const c of changes) {
      if (c.policy) copy.put(c.policy);
      else copy.remove(c.id);
    }
    return copy;
  }

  /**
   * Instants (epoch ms) at which some Consent of `patient` starts or stops applying through a
   * period: decisions stored before such an instant are recomputed once it passes.
   */
  boundariesOf(patient: string): number[] {
    const out: number[] = [];
    for (const c of this.consentsOf(patient)) if (c.status === 'active') collectBoundaries(c.root, out);
    return out;
  }

  /** The first boundary of any patient after `after`, with the patients it concerns. */
  nextBoundary(after: number): { at: number; patients: string[] } | undefined {
    let at = Infinity;
    let patients: string[] = [];
    for (const [patient] of this.byPatient) {
      for (const t of this.boundariesOf(patient)) {
        if (t <= after) continue;
        if (t < at) {
          at = t;
          patients = [patient];
        } else if (t === at && !patients.includes(patient)) patients.push(patient);
      }
    }
    return Number.isFinite(at) ? { at, patients } : undefined;
  }

  private detach(p: ConsentPolicy): void {
    const list = this.byPatient.get(p.patient);
    if (list) {
      const i = list.indexOf(p);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.byPatient.delete(p.patient);
    }
    if (p.status === 'active') countActors(p.root, this.named, -1);
  }
}

function countActors(p: Provision, counts: Map<string, number>, delta: number): void {
  for (const a of p.actors) {
    const n = (counts.get(a) ?? 0) + delta;
    if (n <= 0) counts.delete(a);
    else counts.set(a, n);
  }
  for (const c of p.children) countActors(c, counts, delta);
}

function collectBoundaries(p: Provision, out: number[]): void {
  if (p.period?.start !== undefined) out.push(p.period.start);
  // A period's end is inclusive: the decision changes one millisecond after it.
  if (p.period?.end !== undefined) out.push(p.period.end + 1);
  for (const c of p.children) collectBoundaries(c, out);
}
