import type { AuditEvent, Coding } from '@medplum/fhirtypes';
import { ACT_CODE_SYSTEM } from '../consent/data-categories.js';

/**
 * Every coding the AuditEvent builder (build-audit-event.ts) writes, as named constants, so the
 * builder, the profile (fhir-profiles/StructureDefinition-custodian-auditevent.json) and the
 * searches that read events back ($break-glass-report, "who saw my record") spell each one
 * once. Shapes follow IHE Basic Audit Log Patterns, RESTful activities
 * (https://profiles.ihe.net/ITI/BALP/content.html#3573-restful-activities); the R4 code
 * systems are those of https://hl7.org/fhir/R4/auditevent.html.
 */

/** The AuditEvent profile every built event claims in meta.profile. */
export const AUDIT_EVENT_PROFILE = 'https://custodian.example.org/fhir/StructureDefinition/custodian-auditevent';

/** The consent-decision extension (fhir-profiles/StructureDefinition-custodian-audit-consent-decision.json). */
export const CONSENT_DECISION_EXTENSION = 'https://custodian.example.org/fhir/StructureDefinition/audit-consent-decision';
/** Its sub-extensions (relative urls, as complex extensions name their parts). */
export const CONSENT_DECISION_PARTS = Object.freeze({ decision: 'decision', mode: 'mode', deciding: 'deciding', purposeGroup: 'purposeGroup' });
export const CONSENT_DECISIONS = ['permit', 'deny', 'partial', 'not-applicable'] as const;
export const CONSENT_MODES = ['exempt', 'enforce', 'break-glass'] as const;

// --- code systems -----------------------------------------------------------------------------

export const AUDIT_EVENT_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
export const RESTFUL_INTERACTION_SYSTEM = 'http://hl7.org/fhir/restful-interaction';
/** Custodian: the name of a FHIR operation without '$' (export, consent-decision, verify …), a second subtype of 'operation' events. */
export const OPERATION_SYSTEM = 'https://custodian.example.org/fhir/CodeSystem/operation';
/** Custodian: the roles a token may carry (auth/principal.ts ROLES), as agent.role of the requesting user. */
export const ROLE_SYSTEM = 'https://custodian.example.org/fhir/CodeSystem/principal-role';
export const AUDIT_ENTITY_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
export const OBJECT_ROLE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/object-role';
export const SOURCE_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/security-source-type';
export const DICOM_SYSTEM = 'http://dicom.nema.org/resources/ontology/DCM';
export const PARTICIPATION_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
/** IHE BALP's own entity types (https://profiles.ihe.net/ITI/BALP/CodeSystem-BasicAuditEntityType.html). */
export const BALP_ENTITY_TYPE_SYSTEM = 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType';
/** OAuth client ids (as BALP's IUA mapping records client_id). */
export const CLIENT_ID_SYSTEM = 'urn:ietf:rfc:6749:client_id';
/** Identifier system of the correlation id shared by the events of one request. */
export const REQUEST_ID_SYSTEM = 'https://custodian.example.org/fhir/sid/request';
/** An absolute URL used as an identifier (the server's FHIR base). */
export const URI_SYSTEM = 'urn:ietf:rfc:3986';

// --- fixed codings ----------------------------------------------------------------------------

const coding = (system: string, code: string, display?: string): Readonly<Coding> =>
  Object.freeze(display === undefined ? { system, code } : { system, code, display });

/** AuditEvent.type of every event: a RESTful operation. */
export const REST_EVENT_TYPE = coding(AUDIT_EVENT_TYPE_SYSTEM, 'rest', 'Restful Operation');

/** Agent types. The requesting person is BALP's user slice; client and server follow BALP's "Application and Custodian" alternative to Source/Destination Role ID. */
export const USER_AGENT_TYPE = coding(PARTICIPATION_TYPE_SYSTEM, 'IRCP', 'information recipient');
export const CLIENT_AGENT_TYPE = coding(DICOM_SYSTEM, '110150', 'Application');
export const SERVER_AGENT_TYPE = coding(PARTICIPATION_TYPE_SYSTEM, 'CST', 'custodian');

/** source.type: this server is an application server. */
export const APPLICATION_SERVER_SOURCE = coding(SOURCE_TYPE_SYSTEM, '4', 'Application Server');

/** agent.network.type (R4 network-type; a required binding). */
export const NETWORK_IP_ADDRESS = '2' as const;
export const NETWORK_URI = '5' as const;

/** Entity type/role pairs. */
export const PATIENT_ENTITY = Object.freeze({ type: coding(AUDIT_ENTITY_TYPE_SYSTEM, '1', 'Person'), role: coding(OBJECT_ROLE_SYSTEM, '1', 'Patient') });
export const DATA_ENTITY = Object.freeze({ type: coding(AUDIT_ENTITY_TYPE_SYSTEM, '2', 'System Object'), role: coding(OBJECT_ROLE_SYSTEM, '4', 'Domain Resource') });
export const QUERY_ENTITY = Object.freeze({ type: coding(AUDIT_ENTITY_TYPE_SYSTEM, '2', 'System Object'), role: coding(OBJECT_ROLE_SYSTEM, '24', 'Query') });
export const REQUEST_ENTITY_TYPE = coding(BALP_ENTITY_TYPE_SYSTEM, 'XrequestId', 'transport specific unique identifier');

/**
 * meta.security of break-the-glass events and securityLabel of each resource shown by breaking
 * the glass: v3 ActCode BTG, what AuditEvent/$break-glass-report searches for; the gate marks
 * the resources it shows that way with the same coding.
 */
export const BREAK_GLASS_LABEL = coding(ACT_CODE_SYSTEM, 'BTG', 'break the glass');

// --- interaction → action, outcome ------------------------------------------------------------

/**
 * AuditEvent.action for each routes.ts interaction (R4 audit-event-action): BALP's Create,
 * Read (read, vread), Update (update, patch), Delete and Execute (search) patterns; history is
 * a read of versions, the CapabilityStatement a read; operations, batch and transaction execute.
 */
export const INTERACTION_ACTION = Object.freeze({
  create: 'C',
  read: 'R',
  vread: 'R',
  'history-instance': 'R',
  'history-type': 'R',
  'history-system': 'R',
  capabilities: 'R',
  update: 'U',
  patch: 'U',
  delete: 'D',
  'search-type': 'E',
  'search-system': 'E',
  operation: 'E',
  batch: 'E',
  transaction: 'E',
} as const satisfies Record<string, NonNullable<AuditEvent['action']>>);
export type AuditedInteraction = keyof typeof INTERACTION_ACTION;

export function isAuditedInteraction(interaction: string): interaction is AuditedInteraction {
  return Object.hasOwn(INTERACTION_ACTION, interaction);
}

/** Interactions whose events carry the query entity (BALP Query: base64 of the raw request). */
export const QUERY_INTERACTIONS: ReadonlySet<string> = new Set(['search-type', 'search-system', 'history-instance', 'history-type', 'history-system', 'operation']);

/** R4 audit-event-outcome: 0 success (2xx, 3xx), 4 minor failure (4xx: the client's), 8 serious failure (5xx: the server's). */
export function outcomeOf(status: number): NonNullable<AuditEvent['outcome']> {
  if (status >= 500 || status < 100 || !Number.isInteger(status)) return '8';
  return status >= 400 ? '4' : '0';
}
