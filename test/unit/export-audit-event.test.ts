import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { AuditEvent } from '@medplum/fhirtypes';
import { buildExportAuditEvent, type ExportAudit } from '../../server/src/audit/build-export-audit-event.js';
import { loadDefinitions } from '../../server/src/fhir/definitions.js';
import { validate } from '../../server/src/fhir/validation.js';

const defs = loadDefinitions(resolve(fileURLToPath(new URL('../../fhir-profiles', import.meta.url))));
const errors = (e: AuditEvent) => validate(defs, e).filter((i) => i.severity === 'error' || i.severity === 'fatal');

const JOB: ExportAudit = {
  recorded: '2025-01-02T03:04:05.000Z',
  method: 'GET',
  rawRequest: 'Group/g1/$export?_type=Observation',
  status: 200,
  principal: { subject: 'demo-research-backend', clientId: 'demo-research-backend', who: 'Organization/org-research', roles: ['research'], purposeOfUse: ['HRESCH'] },
  server: { baseUrl: 'http://localhost:8080/fhir', name: 'Custodian FHIR server' },
  integrity: 'DocumentReference/export-abc/_history/1',
  consent: { mode: 'enforce', decision: 'permit', purposeGroup: 'research' },
};

const patientsOf = (e: AuditEvent) => (e.entity ?? []).map((x) => x.what?.reference).filter((r): r is string => r?.startsWith('Patient/') ?? false);

describe('export AuditEvents (the job, and one per patient)', () => {
  it("a patient's event is a RESTful export event naming the integrity record, the requester and that one patient; it validates against the profile", () => {
    const e = buildExportAuditEvent(JOB, 'p1');
    assert.deepEqual(errors(e), []);
    assert.equal(e.type?.code, 'rest');
    assert.deepEqual(
      e.subtype?.map((s) => s.code),
      ['operation', 'export'],
    );
    assert.deepEqual(patientsOf(e), ['Patient/p1']);
    assert.ok(e.entity?.some((x) => x.what?.reference === JOB.integrity));
    assert.equal(e.agent?.find((a) => a.requestor)?.who?.reference, 'Organization/org-research');
    assert.equal(e.outcome, '0');
    const query = e.entity?.find((x) => x.query);
    assert.equal(Buffer.from(query?.query as string, 'base64').toString(), JOB.rawRequest);
  });

  it("the job's own event names no patient and validates too", () => {
    const e = buildExportAuditEvent(JOB, undefined);
    assert.deepEqual(errors(e), []);
    assert.deepEqual(patientsOf(e), []);
    assert.ok(e.entity?.some((x) => x.what?.reference === JOB.integrity));
  });

  it('a failed job is a serious failure with its reason', () => {
    const { integrity: _i, ...failed } = JOB;
    const e = buildExportAuditEvent({ ...failed, status: 500, outcomeText: 'boom' }, undefined);
    assert.deepEqual(errors(e), []);
    assert.equal(e.outcome, '8');
    assert.equal(e.outcomeDesc, 'boom');
  });
});
