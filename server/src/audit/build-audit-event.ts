import { createHash } from 'node:crypto';
import type { AuditEvent, AuditEventAgent, AuditEventEntity, CodeableConcept } from '@medplum/fhirtypes';
import { PURPOSE_OF_USE_SYSTEM } from '../auth/purpose-of-use.js';
import {
  APPLICATION_SERVER_SOURCE,
  AUDIT_EVENT_PROFILE,
  BREAK_GLASS_LABEL,
  CLIENT_AGENT_TYPE,
  CLIENT_ID_SYSTEM,
  DATA_ENTITY,
  INTERACTION_ACTION,
  NETWORK_IP_ADDRESS,
  NETWORK_URI,
  OPERATION_SYSTEM,
  PATIENT_ENTITY,
  QUERY_ENTITY,
  QUERY_INTERACTIONS,
  REQUEST_ENTITY_TYPE,
  REQUEST_ID_SYSTEM,
  REST_EVENT_TYPE,
  RESTFUL_INTERACTION_SYSTEM,
  ROLE_SYSTEM,
  SERVER_AGENT_TYPE,
  URI_SYSTEM,
  USER_AGENT_TYPE,
  isAuditedInteraction,
  outcomeOf,
} from './audit-codes.js';
import { consentDecisionExtension } from './audit-consent-extension.js';

/** What the audit pipeline knows of one request once it is decided: the builder's only input. */
export interface AuditedAccess {
  /** ISO instant the request was decided. */
  recorded: string;
  /** routes.ts interaction: 'read' | 'vread' | 'history-instance' | 'history-type' | 'history-system' | 'search-type' |
   *  'search-system' | 'create' | 'update' | 'patch' | 'delete' | 'batch' | 'transaction' | 'capabilities' | 'operation' */
  interaction: string;
  /** For interaction 'operation': its name without '$', e.g. 'export', 'consent-decision', 'verify'. */
  operation?: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';
  /** The request path and query exactly as received below the FHIR base, e.g. 'Observation?patient=1&_count=5'. */
  rawRequest: string;
  resourceType?: string;
  /** HTTP status of the response. */
  status: number;
  /** OperationOutcome text for failures. */
  outcomeText?: string;
  principal: { subject: string; clientId: string; who?: string; roles: readonly string[]; purposeOfUse: readonly string[]; sourceAddress?: string };
  /** Absolute FHIR base of this server (source.site) and the server's name (source.observer.display). */
  server: { baseUrl: string; name: string };
  /** The data the request read or wrote: one per resource version, with the patients whose compartment it is in. */
  resources: ReadonlyArray<{ type: string; id: string; versionId?: string; patients: readonly string[]; breakGlass?: boolean }>;
  /** Patients the request concerned even when nothing was returned (e.g. `Observation?patient=X` with no hits, a denied read). */
  patients: readonly string[];
  consent?: {
    mode: 'exempt' | 'enforce' | 'break-glass';
    /** permit: everything asked was shown; deny: the target was withheld; partial: some withheld; not-applicable. */
    decision: 'permit' | 'deny' | 'partial' | 'not-applicable';
    /** `Consent/id/_history/v` references that decided, when known. */
    deciding?: readonly string[];
    purposeGroup?: string;
  };
}

/** outcomeDesc is cut here: an OperationOutcome text may echo request content, and an event stays small. */
export const MAX_OUTCOME_DESC = 1024;

/**
 * The AuditEvents recording one request, after IHE BALP's RESTful patterns
 * (https://profiles.ihe.net/ITI/BALP/content.html#3573-restful-activities), each claiming the
 * Custodian AuditEvent profile. A pure function: no clock, no ids, no I/O; where the events
 * go is the pipeline's business.
 *
 * **One event per patient** (BALP PatientQuery): every patient the request concerned (the
 * request's own `patients` and those of every resource) gets an event holding that patient's
 * entity and only the resources in that patient's compartment (a resource in several
 * compartments, e.g. a Group, appears in each). Resources in no patient compartment go in one
 * further event without a patient; a request concerning no patient at all gets that one event
 * only. So the count is bounded: **at most 1 + the number of distinct patients**, exactly that
 * many only when some resource has no patient; a patient's "who saw my record" search
 * (`AuditEvent?patient=X`) finds every access to their data, and nothing about others'.
 *
 * **Correlation**: the events of one request share an entity of BALP's transaction type
 * (BasicAuditEntityType#XrequestId) whose what.identifier is a request id. AuditedAccess has no
 * request id, so the id is derived: SHA-256 over the request's own facts (instant, interaction,
 * method, raw request, status, subject, client, address, server), never over patients or
 * resources, so it reveals nothing about the other events' patients. An entity rather than an
 * extension because BALP already defines it, and it is searchable by entity-type.
 *
 * Output is deterministic: patients, resources and Consent references are de-duplicated and
 * sorted; events come in patient order, the patient-less event last.
 */
