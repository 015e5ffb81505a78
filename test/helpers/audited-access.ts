import type { AuditedAccess } from '../../server/src/audit/build-audit-event.js';

export const AUDIT_TEST_BASE = 'https://custodian.test/fhir';

/** A clinician's search of one patient's Observations, as the request auditor would describe it; `over` replaces fields. */
export function sampleAccess(over: Partial<AuditedAccess> = {}): AuditedAccess {
  return {
    recorded: '2025-03-01T12:00:00.000Z',
    interaction: 'search-type',
    method: 'GET',
    rawRequest: 'Observation?patient=p1&_count=5',
    resourceType: 'Observation',
    status: 200,
    principal: { subject: 'user-1', clientId: 'clinician-app', who: 'Practitioner/d1', roles: ['clinician'], purposeOfUse: ['TREAT'], sourceAddress: '10.0.0.7' },
    server: { baseUrl: AUDIT_TEST_BASE, name: 'Custodian test' },
    resources: [],
    patients: [],
    ...over,
  };
}
