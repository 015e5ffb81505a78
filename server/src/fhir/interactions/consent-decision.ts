import type { Coding, Parameters, ParametersParameter } from '@medplum/fhirtypes';
import type { AccessPolicy } from '../../auth/access-policy.js';
import { authorizeOperation } from '../../auth/authorize-interaction.js';
import { PURPOSE_OF_USE_SYSTEM } from '../../auth/purpose-of-use.js';
import type { Permission } from '../../auth/scopes.js';
import { CATEGORY_SYSTEM, DATA_CATEGORIES, isDataCategory, type DataCategory } from '../../consent/data-categories.js';
import { parameterEntries } from '../parameters-body.js';
import { ANYONE_ELSE, decide, type Decision, type Requester } from '../../consent/evaluate-consent.js';
import { categoryQuestion, explainCategory, type Explanation, type Outcome } from '../../consent/explain-consent.js';
import { ACTOR_TYPES } from '../../consent/parse-consent.js';
import { purposeGroup, type PurposeGroup } from '../../consent/purpose-groups.js';
import { normaliseReference } from '../../consent/resource-facts.js';
import type { FhirContext } from '../fhir-context.js';
import type { FhirRequest, FhirResponse } from '../fhir-request.js';
import { localReference } from '../local-reference.js';
import { FhirError } from '../outcomes.js';
import type { RouteMatch } from '../routes.js';

/**
 * `Patient/{id}/$consent-decision` (GET, or POST with a Parameters body): what the patient's
 * Consents decide for a purpose of use and a set of actors, per data category or for one of
 * the patient's resources, with the deciding Consent and provision (README "Consent rules").
 *
 * In: `purpose` (1..1, a v3 PurposeOfUse code, `code` or `system|code`), `actor` (0..*,
 * `Type/id` of the parties to decide for, each taken with every party it acts as through the
 * directory — its roles' organisations, care teams, groups, studies; none: "anyone else"),
 * `category` (0..*, data-category codes; default all), `resource` (0..1, `Type/id` of one of
 * the patient's resources: the concrete decision on its current version; not with `category`).
 *
 * Out: Parameters with `patient`, `purpose`, `group`, `actor`*, and one `result` per category
 * (or the resource) whose parts are `category` | `resource`, `decision` (permit, deny,
 * conditional), `basis` (consent, base-policy, not-patient-data), `consent`
 * (Consent/id/_history/v), `provision` (its path), `identity` (the `Type/id` decided for, `*`
 * for anyone else), `categories`*, and, for `conditional`, one `outcome` per way the decision
 * can go (the same parts plus `condition`*: what the resource must be like, in words; none:
 * otherwise) — a category answer is conditional when it depends on facts only a concrete
 * resource has (explain-consent.ts).
 *
 * Who may ask (the route's hook, authorizeConsentDecision): principals with role `admin` (data
 * stewards) and the patient themself (fhirUser Patient/{id}); others get 403. A patient the
 * caller cannot read is a 404, as is a `resource` it cannot read.
 */
/**
 * The route's authorization (Route.authorize): the general check of an operation on a type, then,
 * on Patient, role admin or the patient themself. On another type the handler answers unknown-type.
 */
export function authorizeConsentDecision(policy: AccessPolicy, m: RouteMatch): readonly Permission[] {
  const readAs = authorizeOperation(policy, m.type);
  if (m.type !== 'Patient') return readAs;
  const p = policy.principal;
  const self = p.who !== undefined && m.id !== undefined && normaliseReference(p.who, policy.baseUrl) === `Patient/${m.id}`;
  if (!p.roles.includes('admin') && !self) throw new FhirError('forbidden', '$consent-decision is open to data stewards (role admin) and to the patient themself');
  return readAs;
}

