import { inPatientCompartment } from '../../auth/compartment.js';
import type { Definitions } from '../../fhir/definitions.js';
import type { FhirRequest } from '../../fhir/fhir-request.js';
import { parameterEntries } from '../../fhir/parameters-body.js';
import { FhirError } from '../../fhir/outcomes.js';
import { queryParams } from '../../fhir/query-params.js';

/**
 * The kick-off request of a Bulk Data export (Bulk Data Access IG v2, "Bulk Data Kick-off
 * Request", https://hl7.org/fhir/uv/bulkdata/export.html#bulk-data-kick-off-request), checked
 * and reduced to what a job needs. Parameters come from the query string (GET) or a
 * Parameters body (POST), or both.
 */
export type ExportLevel = 'system' | 'patient' | 'group';

export interface ExportSpec {
  readonly level: ExportLevel;
  /** For level 'group': the Group's id. */
  readonly groupId?: string;
  /** `_type` as given (undefined: every type the level covers and the client may search). */
  readonly types?: readonly string[];
  /** `_since` as given (a FHIR instant). */
  readonly since?: string;
  /** `_typeFilter` values split into their type and search query (`Observation?code=x` → Observation, `code=x`). */
  readonly typeFilters: readonly { readonly type: string; readonly query: string }[];
  /** `_deidentify=true` (a Custodian parameter), or the client's policy. */
  readonly deidentify: boolean;
  /** `Prefer: handling=lenient`: search parameters a `_typeFilter` cannot use are reported in the error file instead of refusing the kick-off. */
  readonly lenient: boolean;
}

/** The NDJSON media type and the aliases the IG tells servers to accept for it. */
export const OUTPUT_FORMATS: ReadonlySet<string> = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson']);

/** Parameters the IG defines that this server does not implement: refused, never silently ignored. */
const NOT_SUPPORTED = new Set(['_elements', 'patient', 'includeAssociatedData', '_until', 'organizeOutputBy', 'allowPartialManifests']);
const SUPPORTED = new Set(['_type', '_since', '_typeFilter', '_outputFormat', '_deidentify']);

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

/** The parameters of a kick-off, from the URL and (POST) a Parameters body, repeats kept in order. */
export function kickOffParameters(req: FhirRequest): Record<string, string[]> {
  const out = queryParams(Object.entries(req.query).flatMap(([k, vs]) => vs.map((v): [string, string] => [k, v])));
  if (req.method !== 'POST' || req.body === undefined) return out;
  const pairs: [string, string][] = [];
  for (const p of parameterEntries(req.body, '$export')) {
    const name = p.name;
    if (typeof name !== 'string') throw new FhirError('bad-request', 'Every parameter needs a name', 'Parameters.parameter.name');
    const value = p.valueString ?? p.valueInstant ?? p.valueDateTime ?? p.valueCode ?? p.valueUri ?? p.valueUrl ?? p.valueCanonical ?? (p.valueBoolean !== undefined ? String(p.valueBoolean) : undefined) ?? p.valueReference?.reference;
    if (typeof value !== 'string') throw new FhirError('bad-request', `Parameter '${name}' has no value this server understands`, 'Parameters.parameter');
    pairs.push([name, value]);
  }
  return queryParams(pairs, out);
}

/**
 * Checks a kick-off and returns its spec. Every problem is a 400 with an OperationOutcome
 * naming the parameter; `_typeFilter` queries are parsed here only for shape (their search
 * parameters are compiled by the caller, against the requester's store).
 */
export function parseExportRequest(defs: Definitions, req: FhirRequest, level: ExportLevel, groupId: string | undefined): ExportSpec {
  if (!/(^|[,;\s])respond-async($|[,;\s])/.test(req.headers.prefer ?? '')) {
    throw new FhirError('bad-request', "A Bulk Data kick-off needs the header 'Prefer: respond-async'");
  }
  const lenient = /(^|[,;\s])handling=lenient($|[,;\s])/.test(req.headers.prefer ?? '');
  const params = kickOffParameters(req);
  for (const name of Object.keys(params)) {
    if (NOT_SUPPORTED.has(name)) throw new FhirError('unknown-parameter', `The $export parameter '${name}' is not supported by this server`, name);
    if (!SUPPORTED.has(name)) throw new FhirError('unknown-parameter', `'${name}' is not a $export parameter this server knows (${[...SUPPORTED].join(', ')})`, name);
  }
  const single = (name: string): string | undefined => {
    const vs = params[name];
    if (vs === undefined) return undefined;
    if (vs.length > 1) throw new FhirError('bad-request', `'${name}' may be given once`, name);
    return vs[0];
  };

  const format = single('_outputFormat');
  if (format !== undefined && !OUTPUT_FORMATS.has(format)) {
    throw new FhirError('bad-request', `_outputFormat '${format}' is not supported; use application/fhir+ndjson`, '_outputFormat');
  }

  let types: string[] | undefined;
  if (params._type !== undefined) {
    types = [...new Set(params._type.flatMap((v) => v.split(',')).map((t) => t.trim()).filter((t) => t !== ''))];
    if (types.length === 0) throw new FhirError('bad-request', '_type names no resource type', '_type');
    for (const t of types) checkType(defs, t, level, '_type');
  }

  const since = single('_since');
  if (since !== undefined && (!INSTANT.test(since) || !Number.isFinite(Date.parse(since)))) {
    throw new FhirError('bad-request', `_since '${since}' is not a FHIR instant (e.g. 2024-01-01T00:00:00Z)`, '_since');
  }

  const typeFilters = (params._typeFilter ?? []).map((raw) => {
    const q = raw.indexOf('?');
    const type = q < 0 ? raw : raw.slice(0, q);
    const query = q < 0 ? '' : raw.slice(q + 1);
    if (q < 0 || query === '') throw new FhirError('bad-request', `_typeFilter '${raw}' must be [type]?[search parameters]`, '_typeFilter');
    checkType(defs, type, level, '_typeFilter');
    if (types !== undefined && !types.includes(type)) throw new FhirError('bad-request', `_typeFilter names ${type}, which _type does not list`, '_typeFilter');
    return { type, query };
  });

  const deid = single('_deidentify');
  if (deid !== undefined && deid !== 'true' && deid !== 'false') throw new FhirError('bad-request', `_deidentify must be true or false, not '${deid}'`, '_deidentify');

  return {
    level,
    ...(groupId !== undefined ? { groupId } : {}),
    ...(types !== undefined ? { types } : {}),
    ...(since !== undefined ? { since } : {}),
    typeFilters,
    deidentify: deid === 'true',
    lenient,
  };
}

function checkType(defs: Definitions, type: string, level: ExportLevel, param: string): void {
  if (!defs.isResourceType(type)) throw new FhirError('bad-request', `'${type}' is not a resource type`, param);
  if (level !== 'system' && type !== 'Patient' && !inPatientCompartment(type)) {
    throw new FhirError('bad-request', `${type} is not in the Patient compartment, so a ${level === 'group' ? 'Group' : 'Patient'}-level export cannot hold it; use the system-level [base]/$export`, param);
  }
}

/**
 * The types a job exports: `_type`, or every type the level covers. The caller narrows this to
 * what the client may search.
 */
export function typesOf(defs: Definitions, spec: ExportSpec): string[] {
  if (spec.types) return [...spec.types];
  const all = defs.resourceTypes;
  return spec.level === 'system' ? [...all] : all.filter((t) => t === 'Patient' || inPatientCompartment(t));
}
