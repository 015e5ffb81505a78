import type { BasePolicy, Verdict } from './base-policy.js';
import type { ConsentPolicy, Provision, Window } from './consent-policy.js';
import type { DataCategory } from './data-categories.js';
import type { PurposeGroup } from './purpose-groups.js';
import type { ResourceFacts } from './resource-facts.js';

/**
 * The consent rules (README "Consent rules"), evaluated directly on one resource: the reference
 * every other form of the rules is checked against. consent-tokens.ts records the same
 * decisions in the search index so searches filter inside the store; the property test
 * (test/unit/consent-store-property.test.ts) checks the two agree on random consents, resources
 * and requesters.
 *
 * 1. A resource outside every Patient compartment is not consent-governed: permitted.
 * 2. The patients' *active* Consents apply. A `research` Consent speaks only for the research
 *    group; a `patient-privacy` Consent speaks for every group, but for research it can only
 *    deny (research access needs a research Consent).
 * 3. In one Consent, a provision matches when every condition it states holds (period contains
 *    now; actor lists the identity; purpose covers the group; class names the type, a category
 *    or a profile; code is found in the resource; securityLabel is on it; its clinical date lies
 *    in dataPeriod; data names it or, for `dependents`, something it refers to). Nested
 *    provisions are exceptions, looked at only when their parent matches: the decision is the
 *    deepest matching provision's type, a deny among matching siblings beating a permit. A
 *    Consent whose root does not match says nothing.
 * 4. Several Consents: any deny wins; else any permit; else rule 5.
 * 5. Nothing decided: the base policy for the group (and the resource's categories).
 * 6. Identities: a requester may be several parties at once (itself, its organisation, care
 *    teams and groups it belongs to, the studies it works for — requester.ts). "Named" are the
 *    actors that appear in any provision of any active Consent of the resource's patients. If
 *    none of the requester's identities is named, it is decided as "anyone else" (an identity no
 *    actor condition matches). Otherwise each named identity is decided on its own, and all of
 *    them must be permitted.
 * 7. A resource in several patients' compartments must be permitted by every patient's Consents.
 */

export type ConsentsOf = (patient: string) => readonly ConsentPolicy[];

export interface Requester {
  /** `Type/id` of every party the requester acts as. */
  readonly identities: ReadonlySet<string>;
  readonly group: PurposeGroup;
}

export interface Decision {
  readonly decision: Verdict;
  readonly basis: 'consent' | 'base-policy' | 'not-patient-data';
  /** `Consent/<id>/_history/<version>` of the deciding Consent. */
  readonly consent?: string;
  /** Path of the deciding provision in it. */
  readonly provision?: string;
  /** The patient whose Consents decided. */
  readonly patient?: string;
  readonly group: PurposeGroup;
  /** The identity decided for: a `Type/id`, or ANYONE_ELSE. */
  readonly identity: string;
  readonly categories: readonly DataCategory[];
}

/** The identity every actor condition fails to match. */
export const ANYONE_ELSE = '*';

export interface EvaluationContext {
  readonly consentsOf: ConsentsOf;
  readonly base: BasePolicy;
  readonly now: number;
}

export function decide(ctx: EvaluationContext, facts: ResourceFacts, requester: Requester): Decision {
  const categories = [...facts.categories].sort();
  if (facts.patients.length === 0) {
    return { decision: 'permit', basis: 'not-patient-data', group: requester.group, identity: ANYONE_ELSE, categories };
  }
  const named = namedActors(ctx.consentsOf, facts.patients);
  const identities = [...requester.identities].filter((i) => named.has(i)).sort();
  let firstPermit: Decision | undefined;
  for (const identity of identities.length > 0 ? identities : [ANYONE_ELSE]) {
    for (const patient of facts.patients) {
      const d = decideForPatient(ctx, facts, patient, identity, requester.group, categories);
      if (d.decision === 'deny') return d;
      if (!firstPermit || (firstPermit.basis !== 'consent' && d.basis === 'consent')) firstPermit = d;
    }
  }
  return firstPermit as Decision;
}

/** Actors named anywhere in the active Consents of these patients (rule 6). */
export function namedActors(consentsOf: ConsentsOf, patients: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const p of patients) {
    for (const c of consentsOf(p)) {
      if (c.status !== 'active') continue;
      collectActors(c.root, out);
    }
  }
  return out;
}

function collectActors(p: Provision, out: Set<string>): void {
  for (const a of p.actors) out.add(a);
  for (const c of p.children) collectActors(c, out);
}