export async function consentDecision(ctx: FhirContext, req: FhirRequest, type: string, id: string): Promise<FhirResponse> {
  if (type !== 'Patient') throw new FhirError('unknown-type', `$consent-decision is defined on Patient only, not on ${type}`);
  const gate = ctx.consent;
  if (!gate) throw new FhirError('not-supported', 'This server does not enforce Consents: there are no consent decisions to explain');
  const { engine } = gate;
  const baseUrl = engine.deps.baseUrl;

  const args = parseArgs(req, baseUrl, (t) => ctx.defs.isResourceType(t));
  const patient = await ctx.store.readCurrent('Patient', id);
  if (!patient || patient.deleted) throw new FhirError('not-found', `Patient/${id} not found`);
  await engine.catchUp();

  const identities = new Set<string>();
  for (const a of args.actors) for (const i of await gate.identitiesOf(a)) identities.add(i);
  const requester: Requester = { identities, group: args.group };
  const evaluation = engine.evaluation();

  const results: ParametersParameter[] = [];
  if (args.resource) {
    const { type: rt, id: rid } = args.resource;
    const v = await ctx.store.readCurrent(rt, rid);
    if (!v || v.deleted || !v.resource) throw new FhirError('not-found', `${rt}/${rid} not found`, 'resource');
    const facts = engine.facts(v.resource, gate.indexOf(v.resource));
    if (!facts.patients.includes(id)) throw new FhirError('bad-request', `${rt}/${rid} is not in the compartment of Patient/${id}`, 'resource');
    const d = decide(evaluation, facts, requester);
    results.push(result({ name: 'resource', valueReference: { reference: `${rt}/${rid}/_history/${v.versionId}` } }, d));
  } else {
    for (const c of args.categories) {
      const e = explainCategory(evaluation, categoryQuestion(ctx.labeler, id, c), requester);
      results.push(result({ name: 'category', valueCoding: categoryCoding(c) }, e));
    }
  }
  const body: Parameters = {
    resourceType: 'Parameters',
    parameter: [
      { name: 'patient', valueReference: { reference: `Patient/${id}` } },
      { name: 'purpose', valueCoding: { system: PURPOSE_OF_USE_SYSTEM, code: args.purpose } },
      { name: 'group', valueCode: args.group },
      ...args.actors.map((a) => ({ name: 'actor', valueReference: { reference: a } })),
      ...results,
    ],
  };
  return { status: 200, body };
}

interface Args {
  purpose: string;
  group: PurposeGroup;
  actors: string[];
  categories: DataCategory[];
  resource?: { type: string; id: string };
}

const NAMES: ReadonlySet<string> = new Set(['purpose', 'actor', 'category', 'resource']);

/** One parameter value as given: text (`code`, `system|code`, `Type/id`) or a Coding or Reference. */
interface Raw {
  name: string;
  text?: string;
  system?: string;
}

