/**
 * One grammar for "a literal reference to a resource on this server": `Type/id`, optionally
 * `/_history/vid`, optionally prefixed with this server's absolute base URL. Include, consent's
 * compartment facts, de-identification, Group members, claim evidence and the export's patient
 * attribution all decide "is this one of ours, and which one?"; a single parser keeps them from
 * drifting apart, since a reference one of them recognises and another does not is where
 * identifiers leak or access rules stop applying.
 *
 * Also parsed here: a Consent's patient, actors and `data` references (parse-consent.ts), the
 * `actor`/`resource` arguments of `$consent-decision`, the `patient` of `$break-glass-report`,
 * the Group a ResearchStudy enrolls (cohort/resolve-cohort.ts, `anyBase`), the patients a
 * request names, for its AuditEvents (audit/request-auditor.ts, `anyBase`), and a ValueSet
 * named for `:in` (search/value-set-codes.ts).
 *
 * Not moved, each for a reason:
 * - the consent engine's patient for a stored Consent that no longer parses (consent-engine.ts
 *   `policyOf`) takes `Patient/<id>` at the end of any string at all (`xPatient/p1`, another
 *   server's URL): no option here says that, and narrowing it could leave such a Consent denying
 *   no one;
 * - search's chain.ts `localId` and compile-reference.ts read search values and stored index
 *   values, not references to resolve: they take any prefix and also an empty `/_history/`,
 *   which `anyBase` + `anyVersion` refuses, and changing them changes which searches match;
 * - principal.ts and the authorization server check the form of token claims.
 *
 * Two version grammars remain, on purpose. The strict one (an R4 id) serves callers that fail
 * safe on a miss: de-identification drops a reference it does not recognise, evidence lists it
 * as unavailable, cohorts refuse the Group. `anyVersion` serves `localReference`, whose callers
 * (include, consent's compartment and `dependents` facts, the Consent parser, `$consent-decision`
 * and the export's attribution) must keep recognising every reference they always did: a consent deny that stopped matching `Patient/p1/_history/x y` would fail open.
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
  /**
   * Take any prefix ending in `/` as the base, this server's or another's (`baseUrl` is ignored):
   * `https://old.example.org/fhir/Group/g1` and `x/Group/g1` both name Group/g1. Not a test of
   * "is this ours": for matching references that name one of our resources under a base URL
   * the server may since have changed (a ResearchStudy's enrollment). The prefix cannot swallow
   * part of a match: no suffix of `Type/id/_history/v` after one of its `/` parses again, so the
   * reading is unique.
   */
  readonly anyBase?: boolean;
}

const TYPE = '[A-Z][A-Za-z]+';
const ID = '[A-Za-z0-9\\-.]{1,64}';
const ANY_PREFIX = '(?:[\\s\\S]*\\/)?';
const grammar = (version: string, prefix = ''): RegExp => new RegExp(`^${prefix}(${TYPE})\\/(${ID})(?:\\/_history\\/(${version}))?$`);
const STRICT = grammar(ID);
const ANY_VERSION = grammar('[^/]+');
const ANY_BASE = grammar(ID, ANY_PREFIX);
const ANY_BASE_ANY_VERSION = grammar('[^/]+', ANY_PREFIX);

/**
 * The resource `ref` names on this server, or undefined. With `baseUrl`, `<baseUrl>/Type/id…`
 * counts as local too; without it only relative references do. Another server's URL, `#x`,
 * `urn:uuid:`/`urn:oid:` and conditional (`Type?…`) references are not local (but see `anyBase`).
 */
export function parseLocalReference(ref: string, baseUrl?: string, options: LocalReferenceOptions = {}): LocalReference | undefined {
  if (options.anyBase) return read((options.anyVersion ? ANY_BASE_ANY_VERSION : ANY_BASE).exec(ref));
  const local = baseUrl !== undefined && ref.startsWith(`${baseUrl}/`) ? ref.slice(baseUrl.length + 1) : ref;
  return read((options.anyVersion ? ANY_VERSION : STRICT).exec(local));
}

function read(m: RegExpExecArray | null): LocalReference | undefined {
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