/** One identity, one patient: rules 2–5. */
export function decideForPatient(
  ctx: EvaluationContext,
  facts: ResourceFacts,
  patient: string,
  identity: string,
  group: PurposeGroup,
  categories: readonly DataCategory[] = [...facts.categories].sort(),
): Decision {
  let permit: Decision | undefined;
  const consents = [...ctx.consentsOf(patient)].sort((a, b) => a.id.localeCompare(b.id));
  for (const c of consents) {
    if (c.status !== 'active') continue;
    if (c.scope === 'research' && group !== 'research') continue;
    const hit = evaluateProvision(c.root, { facts, identity, group, now: ctx.now });
    if (!hit) continue;
    if (hit.type === 'permit' && c.scope === 'patient-privacy' && group === 'research') continue;
    const d: Decision = {
      decision: hit.type,
      basis: 'consent',
      consent: `Consent/${c.id}/_history/${c.versionId}`,
      provision: hit.path,
      patient,
      group,
      identity,
      categories,
    };
    if (hit.type === 'deny') return d;
    permit ??= d;
  }
  if (permit) return permit;
  return { decision: ctx.base.decide(group, facts.categories), basis: 'base-policy', patient, group, identity, categories };
}

/**
 * Whether `decide` can permit the group anything in this patient's compartment, for any
 * identity, resource or time: false only when the base policy permits the group nothing and no
 * Consent of the patient that rule 2 lets speak for the group holds a permit provision open to
 * it. Rule 7 then denies every resource whose patients include this one, so a job working
 * patient by patient (a bulk export's batches) may skip the patient without changing its result.
 * It errs only towards true: a provision counts whatever its period, actor or other
 * conditions, and so does a permit a deny elsewhere would overrule.
 */
export function mayReveal(ctx: Pick<EvaluationContext, 'consentsOf' | 'base'>, patient: string, group: PurposeGroup): boolean {
  if (ctx.base.mayPermit(group)) return true;
  for (const c of ctx.consentsOf(patient)) {
    if (c.status !== 'active') continue;
    if (c.scope === 'research' && group !== 'research') continue;
    if (c.scope === 'patient-privacy' && group === 'research') continue;
    if (holdsPermitFor(c.root, group)) return true;
  }
  return false;
}

function holdsPermitFor(p: Provision, group: PurposeGroup): boolean {
  if (p.purposes.length > 0 && !p.purposes.includes(group)) return false;
  if (p.type === 'permit') return true;
  return p.children.some((c) => holdsPermitFor(c, group));
}

interface Probe {
  readonly facts: ResourceFacts;
  readonly identity: string;
  readonly group: PurposeGroup;
  readonly now: number;
}

/** Rule 3: the deepest matching provision's type, deny beating permit among siblings; undefined if the provision does not match. */
export function evaluateProvision(p: Provision, probe: Probe): { type: Verdict; path: string } | undefined {
  if (!provisionMatches(p, probe)) return undefined;
  let permit: { type: Verdict; path: string } | undefined;
  for (const child of p.children) {
    const hit = evaluateProvision(child, probe);
    if (!hit) continue;
    if (hit.type === 'deny') return hit;
    permit ??= hit;
  }
  return permit ?? { type: p.type, path: p.path };
}

export function provisionMatches(p: Provision, { facts, identity, group, now }: Probe): boolean {
  if (p.period && !within(p.period, now)) return false;
  if (p.actors.length > 0 && !p.actors.includes(identity)) return false;
  if (p.purposes.length > 0 && !p.purposes.includes(group)) return false;
  const { resourceTypes, categories, profiles } = p.classes;
  if (resourceTypes.length + categories.length + profiles.length > 0) {
    const hit =
      resourceTypes.includes(facts.resourceType) || categories.some((c) => facts.categories.has(c)) || profiles.some((u) => facts.profiles.has(u));
    if (!hit) return false;
  }
  if (p.codes.length > 0 && !p.codes.some((c) => facts.codings.has(c))) return false;
  if (p.securityLabels.length > 0 && !p.securityLabels.some((l) => facts.labels.has(l))) return false;
  if (p.dataPeriod && !(facts.date && within(p.dataPeriod, facts.date.lo))) return false;
  if (p.data.length > 0) {
    const self = `${facts.resourceType}/${facts.id}`;
    const hit = p.data.some((d) => d.reference === self || (d.meaning === 'dependents' && facts.references.has(d.reference)));
    if (!hit) return false;
  }
  return true;
}

export function within(w: Window, t: number): boolean {
  return (w.start === undefined || t >= w.start) && (w.end === undefined || t <= w.end);
}