function parseArgs(req: FhirRequest, baseUrl: string, isResourceType: (t: string) => boolean): Args {
  const raw: Raw[] = [];
  for (const [name, values] of Object.entries(req.query)) {
    if (name.startsWith('_')) continue; // _format, _pretty: the edge's business
    if (!NAMES.has(name)) throw unknown(name);
    for (const v of values) for (const text of v.split(',')) raw.push({ name, text: text.trim() });
  }
  if (req.method === 'POST' && req.body !== undefined) {
    for (const p of parameterEntries(req.body, '$consent-decision')) {
      if (!NAMES.has(p.name)) throw unknown(p.name);
      const text = p.valueCode ?? p.valueString ?? p.valueUri ?? p.valueReference?.reference ?? p.valueCoding?.code;
      if (typeof text !== 'string') throw bad(`Parameter '${p.name}' needs a valueCode, valueString, valueCoding or valueReference`, p.name);
      raw.push({ name: p.name, text, ...(p.valueCoding?.system !== undefined ? { system: p.valueCoding.system } : {}) });
    }
  }
  const of = (name: string): Raw[] => raw.filter((r) => r.name === name);

  const purposes = of('purpose');
  if (purposes.length !== 1) throw bad(`'purpose' is required, once: a v3 PurposeOfUse code of ${PURPOSE_OF_USE_SYSTEM}`, 'purpose');
  const purpose = coded(purposes[0] as Raw, PURPOSE_OF_USE_SYSTEM);
  const group = purposeGroup(purpose);
  if (!group) throw bad(`purpose '${purpose.slice(0, 40)}' is not a v3 PurposeOfUse code of ${PURPOSE_OF_USE_SYSTEM}`, 'purpose');

  const actors = [
    ...new Set(
      of('actor').map((r) => {
        const local = localReference(r.text ?? '', baseUrl);
        if (!local || !ACTOR_TYPES.has(local.type)) throw bad(`actor '${(r.text ?? '').slice(0, 100)}' is not a reference Type/id to one of ${[...ACTOR_TYPES].join(', ')}`, 'actor');
        return `${local.type}/${local.id}`;
      }),
    ),
  ];

  const given = of('category').map((r) => {
    const code = coded(r, CATEGORY_SYSTEM);
    if (!isDataCategory(code)) throw bad(`category '${code.slice(0, 40)}' is not a code of ${CATEGORY_SYSTEM}`, 'category');
    return code;
  });
  const categories = given.length > 0 ? [...new Set(given)] : [...DATA_CATEGORIES];

  const resources = of('resource');
  if (resources.length > 1) throw bad("'resource' may be given once", 'resource');
  let resource: Args['resource'];
  if (resources.length === 1) {
    if (given.length > 0) throw bad("Give either 'resource' (one resource's decision) or 'category' (decisions per category), not both", 'resource');
    const text = (resources[0] as Raw).text ?? '';
    const local = localReference(text, baseUrl);
    if (!local || !isResourceType(local.type)) throw bad(`resource '${text.slice(0, 100)}' is not a reference Type/id to a resource`, 'resource');
    resource = { type: local.type, id: local.id };
  }
  return { purpose, group, actors, categories, ...(resource ? { resource } : {}) };
}

/** A code given as `code`, `system|code` or a Coding; a system, when given, must be `system`. */
function coded(r: Raw, system: string): string {
  let code = r.text ?? '';
  let sys = r.system;
  const bar = code.indexOf('|');
  if (sys === undefined && bar >= 0) {
    sys = code.slice(0, bar);
    code = code.slice(bar + 1);
  }
  if (sys !== undefined && sys !== '' && sys !== system) throw bad(`${r.name} '${sys.slice(0, 100)}|${code.slice(0, 40)}' is not a code of ${system}`, r.name);
  return code;
}

function bad(message: string, expression?: string): FhirError {
  return new FhirError('bad-request', message, expression);
}

function unknown(name: string): FhirError {
  return new FhirError('unknown-parameter', `$consent-decision has no parameter '${String(name).slice(0, 40)}' (it takes purpose, actor, category, resource)`, String(name));
}

const categoryCoding = (c: DataCategory): Coding => ({ system: CATEGORY_SYSTEM, code: c });

/** One `result` (or `outcome`) part. */
function result(subject: ParametersParameter, d: Decision | Explanation | Outcome, name = 'result'): ParametersParameter {
  const part: ParametersParameter[] = [
    ...(name === 'result' ? [subject] : []),
    { name: 'decision', valueCode: d.decision },
    ...(d.basis ? [{ name: 'basis', valueCode: d.basis }] : []),
    ...(d.consent ? [{ name: 'consent', valueReference: { reference: d.consent } }] : []),
    ...(d.provision ? [{ name: 'provision', valueString: d.provision }] : []),
    ...(d.identity ? [{ name: 'identity', valueString: d.identity === ANYONE_ELSE ? '*' : d.identity }] : []),
    ...(name === 'result' ? d.categories.map((c) => ({ name: 'categories', valueCoding: categoryCoding(c) })) : []),
    ...('conditions' in d ? d.conditions.map((text) => ({ name: 'condition', valueString: text })) : []),
    ...(d.decision === 'conditional' && 'outcomes' in d ? d.outcomes.map((o) => result(subject, o, 'outcome')) : []),
  ];
  return { name, part };
}
