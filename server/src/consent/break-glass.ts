import type { AuditEvent, AuditEventEntity } from '@medplum/fhirtypes';
import type { FhirContext } from '../fhir/fhir-context.js';
import type { FhirRequest } from '../fhir/fhir-request.js';
import { computeIndex } from '../fhir/search/index-values.js';
import { PURPOSE_OF_USE_SYSTEM } from '../auth/purpose-of-use.js';
import type { ConsentGate } from './consent-gate.js';
import { ACT_CODE_SYSTEM } from './data-categories.js';

/** Tag on every break-the-glass AuditEvent: what `AuditEvent/$break-glass-report` lists. */
export const BREAK_GLASS_LABEL = Object.freeze({ system: ACT_CODE_SYSTEM, code: 'BTG', display: 'break the glass' });

/**
 * Records one request's break-the-glass accesses as an AuditEvent before the response leaves
 * (fail closed: if it cannot be stored the request fails and nothing is sent). Shaped after
 * IHE BALP (https://profiles.ihe.net/ITI/BALP/): type rest, subtype the interaction, the
 * requesting agent with its purpose of use, one entity per patient (role 1 "patient") and per
 * resource version shown (role 4 "domain resource"). The audit pipeline of issue 6 will write
 * an event for every interaction; this one exists so that emergency access is never unrecorded.
 */
export async function recordBreakGlass(root: FhirContext, gate: ConsentGate, req: FhirRequest, interaction: string): Promise<void> {
  const p = gate.principal;
  const patients = [...new Set(gate.breakGlassAccesses.flatMap((a) => a.patients))].sort();
  const entity: AuditEventEntity[] = [
    ...patients.map((id) => ({
      what: { reference: `Patient/${id}` },
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
    })),
    ...gate.breakGlassAccesses.map((a) => ({
      what: { reference: `${a.resourceType}/${a.id}/_history/${a.versionId}` },
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '4', display: 'Domain Resource' },
      securityLabel: [BREAK_GLASS_LABEL],
    })),
  ];
  const read = interaction === 'read' || interaction === 'vread';
  const event: AuditEvent = {
    resourceType: 'AuditEvent',
    meta: { security: [BREAK_GLASS_LABEL] },
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' },
    subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: interaction }],
    action: read ? 'R' : 'E',
    recorded: root.now(),
    outcome: '0',
    outcomeDesc: `Break-the-glass: ${gate.breakGlassAccesses.length} resource(s) shown that the patients' Consents deny for this requester`,
    purposeOfEvent: p.purposeOfUse.map((code) => ({ coding: [{ system: PURPOSE_OF_USE_SYSTEM, code }] })),
    agent: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP', display: 'information recipient' }] },
        ...(p.who ? { who: { reference: p.who } } : { who: { display: p.subject } }),
        altId: p.subject,
        requestor: true,
        purposeOfUse: p.purposeOfUse.map((code) => ({ coding: [{ system: PURPOSE_OF_USE_SYSTEM, code }] })),
        ...(p.sourceAddress ? { network: { address: p.sourceAddress, type: '2' as const } } : {}),
      },
      {
        type: { coding: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110150', display: 'Application' }] },
        who: { identifier: { system: 'urn:ietf:rfc:6749:client_id', value: p.clientId } },
        requestor: false,
      },
    ],
    source: {
      site: req.baseUrl,
      observer: { display: 'Custodian FHIR server' },
      type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }],
    },
    entity,
  };
  const id = root.newId();
  const resource = { ...event, id };
  await root.store.commit({ ops: [{ kind: 'create', resourceType: 'AuditEvent', id, resource, index: computeIndex(root.defs, resource) }], now: root.now() });
}