export function buildAuditEvents(access: AuditedAccess): AuditEvent[] {
  if (!isAuditedInteraction(access.interaction)) {
    throw new RangeError(`buildAuditEvents: '${access.interaction}' is not a routes.ts interaction`);
  }
  const resources = normalisedResources(access);
  const patients = sortedUnique([...access.patients, ...resources.flatMap((r) => r.patients)]);
  const facts = requestFacts(access);

  const byPatient = new Map<string, AuditedResource[]>(patients.map((p) => [p, []]));
  const unowned: AuditedResource[] = [];
  for (const r of resources) {
    if (r.patients.length === 0) unowned.push(r);
    for (const p of r.patients) byPatient.get(p)?.push(r);
  }
  const events = patients.map((p) => eventFor(access, facts, p, byPatient.get(p) ?? []));
  if (patients.length === 0 || unowned.length > 0) events.push(eventFor(access, facts, undefined, unowned));
  return events;
}

/** A resource version as it appears in events: de-duplicated by reference, patients sorted. */
interface AuditedResource {
  reference: string;
  patients: readonly string[];
  breakGlass: boolean;
}

function normalisedResources(access: AuditedAccess): AuditedResource[] {
  const byRef = new Map<string, { patients: string[]; breakGlass: boolean }>();
  for (const r of access.resources) {
    const reference = r.versionId ? `${r.type}/${r.id}/_history/${r.versionId}` : `${r.type}/${r.id}`;
    const seen = byRef.get(reference) ?? { patients: [], breakGlass: false };
    seen.patients.push(...r.patients);
    // A resource is labelled break-the-glass only when the request ran in that mode (the gate
    // sets both together); a stray flag elsewhere cannot label an ordinary access.
    seen.breakGlass ||= r.breakGlass === true && access.consent?.mode === 'break-glass';
    byRef.set(reference, seen);
  }
  return [...byRef.entries()]
    .map(([reference, r]) => ({ reference, patients: sortedUnique(r.patients), breakGlass: r.breakGlass }))
    .sort((a, b) => compare(a.reference, b.reference));
}

/** What the events of one request have in common and costs something to work out: computed once per request. */
interface RequestFacts {
  purposes: string[];
  roles: string[];
  requestId: string;
  /** base64 of the raw request, when the events carry the query entity. */
  query?: string;
}

function requestFacts(access: AuditedAccess): RequestFacts {
  // The query entity for list/execute interactions (BALP Query) and for every failed request, so a
  // refused read or write still records exactly what was asked.
  // An empty raw request (a POST or GET on the base itself) has nothing to record beyond the subtype.
  const withQuery = (QUERY_INTERACTIONS.has(access.interaction) || access.status >= 400) && access.rawRequest !== '';
  return {
    purposes: uniqueInOrder(access.principal.purposeOfUse),
    roles: uniqueInOrder(access.principal.roles),
    requestId: requestId(access),
    ...(withQuery ? { query: base64(access.rawRequest) } : {}),
  };
}

/** What every event of the request holds. */
interface CommonParts {
  head: Omit<AuditEvent, 'resourceType' | 'meta' | 'entity'>;
  /** The query entity (searches, history, operations, and any failed request), then the request id entity. */
  trailing: AuditEventEntity[];
}

/**
 * Built afresh for every event, fixed codings copied: the events of one request share no
 * objects with each other or with the frozen constants, so a holder may change one event
 * without touching another (and without a deep copy of each finished event).
 */
