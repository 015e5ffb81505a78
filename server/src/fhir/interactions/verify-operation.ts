import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { toBase64 } from '../../../../ledger-adapter/src/merkle/base64.js';
import { bytesEqual } from '../../../../ledger-adapter/src/merkle/hash.js';
import { leafHashOf } from '../../../../ledger-adapter/src/merkle/leaf.js';
import { buildReceipt, type Receipt } from '../../../../ledger-adapter/src/verify/receipt.js';
import { leafRecordOf, versionKey, type LeafRecord } from '../../ledger/leaf-record.js';
import type { StoredVersion } from '../../store/resource-store.js';
import type { FhirContext } from '../fhir-context.js';
import type { FhirResponse } from '../fhir-request.js';
import { FhirError } from '../outcomes.js';
import { LedgerUnavailableError } from '../../../../ledger-adapter/src/anchor/ledger-port.js';

/**
 * `GET AuditEvent/{id}/$verify` and `GET {type}/{id}/_history/{vid}/$verify`: is this stored
 * version exactly what the Merkle log recorded, and is the log's checkpoint anchored?
 *
 * The version is read through the request's scoped store, so a version the caller may not
 * read is a 404 like any read. Its leaf is recomputed from the stored body with the leaf's
 * salt and compared with the latest leaf of that version in the log; the receipt is built
 * against the smallest anchored checkpoint that covers the leaf (or, before anchoring, the
 * latest signed one, signed on demand when none covers the leaf yet).
 *
 * Out (Parameters): `verdict` (verified | mismatch | pending-anchor), `key`, `leafIndex`,
 * `leafHash`, `recomputedLeafHash`, `treeSize`, `inclusionProof`*, `checkpoint` (the signed
 * note), `anchorReceipt` (JSON), `receipt` (JSON: what `npm run verify` checks offline with
 * the log's verifier key), `verifierKey`, and `record` (the leaf record's JSON, so a third
 * party can recompute the leaf hash itself).
 */
export async function verifyOperation(ctx: FhirContext, type: string, id: string, versionId: string | undefined): Promise<FhirResponse> {
  const ledger = ctx.ledger;
  if (!ledger) throw new FhirError('not-supported', 'This server runs without a Merkle log: there is nothing to verify against');
  if (versionId === undefined && type !== 'AuditEvent') {
    throw new FhirError('bad-request', `$verify on ${type} needs a version: ${type}/${id}/_history/{vid}/$verify`);
  }
  const v = versionId === undefined ? await ctx.store.readCurrent(type, id) : await ctx.store.readVersion(type, id, versionId);
  if (!v || (versionId === undefined && v.deleted)) throw new FhirError('not-found', `${type}/${id}${versionId ? `/_history/${versionId}` : ''} not found`);
  return { status: 200, body: await verifyVersion(ctx, v) };
}

async function verifyVersion(ctx: FhirContext, v: StoredVersion): Promise<Parameters> {
  const proof = await proveVersion(ctx, v);
  const out: ParametersParameter[] = [{ name: 'key', valueString: proof.key }];
  if (!proof.receipt) {
    return { resourceType: 'Parameters', parameter: [{ name: 'verdict', valueCode: 'mismatch' }, ...out, { name: 'detail', valueString: 'the log has no leaf for this version' }] };
  }
  const { receipt, anchor } = proof;
  out.push(
    { name: 'leafIndex', valueInteger: receipt.leafIndex },
    { name: 'leafHash', valueBase64Binary: receipt.leafHash },
    { name: 'recomputedLeafHash', valueBase64Binary: proof.recomputedLeafHash as string },
    { name: 'treeSize', valueInteger: receipt.treeSize },
    ...receipt.inclusionProof.map((h): ParametersParameter => ({ name: 'inclusionProof', valueBase64Binary: h })),
    { name: 'checkpoint', valueString: receipt.checkpoint },
    ...(anchor ? [{ name: 'anchorReceipt', valueString: JSON.stringify(anchor) }] : []),
    { name: 'receipt', valueString: JSON.stringify(receipt) },
    { name: 'verifierKey', valueString: ctx.ledger?.verifierKey ?? '' },
    { name: 'record', valueString: JSON.stringify(proof.record) },
  );
  return { resourceType: 'Parameters', parameter: [{ name: 'verdict', valueCode: proof.verdict }, ...out] };
}

/** What the log says of one stored version: the receipt `$verify` and `$evidence` hand out. */
export interface VersionProof {
  readonly verdict: 'verified' | 'mismatch' | 'pending-anchor';
  /** The leaf key, `Type/id/_history/v`. */
  readonly key: string;
  /** The leaf record recomputed from the stored body: what the receipt's leaf hash must be the salted hash of. */
  readonly record: LeafRecord;
  /** Absent when the log has no leaf for the version (verdict mismatch). */
  readonly receipt?: Receipt;
  readonly recomputedLeafHash?: string;
  readonly anchor?: unknown;
}

/**
 * The version's latest leaf, checked against the stored body, and its receipt under the
 * smallest anchored checkpoint covering it (or the latest signed one before anchoring). The
 * caller must have read `v` through the request's scoped store: this looks at no access rule.
 */
export async function proveVersion(ctx: FhirContext, v: StoredVersion): Promise<VersionProof> {
  const { log, versions, ledger } = ctx.ledger as NonNullable<FhirContext['ledger']>;
  const key = versionKey(v.resourceType, v.id, v.versionId);
  const index = versions.latestLeafOf(v);
  const record = leafRecordOf(v);
  if (index === undefined) return { verdict: 'mismatch', key, record };
  const leaf = log.leaf(index);
  if (!leaf) throw new FhirError('internal', `leaf ${index} of ${key} is missing from the log`);
  const recomputed = leafHashOf(leaf.salt, record);
  const matches = bytesEqual(recomputed, leaf.leafHash);
  const anchor = await ledger.covering(log.origin, index + 1).catch((err: unknown) => {
    if (err instanceof LedgerUnavailableError) throw new FhirError('unavailable', `the ledger cannot be reached to look up the anchor: ${err.message}`);
    throw err;
  });
  const checkpoint = (anchor ? log.checkpointAt(anchor.size) : undefined) ?? (await coveringCheckpoint(log, index));
  const receipt = buildReceipt(log, index, checkpoint, anchor);
  const verdict = !matches ? 'mismatch' : anchor ? 'verified' : 'pending-anchor';
  return { verdict, key, record, receipt, recomputedLeafHash: toBase64(recomputed), ...(anchor ? { anchor } : {}) };
}

/** The latest signed checkpoint if it covers leaf `index`, else a new one signed now. */
async function coveringCheckpoint(log: NonNullable<FhirContext['ledger']>['log'], index: number) {
  const latest = log.latestCheckpoint();
  if (latest && latest.size > index) return latest;
  return log.checkpoint();
}
