import type { Claim, ExplanationOfBenefit } from '@medplum/fhirtypes';
import { parseLocalReference } from '../../fhir/local-reference.js';

/** One distinct piece of evidence a claim names, with every supportingInfo sequence naming it. */
export interface EvidenceTarget {
  /** As the claim wrote it, made relative when it is this server's absolute URL. */
  readonly reference: string;
  readonly sequences: readonly number[];
  /** The target on this server; absent for contained (`#x`), logical or other servers' references. */
  readonly local?: { readonly type: string; readonly id: string; readonly versionId?: string };
}

/**
 * The `supportingInfo[].valueReference` targets of a Claim or ExplanationOfBenefit, in order of
 * first mention; a version-specific reference is its own target (that version is the evidence).
 */
export function evidenceTargets(claim: Claim | ExplanationOfBenefit, baseUrl: string): EvidenceTarget[] {
  const byRef = new Map<string, { reference: string; sequences: number[]; local?: EvidenceTarget['local'] }>();
  for (const info of claim.supportingInfo ?? []) {
    const raw = info.valueReference?.reference;
    if (typeof raw !== 'string' || raw === '') continue;
    const reference = raw.startsWith(`${baseUrl}/`) ? raw.slice(baseUrl.length + 1) : raw;
    let t = byRef.get(reference);
    if (!t) {
      // `reference` is already relative: no base URL here, or `<base>/<base>/Type/id` would pass.
      const local = parseLocalReference(reference);
      t = { reference, sequences: [], ...(local ? { local } : {}) };
      byRef.set(reference, t);
    }
    if (Number.isSafeInteger(info.sequence) && (info.sequence as number) > 0) t.sequences.push(info.sequence as number);
  }
  return [...byRef.values()];
}
