import type { BundleEntry, Coding, Extension, OperationOutcome, Reference, Resource } from '@medplum/fhirtypes';
import { CATEGORY_SYSTEM, type DataCategory } from '../../consent/data-categories.js';
import type { VersionProof } from '../../fhir/interactions/verify-operation.js';
import type { LeafRecord } from '../../ledger/leaf-record.js';

/**
 * How `$evidence` marks each entry of its collection Bundle: one complex extension on
 * `Bundle.entry` (a Bundle has no extensions of its own in R4, an entry does). Its parts:
 *
 * - `status` (code): `claim` (the Claim/EOB itself), `disclosed`, `withheld` (consent), `unavailable`
 * - `reference` (Reference): the evidence as the claim names it (`Type/id` or `Type/id/_history/v`)
 * - `sequence` (positiveInt, 0..*): the supportingInfo sequences that name it
 * - `category` (Coding, 0..*): its data categories, for withheld evidence only
 * - `verdict` (code) and `receipt` (string, JSON `custodian-receipt/v1`): for the claim and disclosed evidence
 *
 * A withheld or unavailable entry carries an OperationOutcome, not the evidence: R4 requires a
 * resource in every entry of a collection (bdl-5), and the outcome says in FHIR's own words
 * (`suppressed`, `not-found`) what happened without any of the evidence's content.
 */
export const EVIDENCE_EXTENSION = 'https://custodian.example.org/fhir/StructureDefinition/claim-evidence-entry';

export type EvidenceStatus = 'claim' | 'disclosed' | 'withheld' | 'unavailable';

export interface EvidenceMark {
  readonly status: EvidenceStatus;
  readonly reference?: string;
  readonly sequences?: readonly number[];
  readonly categories?: readonly DataCategory[];
  readonly proof?: VersionProof;
}

function extension(mark: EvidenceMark): Extension {
  const parts: Extension[] = [{ url: 'status', valueCode: mark.status }];
  if (mark.reference) parts.push({ url: 'reference', valueReference: { reference: mark.reference } });
  for (const s of mark.sequences ?? []) parts.push({ url: 'sequence', valuePositiveInt: s });
  for (const c of mark.categories ?? []) parts.push({ url: 'category', valueCoding: categoryCoding(c) });
  if (mark.proof) {
    parts.push({ url: 'verdict', valueCode: mark.proof.verdict });
    if (mark.proof.receipt) parts.push({ url: 'receipt', valueString: JSON.stringify(mark.proof.receipt) });
  }
  return { url: EVIDENCE_EXTENSION, extension: parts };
}

const categoryCoding = (c: DataCategory): Coding => ({ system: CATEGORY_SYSTEM, code: c });

/** An entry holding a resource the caller may read: the claim, or disclosed evidence. */
export function resourceEntry(baseUrl: string, resource: Resource, mark: EvidenceMark): BundleEntry {
  return { extension: [extension(mark)], fullUrl: `${baseUrl}/${resource.resourceType}/${resource.id as string}`, resource };
}

/** An entry for evidence the caller does not get: why, in an OperationOutcome, and nothing of its content. */
export function absentEntry(mark: EvidenceMark & { status: 'withheld' | 'unavailable' }): BundleEntry {
  const withheld = mark.status === 'withheld';
  const expression = (mark.sequences ?? []).map((s) => `supportingInfo.where(sequence = ${s}).value`);
  const outcome: OperationOutcome = {
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: 'information',
        code: withheld ? 'suppressed' : 'not-found',
        details: { text: withheld ? `${mark.reference ?? 'The evidence'} exists and is withheld by the patient's consent` : `${mark.reference ?? 'The evidence'} is not available to this client` },
        ...(expression.length > 0 ? { expression } : {}),
      },
    ],
  };
  return { extension: [extension(mark)], resource: outcome };
}

/**
 * The leaf record a disclosed entry's receipt is for, rebuilt from what the Bundle holds: an
 * insurer checks `verifyReceipt(receipt, { verifierKey, record: evidenceRecord(entry.resource) })`
 * with the log's public key (GET /ledger/status) and nothing else.
 */
export function evidenceRecord(resource: Resource): LeafRecord {
  const versionId = resource.meta?.versionId;
  const lastUpdated = resource.meta?.lastUpdated;
  if (!resource.id || !versionId || !lastUpdated) throw new TypeError('an evidence resource carries its id, meta.versionId and meta.lastUpdated');
  return { format: 'custodian-leaf/v1', key: `${resource.resourceType}/${resource.id}/_history/${versionId}`, lastUpdated, deleted: false, resource };
}

/** The parts of an entry's evidence extension, for clients and tests. */
export function evidenceMarkOf(entry: BundleEntry): { status?: string; reference?: string; sequences: number[]; categories: string[]; verdict?: string; receipt?: unknown } {
  const ext = entry.extension?.find((e) => e.url === EVIDENCE_EXTENSION)?.extension ?? [];
  const one = (url: string) => ext.find((e) => e.url === url);
  const receipt = one('receipt')?.valueString;
  const reference: Reference | undefined = one('reference')?.valueReference;
  return {
    ...(one('status')?.valueCode ? { status: one('status')?.valueCode } : {}),
    ...(reference?.reference ? { reference: reference.reference } : {}),
    sequences: ext.filter((e) => e.url === 'sequence').map((e) => e.valuePositiveInt as number),
    categories: ext.filter((e) => e.url === 'category').map((e) => e.valueCoding?.code as string),
    ...(one('verdict')?.valueCode ? { verdict: one('verdict')?.valueCode } : {}),
    ...(receipt ? { receipt: JSON.parse(receipt) as unknown } : {}),
  };
}
