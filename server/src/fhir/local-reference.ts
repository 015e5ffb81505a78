/**
 * One grammar for "a literal reference to a resource on this server": `Type/id`, optionally
 * `/_history/vid`, optionally prefixed with this server's absolute base URL. Include, consent's
 * compartment facts, de-identification, Group members, claim evidence and the export's patient
 * attribution all decide "is this one of ours, and which one?"; a single parser keeps them from
 * drifting apart, since a reference one of them recognises and another does not is where
 * identifiers leak or access rules stop applying. Not yet moved here: a Group reference in
 * cohort/resolve-cohort.ts (any base), and search's chain.ts `localId` (any prefix, by design).
 *
 * Two version grammars remain, on purpose. The strict one (an R4 id) serves callers that fail
 * safe on a miss: de-identification drops a reference it does not recognise, evidence lists it
 * as unavailable, cohorts refuse the Group. `anyVersion` serves `localReference`, whose callers
 * (include, consent's compartment and `dependents` facts) must keep recognising every reference
 * they always did: a consent deny that stopped matching `Patient/p1/_history/x y` would fail open.
 *
 * Id and version follow R4 `id` (https://hl7.org/fhir/R4/datatypes.html#id); the type only has
 * to look like a resource type name; callers check it against the definitions when it matters.
 */
export interface LocalReference {
  readonly type: string;
  readonly id: string;
  readonly versionId?: string;
}

export interface LocalReferenceOptions {
  /**
   * Accept any non-empty run of characters other than `/` as the version after `/_history/`,
   * not only an R4 id. For callers that only want the current resource and must keep
   * recognising every reference they recognised before (consent's compartment and
   * `dependents` facts go through `localReference`).
   */
  readonly anyVersion?: boolean;
}

const TYPE = '[A-Z][A-Za-z]+';
const ID = '[A-Za-z0-9\\-.]{1,64}';
const grammar = (version: string): RegExp => new RegExp(`^(${TYPE})\\/(${ID})(?:\\/_history\\/(${version}))?$`);
const STRICT = grammar(ID);
const ANY_VERSION = grammar('[^/]+');

/**
 * The resource `ref` names on this server, or undefined. With `baseUrl`, `<baseUrl>/Type/id…`
 * counts as local too; without it only relative references do. Another server's URL, `#x`,
 * `urn:uuid:`/`urn:oid:` and conditional (`Type?…`) references are not local.
 */
export function parseLocalReference(ref: string, baseUrl?: string, options: LocalReferenceOptions = {}): LocalReference | undefined {
  const local = baseUrl !== undefined && ref.startsWith(`${baseUrl}/`) ? ref.slice(baseUrl.length + 1) : ref;
  const m = (options.anyVersion ? ANY_VERSION : STRICT).exec(local);
  if (!m) return undefined;
  const [, type, id, versionId] = m as unknown as [string, string, string, string | undefined];
  return versionId !== undefined ? { type, id, versionId } : { type, id };
}

/**
 * `Type/id`, `Type/id/_history/v` or this server's absolute URL of one. A versioned reference
 * includes the current version: the search set holds current resources only.
 */
export function localReference(ref: string, baseUrl: string): { type: string; id: string } | undefined {
  const local = parseLocalReference(ref, baseUrl, { anyVersion: true });
  return local ? { type: local.type, id: local.id } : undefined;
}
