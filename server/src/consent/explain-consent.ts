import type { Verdict } from './base-policy.js';
import type { Provision, Window } from './consent-policy.js';
import type { CodingKey, DataCategory } from './data-categories.js';
import { codingKey } from './data-categories.js';
import { ANYONE_ELSE, namedActors, within, type Decision, type EvaluationContext, type Requester } from './evaluate-consent.js';
import type { Labeler } from './labeler.js';
import type { PurposeGroup } from './purpose-groups.js';

/**
 * The consent rules (evaluate-consent.ts) asked about a *category* of a patient's data rather
 * than a concrete resource: "may the employer see Alice's mental-health data for HPRGRP?".
 *
 * Known: the patient, the category (a resource whose only category it is) and the security
 * labels the category implies, the purpose group, the requester's identities, now.
 * Unknown: the resource type, its codes, profiles, clinical date, the resources it refers to,
 * and any security label a client added beyond the implied ones.
 *
 * A provision condition on an unknown fact is "maybe": the provision may or may not match.
 * Rules 2–6 are then followed over every way the unknown conditions can come out, giving the
 * set of possible outcomes. When they all agree on the verdict the answer is that verdict;
 * otherwise it is `conditional` and the outcomes say which provisions could decide and under
 * which conditions (in words). Where every condition is known there is exactly one outcome,
 * and it is what `decide` returns for a resource of that category (unit-tested).
 * The set may over-approximate (two "maybe" conditions on the same unknown fact are treated as
 * independent), never under-approximate: a `permit` or `deny` answer holds for every resource
 * of the category.
 */

/** One way a decision can go, and what the resource must be like for it to go that way. */
export interface Outcome extends Decision {
  /** Unknown facts that must hold (in words); empty: no condition, as far as the known facts go. */
  readonly conditions: readonly string[];
}

/**
 * The answer: a verdict with the Decision fields of the outcome that gives it (the one without
 * conditions when there is one), or `conditional` with only the outcomes to go by.
 */
export interface Explanation {
  readonly decision: Verdict | 'conditional';
  readonly basis?: Decision['basis'];
  readonly consent?: string;
  readonly provision?: string;
  readonly patient: string;
  readonly group: PurposeGroup;
  readonly identity?: string;
  readonly categories: readonly DataCategory[];
  /** Every possible outcome (one when every condition involved was known). */
  readonly outcomes: readonly Outcome[];
}

export interface CategoryQuestion {
  readonly patient: string;
  readonly category: DataCategory;
  /** `system|code` of the labels the category implies (Labeler.labelsFor). */
  readonly labels: ReadonlySet<CodingKey>;
}

/** The question for one category of a patient's data, its implied labels computed by the labeler. */
export function categoryQuestion(labeler: Pick<Labeler, 'labelsFor'>, patient: string, category: DataCategory): CategoryQuestion {
  const labels = new Set<CodingKey>();
  for (const l of labeler.labelsFor(new Set([category]))) if (l.code) labels.add(codingKey(l.system, l.code));
  return { patient, category, labels };
}

/** Rules 2–7 for data of one category of one patient (rule 1 cannot apply: it is patient data). */
export function explainCategory(ctx: EvaluationContext, q: CategoryQuestion, requester: Requester): Explanation {
  const categories = [q.category];
  const named = namedActors(ctx.consentsOf, [q.patient]);
  const identities = [...requester.identities].filter((i) => named.has(i)).sort();
  const perIdentity = (identities.length > 0 ? identities : [ANYONE_ELSE]).map((identity) => forPatient(ctx, q, identity, requester.group, categories));

  // Rule 6: the first identity denied decides; all must be permitted.
  const outcomes: Outcome[] = [];
  perIdentity.forEach((os, i) => {
    if (perIdentity.slice(0, i).every((earlier) => earlier.some((o) => o.decision === 'permit'))) outcomes.push(...os.filter((o) => o.decision === 'deny'));
  });
  if (perIdentity.every((os) => os.some((o) => o.decision === 'permit'))) {
    if (perIdentity.every((os) => os.length === 1)) {
      // decide's choice: the first permit, unless a later identity's rests on a Consent and it does not.
      let first: Outcome | undefined;
      for (const [o] of perIdentity as Outcome[][]) if (!first || (first.basis !== 'consent' && o?.basis === 'consent')) first = o;
      outcomes.push(first as Outcome);
    } else {
      for (const os of perIdentity) outcomes.push(...os.filter((o) => o.decision === 'permit'));
    }
  }
  const verdicts = new Set(outcomes.map((o) => o.decision));
  const decision: Explanation['decision'] = verdicts.size === 1 ? (outcomes[0] as Outcome).decision : 'conditional';
  if (decision === 'conditional') return { decision, patient: q.patient, group: requester.group, categories, outcomes };
  const lead = outcomes.find((o) => o.conditions.length === 0) ?? (outcomes[0] as Outcome);
  const { conditions: _c, decision: _d, ...rest } = lead;
  return { ...rest, patient: q.patient, decision, outcomes };
}