function commonParts(access: AuditedAccess, facts: RequestFacts): CommonParts {
  const p = access.principal;
  // Mapped twice: the event's and the user's purposes are separate objects, as in a parsed event.
  const purposes = (): CodeableConcept[] => facts.purposes.map(purposeConcept);
  const roles = facts.roles.map((code): CodeableConcept => ({ coding: [{ system: ROLE_SYSTEM, code }] }));

  const user: AuditEventAgent = {
    type: { coding: [{ ...USER_AGENT_TYPE }] },
    ...(roles.length > 0 ? { role: roles } : {}),
    who: p.who ? { reference: p.who } : { display: p.subject },
    altId: p.subject,
    requestor: true,
    ...(facts.purposes.length > 0 ? { purposeOfUse: purposes() } : {}),
  };
  // BALP puts the peer address on the client (the machine), not on the user ("users are not network devices").
  const client: AuditEventAgent = {
    type: { coding: [{ ...CLIENT_AGENT_TYPE }] },
    who: { identifier: { system: CLIENT_ID_SYSTEM, value: p.clientId } },
    requestor: false,
    ...(p.sourceAddress ? { network: { address: p.sourceAddress, type: NETWORK_IP_ADDRESS } } : {}),
  };
  const server: AuditEventAgent = {
    type: { coding: [{ ...SERVER_AGENT_TYPE }] },
    who: { identifier: { system: URI_SYSTEM, value: access.server.baseUrl }, display: access.server.name },
    requestor: false,
    network: { address: access.server.baseUrl, type: NETWORK_URI },
  };

  const subtype = [{ system: RESTFUL_INTERACTION_SYSTEM, code: access.interaction }];
  if (access.interaction === 'operation' && access.operation) subtype.push({ system: OPERATION_SYSTEM, code: access.operation });
  const extension = access.consent ? [consentDecisionExtension(access.consent)] : undefined;

  const head: CommonParts['head'] = {
    ...(extension ? { extension } : {}),
    type: { ...REST_EVENT_TYPE },
    subtype,
    action: INTERACTION_ACTION[access.interaction as keyof typeof INTERACTION_ACTION],
    recorded: access.recorded,
    outcome: outcomeOf(access.status),
    ...(access.outcomeText ? { outcomeDesc: clip(access.outcomeText, MAX_OUTCOME_DESC) } : {}),
    ...(facts.purposes.length > 0 ? { purposeOfEvent: purposes() } : {}),
    agent: [user, client, server],
    source: {
      site: access.server.baseUrl,
      observer: { display: access.server.name },
      type: [{ ...APPLICATION_SERVER_SOURCE }],
    },
  };

  const trailing: AuditEventEntity[] = [];
  if (facts.query !== undefined) {
    trailing.push({ type: { ...QUERY_ENTITY.type }, role: { ...QUERY_ENTITY.role }, description: access.rawRequest, query: facts.query });
  }
  trailing.push({ type: { ...REQUEST_ENTITY_TYPE }, what: { identifier: { system: REQUEST_ID_SYSTEM, value: facts.requestId } } });
  return { head, trailing };
}

function eventFor(access: AuditedAccess, facts: RequestFacts, patient: string | undefined, resources: readonly AuditedResource[]): AuditEvent {
  const base = commonParts(access, facts);
  const entity: AuditEventEntity[] = [];
  if (patient !== undefined) {
    entity.push({ what: { reference: `Patient/${patient}` }, type: { ...PATIENT_ENTITY.type }, role: { ...PATIENT_ENTITY.role } });
  }
  for (const r of resources) {
    entity.push({
      what: { reference: r.reference },
      type: { ...DATA_ENTITY.type },
      role: { ...DATA_ENTITY.role },
      ...(r.breakGlass ? { securityLabel: [{ ...BREAK_GLASS_LABEL }] } : {}),
    });
  }
  entity.push(...base.trailing);
  const breakGlass = resources.some((r) => r.breakGlass);
  return {
    resourceType: 'AuditEvent',
    meta: { profile: [AUDIT_EVENT_PROFILE], ...(breakGlass ? { security: [{ ...BREAK_GLASS_LABEL }] } : {}) },
    ...base.head,
    entity,
  };
}

/** The correlation id of a request's events; see buildAuditEvents. Patients and resources are deliberately left out. */
function requestId(access: AuditedAccess): string {
  const p = access.principal;
  const facts = [access.recorded, access.interaction, access.operation ?? '', access.method, access.rawRequest, access.status, p.subject, p.clientId, p.sourceAddress ?? '', access.server.baseUrl];
  return createHash('sha256').update(JSON.stringify(facts)).digest('hex').slice(0, 32);
}

const purposeConcept = (code: string): CodeableConcept => ({ coding: [{ system: PURPOSE_OF_USE_SYSTEM, code }] });

/** UTF-8 bytes of the raw request, base64 (AuditEvent.entity.query is base64Binary). */
const base64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** Code-unit order, independent of locale. */
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function sortedUnique(values: Iterable<string>): string[] {
  return [...new Set(values)].filter((v) => v !== '').sort(compare);
}

/** Token order is kept (a token's first purpose may be its main one); duplicates and blanks go. */
function uniqueInOrder(values: readonly string[]): string[] {
  return [...new Set(values)].filter((v) => v !== '');
}

function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = max - 1;
  if (/[\uD800-\uDBFF]/.test(s.charAt(end - 1))) end--; // never split a surrogate pair
  return `${s.slice(0, end)}…`;
}
