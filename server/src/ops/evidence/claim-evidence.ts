import type { Bundle, BundleEntry, Claim, ExplanationOfBenefit } from '@medplum/fhirtypes';
import type { AccessPolicy } from '../../auth/access-policy.js';
import { authorizeOperation } from '../../auth/authorize-interaction.js';
import { ScopedStore } from '../../auth/scoped-store.js';
import type { Permission } from '../../auth/scopes.js';
import { purposeGroup } from '../../consent/purpose-groups.js';
import type { DataCategory } from '../../consent/data-categories.js';
import type { FhirContext } from '../../fhir/fhir-context.js';
import type { FhirRequest, FhirResponse } from '../../fhir/fhir-request.js';
import { proveVersion, type VersionProof } from '../../fhir/interactions/verify-operation.js';
import { FhirError } from '../../fhir/outcomes.js';
import { parameterEntries } from '../../fhir/parameters-body.js';
import type { RouteMatch } from '../../fhir/routes.js';
import type { StoredVersion } from '../../store/resource-store.js';
import { absentEntry, resourceEntry } from './evidence-entry.js';
import { evidenceTargets } from './evidence-targets.js';

/** The resource types `$evidence` is defined on. */
export const EVIDENCE_TYPES: readonly string[] = Object.freeze(['Claim', 'ExplanationOfBenefit']);
/** Who may ask: a payer's backend, acting for payment. */
export const EVIDENCE_ROLE = 'insurer';

/**
 * `Claim/{id}/$evidence` and `ExplanationOfBenefit/{id}/$evidence`: the evidence behind a claim,
 * as far as the patient's consent lets the insurer see it, each piece with its version's ledger
 * receipt (the one `$verify` builds), so the insurer can prove offline that it was not altered.
 *
 * - Who: role `insurer` and a request purpose in the payment group (HPAYMT, CLMATTCH, COVAUTH …);
 *   anything else is 403, before anything is read (authorizeEvidence, the route's authorization).
 * - The Claim/EOB is read through the request's scoped store: not visible → 404. A deleted one
 *   is a 404 too (unlike read, which answers 410): its tombstone holds no supportingInfo.
 * - Each `supportingInfo[].valueReference` (a `Type/id`, `Type/id/_history/v` or this server's
 *   absolute URL of one) goes through the same scoped store: disclosed (resource + receipt),
 *   withheld by consent (reference + data categories, no content), or unavailable (absent,
 *   deleted, outside the token's scopes, contained or on another server: not told apart).
 *
 * Out: a `collection` Bundle, the Claim/EOB first, then one entry per distinct target in
 * supportingInfo order, each marked with the evidence extension (evidence-entry.ts).
 */
export async function claimEvidence(ctx: FhirContext, req: FhirRequest, type: string, id: string): Promise<FhirResponse> {
  if (!EVIDENCE_TYPES.includes(type)) throw new FhirError('unknown-type', `$evidence is defined on ${EVIDENCE_TYPES.join(' and ')}, not on ${type}`);
  // parameterEntries refuses (400) a body that is no Parameters, or whose `parameter` is no array.
  if (req.method === 'POST' && req.body !== undefined && parameterEntries(req.body, '$evidence').length > 0) {
    throw new FhirError('bad-request', '$evidence takes no parameters: POST it with no body or an empty Parameters resource');
  }
  for (const name of Object.keys(req.query)) {
    if (!name.startsWith('_')) throw new FhirError('unknown-parameter', `$evidence takes no parameter '${name.slice(0, 40)}'`, name.slice(0, 40));
  }
  const store = ctx.store;
  // Only the request's scoped store can tell consent-withheld from absent; a handler on any other store would be a bug.
  if (!(store instanceof ScopedStore)) throw new FhirError('internal', '$evidence runs on a request-scoped store only');

  const claim = await store.readCurrent(type, id);
  if (!claim || !claim.resource) throw new FhirError('not-found', `${type}/${id} not found`);

  const entries: BundleEntry[] = [resourceEntry(req.baseUrl, claim.resource, { status: 'claim', ...(await proofOf(ctx, claim)) })];
  for (const target of evidenceTargets(claim.resource as Claim | ExplanationOfBenefit, req.baseUrl)) {
    const mark = { reference: target.reference, sequences: target.sequences };
    if (!target.local || !ctx.defs.isResourceType(target.local.type)) {
      entries.push(absentEntry({ status: 'unavailable', ...mark }));
      continue;
    }
    const { type: t, id: tid, versionId } = target.local;
    const found = await store.readForDisclosure(t, tid, versionId);
    if (found.kind === 'unavailable') entries.push(absentEntry({ status: 'unavailable', ...mark }));
    else if (found.kind === 'withheld') entries.push(absentEntry({ status: 'withheld', ...mark, categories: categoriesOf(ctx, found.version) }));
    else entries.push(resourceEntry(req.baseUrl, found.version.resource as NonNullable<StoredVersion['resource']>, { status: 'disclosed', ...mark, ...(await proofOf(ctx, found.version)) }));
  }
  const bundle: Bundle = { resourceType: 'Bundle', type: 'collection', timestamp: ctx.now(), entry: entries };
  return { status: 200, body: bundle };
}

/**
 * The route's authorization (Route.authorize): the general check of an operation on a type
 * (a purpose is stated, some scope reaches the type), then, on the types `$evidence` is defined
 * on, the insurer role and a payment purpose. On another type the handler answers unknown-type.
 */
export function authorizeEvidence(policy: AccessPolicy, m: RouteMatch): readonly Permission[] {
  const readAs = authorizeOperation(policy, m.type);
  if (m.type === undefined || !EVIDENCE_TYPES.includes(m.type)) return readAs;
  const p = policy.principal;
  if (!p.roles.includes(EVIDENCE_ROLE)) throw new FhirError('forbidden', `$evidence is for insurers (role ${EVIDENCE_ROLE}) settling a claim`);
  const purpose = p.purposeOfUse[0];
  if (purpose === undefined || purposeGroup(purpose) !== 'payment') {
    throw new FhirError('forbidden', `$evidence needs a payment purpose of use (HPAYMT or another code of the payment group); this request's purpose is ${purpose ?? 'none'}`);
  }
  return readAs;
}

/** The version's receipt, when this server keeps a Merkle log. */
async function proofOf(ctx: FhirContext, v: StoredVersion): Promise<{ proof?: VersionProof }> {
  return ctx.ledger ? { proof: await proveVersion(ctx, v) } : {};
}

/** The data categories the labeler puts the version in: what a withheld entry discloses of it. */
function categoriesOf(ctx: FhirContext, v: StoredVersion): DataCategory[] {
  return v.resource ? [...ctx.labeler.categorize(v.resource)].sort() : [];
}