/** A provision or Consent that may say nothing (`none`) and may decide in any of `hits`. */
interface Possible {
  readonly none: boolean;
  readonly hits: readonly Hit[];
}
interface Hit {
  readonly type: Verdict;
  readonly path: string;
  readonly conditions: readonly string[];
}

interface Probe {
  readonly q: CategoryQuestion;
  readonly identity: string;
  readonly group: PurposeGroup;
  readonly now: number;
}

/** Rules 2–5 for one identity: every outcome that can result. */
function forPatient(ctx: EvaluationContext, q: CategoryQuestion, identity: string, group: PurposeGroup, categories: DataCategory[]): Outcome[] {
  const probe: Probe = { q, identity, group, now: ctx.now };
  const consents = [...ctx.consentsOf(q.patient)]
    .sort((a, b) => a.id.localeCompare(b.id))
    .filter((c) => c.status === 'active' && !(c.scope === 'research' && group !== 'research'))
    .map((c) => {
      const p = evaluate3(c.root, probe);
      // A patient-privacy Consent can only deny research.
      const poss: Possible =
        c.scope === 'patient-privacy' && group === 'research' ? { none: p.none || p.hits.some((h) => h.type === 'permit'), hits: p.hits.filter((h) => h.type === 'deny') } : p;
      return { ref: `Consent/${c.id}/_history/${c.versionId}`, poss };
    });
  const common = { patient: q.patient, group, identity, categories };
  const out: Outcome[] = [];
  for (const { index, hit } of combine(consents.map((c) => c.poss))) {
    const ref = (consents[index] as { ref: string }).ref;
    out.push({ decision: hit.type, basis: 'consent', consent: ref, provision: hit.path, ...common, conditions: hit.conditions });
  }
  if (consents.every((c) => c.poss.none)) out.push({ decision: ctx.base.decide(group, new Set(categories)), basis: 'base-policy', ...common, conditions: [] });
  return out;
}

/**
 * The "deny wins, else the first permit" choice (rule 3 among sibling provisions, rule 4 among
 * Consents) over parts each of which may say nothing or decide in several ways: every hit of
 * part i that some combination of the parts' possibilities makes the result.
 */
function combine(parts: readonly Possible[]): Array<{ index: number; hit: Hit }> {
  const nonDeny = (p: Possible): boolean => p.none || p.hits.some((h) => h.type === 'permit');
  const out: Array<{ index: number; hit: Hit }> = [];
  parts.forEach((p, i) => {
    const before = parts.slice(0, i);
    const after = parts.slice(i + 1);
    for (const hit of p.hits) {
      const possible = hit.type === 'deny' ? before.every(nonDeny) : before.every((b) => b.none) && after.every(nonDeny);
      if (possible) out.push({ index: i, hit });
    }
  });
  return out;
}

/** Rule 3, three-valued. */
function evaluate3(p: Provision, probe: Probe): Possible {
  const m = match3(p, probe);
  if (m === undefined) return { none: true, hits: [] };
  const children = p.children.map((c) => evaluate3(c, probe));
  const hits: Hit[] = combine(children).map(({ hit }) => hit);
  if (children.every((c) => c.none)) hits.push({ type: p.type, path: p.path, conditions: [] });
  return { none: m.length > 0, hits: hits.map((h) => ({ ...h, conditions: [...m, ...h.conditions] })) };
}

/**
 * Whether the provision matches: undefined = it does not; [] = it does; otherwise it does if
 * the resource meets the listed conditions (all of them).
 */
function match3(p: Provision, { q, identity, group, now }: Probe): string[] | undefined {
  if (p.period && !within(p.period, now)) return undefined;
  if (p.actors.length > 0 && !p.actors.includes(identity)) return undefined;
  if (p.purposes.length > 0 && !p.purposes.includes(group)) return undefined;
  const conditions: string[] = [];
  const { resourceTypes, categories, profiles } = p.classes;
  if (resourceTypes.length + categories.length + profiles.length > 0 && !categories.includes(q.category)) {
    if (resourceTypes.length + profiles.length === 0) return undefined;
    const alternatives = [...resourceTypes.map((t) => `is a ${t}`), ...profiles.map((u) => `claims the profile ${u}`)];
    conditions.push(`the resource ${alternatives.join(' or ')}`);
  }
  if (p.codes.length > 0) conditions.push(`the resource contains one of the codes ${p.codes.join(', ')}`);
  if (p.securityLabels.length > 0 && !p.securityLabels.some((l) => q.labels.has(l))) {
    conditions.push(`the resource carries one of the security labels ${p.securityLabels.join(', ')}`);
  }
  if (p.dataPeriod) conditions.push(`the resource's clinical date lies in ${period(p.dataPeriod)}`);
  if (p.data.length > 0) {
    const alternatives = p.data.map((d) => (d.meaning === 'instance' ? `is ${d.reference}` : `is or refers to ${d.reference}`));
    conditions.push(`the resource ${alternatives.join(' or ')}`);
  }
  return conditions;
}

function period(w: Window): string {
  const at = (t: number | undefined): string => (t === undefined ? '…' : new Date(t).toISOString());
  return `${at(w.start)} – ${at(w.end)}`;
}
