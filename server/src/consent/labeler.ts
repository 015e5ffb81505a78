import type { Coding, Resource } from '@medplum/fhirtypes';
import type { DataCategory } from './data-categories.js';

/**
 * The labeling service (issue 5 §1): which data categories a resource falls in and which HL7
 * security labels that implies. The mappings are data — the CodeSystem, ValueSets and
 * ConceptMap in fhir-profiles/ — loaded once at start (load-labeler.ts); `fingerprint` changes
 * whenever they do, and the server relabels stored data when it differs from the one the data
 * was labeled with.
 */
export interface Labeler {
  /** Hash of every mapping the labels depend on. */
  readonly fingerprint: string;
  /**
   * The resource's categories, from (a) its type, (b) every Coding anywhere in it outside
   * `meta` (Observation.category, codes, values, reasons …), (c) the security labels already in
   * meta.security (a client's PSY label means mental-health). Never empty for a resource in a
   * Patient compartment: what matches nothing is `clinical-other`.
   */
  categorize(resource: Resource): ReadonlySet<DataCategory>;
  /** The security labels the categories imply (v3 ActCode sensitivity + one v3 Confidentiality). */
  labelsFor(categories: ReadonlySet<DataCategory>): readonly Coding[];
  /**
   * The resource with its labels in place: meta.tag carries exactly the computed categories
   * (system CATEGORY_SYSTEM; category tags a client sent are replaced), meta.security is the
   * client's labels plus the implied ones (a client can add labels, never remove the server's),
   * with the single most restrictive confidentiality code. Returns a new object.
   */
  apply(resource: Resource): Resource;
}
