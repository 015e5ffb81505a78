import { deepFreeze } from '../fhir/clone-json.js';
import type { Doc } from '../fhir/search/query-doc.js';
import type { BasePolicy } from './base-policy.js';
import { ANYONE_ELSE, decideForPatient, namedActors, type EvaluationContext } from './evaluate-consent.js';
import { PURPOSE_GROUPS, type PurposeGroup } from './purpose-groups.js';
import type { ResourceFacts } from './resource-facts.js';

/**
 * Consent decisions compiled into the store query (issue 5 §3: "filtering happens inside the
 * store query"). Every stored resource carries, in the index field CONSENT_FIELD, the few
 * decisions that differ from the base policy, and each request turns its requester into a
 * query clause over that field — so pages are full, totals exact, and chains, `_has` and
 * includes see only what the requester may see, on both engines and with their indexes.
 *
 * Tokens (strings) of one resource:
 *   `N|<actor>`          the actor is named in its patients' active Consents (rule 6)
 *   `~<identity>|<group>` the decision for that identity (ANYONE_ELSE = `*`, or a named actor)
 *                        and purpose group differs from the group's base default
 * A flip for a named actor is only ever stored beside that actor's `N|` marker; consentClause
 * relies on it (in an opt-in group the flip alone selects the named actor's permits).
 * Absent flips mean "as the base default", so a resource no Consent touches carries tokens
 * only for groups whose default is deny and that it is nevertheless open to (data outside any
 * Patient compartment), and most carry none.
 *
 * They are computed with the reference evaluator (evaluate-consent.ts), so the clause below
 * selects exactly the resources `decide` permits for the same consents and time; they are
 * recomputed whenever a patient's Consents change and when a Consent period starts or ends
 * (consent-indexing-store.ts).
 */
export const CONSENT_FIELD = '_consent';
const FIELD = `idx.${CONSENT_FIELD}`;

export function consentTokens(ctx: EvaluationContext, facts: ResourceFacts): string[] {
  const out: string[] = [];
  if (facts.patients.length === 0) {
    for (const g of PURPOSE_GROUPS) if (ctx.base.groupDefault(g) === 'deny') out.push(flip(ANYONE_ELSE, g));
    return out;
  }
  const named = [...namedActors(ctx.consentsOf, facts.patients)].sort();
  for (const a of named) out.push(`N|${a}`);
  for (const identity of [ANYONE_ELSE, ...named]) {
    for (const g of PURPOSE_GROUPS) {
      const permitted = facts.patients.every((p) => decideForPatient(ctx, facts, p, identity, g).decision === 'permit');
      if (permitted !== (ctx.base.groupDefault(g) === 'permit')) out.push(flip(identity, g));
    }
  }
  return out;
}

const flip = (identity: string, g: PurposeGroup): string => `~${identity}|${g}`;

/**
 * The query clause selecting what a requester may see: `identities` are its parties that some
 * Consent names (the caller may pass all of them; unnamed ones only cost clause size).
 */
export function consentClause(base: BasePolicy, group: PurposeGroup, namedIdentities: readonly string[]): Doc {
  // Frozen: gates share one clause object per requester kind (consent-gate.ts), and the
  // embedded engine compiles a frozen conjunct once, not on every search (posting-predicate.ts).
  return deepFreeze(buildClause(base, group, namedIdentities));
}

function buildClause(base: BasePolicy, group: PurposeGroup, namedIdentities: readonly string[]): Doc {
  const optIn = base.groupDefault(group) === 'deny';
  const permitted = (identity: string): Doc => (optIn ? { [FIELD]: flip(identity, group) } : { [FIELD]: { $ne: flip(identity, group) } });
  const anyoneElse = permitted(ANYONE_ELSE);
  if (namedIdentities.length === 0) return anyoneElse;
  const markers = namedIdentities.map((a) => `N|${a}`);
  // The embedded engine evaluates conjuncts in order and stops at the first that fails: in an
  // opt-in group the "anyone else" flip is rare, so it is asked first.
  const asAnyoneElse: Doc = optIn ? { $and: [anyoneElse, { [FIELD]: { $nin: markers } }] } : { $and: [{ [FIELD]: { $nin: markers } }, anyoneElse] };
  const asNamed: Doc =
    namedIdentities.length !== 1
      ? { $and: [{ [FIELD]: { $in: markers } }, ...namedIdentities.map((a, i) => ({ $or: [{ [FIELD]: { $ne: markers[i] } }, permitted(a)] }))] }
      : optIn
        ? // A flip for a named actor is only ever stored beside its marker (consentTokens), so in
          // an opt-in group the flip alone says both: one lookup per document instead of two.
          permitted(namedIdentities[0] as string)
        : { $and: [{ [FIELD]: markers[0] }, permitted(namedIdentities[0] as string)] };
  return { $or: [asAnyoneElse, asNamed] };
}
