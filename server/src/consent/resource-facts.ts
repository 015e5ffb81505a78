import type { Resource } from '@medplum/fhirtypes';
import { compartmentParamsOf } from '../auth/compartment.js';
import type { IndexValues } from '../store/resource-store.js';
import type { Definitions } from '../fhir/definitions.js';
import { localReference } from '../fhir/local-reference.js';
import { collectCodings } from './collect-codings.js';
import { codingKey, type CodingKey, type DataCategory } from './data-categories.js';
import type { Labeler } from './labeler.js';

/**
 * What the consent engine looks at in a resource version: everything a Consent provision can
 * test (class, code, securityLabel, dataPeriod, data) and whose record it is. Built from the
 * resource and the search index values computed for it, so it costs no extra FHIRPath.
 */
export interface ResourceFacts {
  readonly resourceType: string;
  readonly id: string;
  /** Ids of the patients whose compartment holds it (R4 CompartmentDefinition "patient"). */
  readonly patients: readonly string[];
  readonly categories: ReadonlySet<DataCategory>;
  /** meta.security as sent plus the labels the categories imply, as `system|code`. */
  readonly labels: ReadonlySet<CodingKey>;
  /** Every Coding in the content (collect-codings.ts), as `system|code`. */
  readonly codings: ReadonlySet<CodingKey>;
  readonly profiles: ReadonlySet<string>;
  /** The clinical date (CLINICAL_DATE_PARAM), as the inclusive epoch-ms range it covers. */
  readonly date?: { readonly lo: number; readonly hi: number };
  /** Every `Type/id` the resource refers to (for provision.data `dependents`). */
  readonly references: ReadonlySet<string>;
}

/**
 * The SearchParameter whose value is a resource's clinical date: when the care happened or the
 * data was produced, which is what Consent.provision.dataPeriod limits. Types not listed use
 * their `date` parameter when they have one; a type with neither has no clinical date.
 */
export const CLINICAL_DATE_PARAM: Readonly<Record<string, string>> = Object.freeze({
  Claim: 'created',
  ExplanationOfBenefit: 'created',
  ImagingStudy: 'started',
  MedicationRequest: 'authoredon',
  MedicationDispense: 'whenhandedover',
  MedicationAdministration: 'effective-time',
  MedicationStatement: 'effective',
  Condition: 'onset-date',
  ServiceRequest: 'authored',
  Specimen: 'collected',
  Coverage: '',
  Patient: '',
});

export interface FactsDeps {
  readonly defs: Definitions;
  readonly labeler: Labeler;
  /** This server's FHIR base URL: absolute references to its own patients count too. */
  readonly baseUrl: string;
}

export function factsOf(deps: FactsDeps, resource: Resource, idx: IndexValues): ResourceFacts {
  const type = resource.resourceType;
  const id = resource.id ?? '';
  const categories = deps.labeler.categorize(resource);
  const labels = new Set<CodingKey>();
  for (const s of resource.meta?.security ?? []) if (s.code) labels.add(codingKey(s.system, s.code));
  for (const s of deps.labeler.labelsFor(categories)) if (s.code) labels.add(codingKey(s.system, s.code));
  const date = clinicalDate(deps.defs, type, idx);
  return {
    resourceType: type,
    id,
    patients: patientsOf(deps.baseUrl, type, id, idx),
    categories,
    labels,
    codings: collectCodings(resource),
    profiles: new Set(resource.meta?.profile ?? []),
    ...(date ? { date } : {}),
    references: collectReferences(resource, deps.baseUrl),
  };
}

function patientsOf(baseUrl: string, type: string, id: string, idx: IndexValues): string[] {
  const out = new Set<string>();
  if (type === 'Patient' && id !== '') out.add(id);
  for (const param of compartmentParamsOf(type)) {
    const values = idx[param];
    if (!Array.isArray(values)) continue;
    for (const v of values) {
      const pid = typeof v === 'string' ? patientIdOf(v, baseUrl) : undefined;
      if (pid !== undefined) out.add(pid);
    }
  }
  return [...out].sort();
}

function patientIdOf(ref: string, baseUrl: string): string | undefined {
  const local = localReference(ref, baseUrl);
  return local?.type === 'Patient' ? local.id : undefined;
}

function clinicalDate(defs: Definitions, type: string, idx: IndexValues): { lo: number; hi: number } | undefined {
  const param = Object.hasOwn(CLINICAL_DATE_PARAM, type) ? CLINICAL_DATE_PARAM[type] : Object.hasOwn(defs.searchParameters(type), 'date') ? 'date' : '';
  if (!param) return undefined;
  const values = idx[param];
  if (!Array.isArray(values)) return undefined;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    const r = v as { lo?: unknown; hi?: unknown };
    if (typeof r.lo === 'number' && r.lo < lo) lo = r.lo;
    if (typeof r.hi === 'number' && r.hi > hi) hi = r.hi;
  }
  return Number.isFinite(lo) && Number.isFinite(hi) ? { lo, hi } : undefined;
}

/** Every Reference.reference in the resource outside meta, normalised to `Type/id` when it is one. */
function collectReferences(resource: Resource, baseUrl: string): Set<string> {
  const out = new Set<string>();
  const walk = (value: unknown, top: boolean): void => {
    if (Array.isArray(value)) {
      for (const v of value) walk(v, false);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const o = value as Record<string, unknown>;
    if (!top && typeof o.reference === 'string') out.add(normaliseReference(o.reference, baseUrl));
    for (const [k, v] of Object.entries(o)) {
      if (top && k === 'meta') continue;
      if (v !== null && typeof v === 'object') walk(v, false);
    }
  };
  walk(resource, true);
  return out;
}

/** `Type/id` for relative references and absolute ones to this server; others as written. */
export function normaliseReference(ref: string, baseUrl: string): string {
  const local = localReference(ref, baseUrl);
  return local ? `${local.type}/${local.id}` : ref;
}
