import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { principalFromClaims } from '../../server/src/auth/principal.js';
import { runExport } from '../../server/src/ops/export/run-export-job.js';
import type { ExportSpec } from '../../server/src/ops/export/export-parameters.js';
import { BASE, FHIR_JSON, startTestApp, type TestApp } from '../http/app-fixture.js';

/**
 * A Patient-level export attributes every resource it writes to the batch's patients it
 * references, through any compartment parameter and in either reference form, without reading
 * search documents (the store's `matchedOf`). The attribution feeds the job's one AuditEvent
 * per patient, so a patient missing here would never learn their data left.
 */

const SPEC: ExportSpec = { level: 'patient', types: ['Patient', 'Observation'], typeFilters: [], deidentify: false, lenient: false };
const principal = principalFromClaims({ sub: 'backend-a', client_id: 'backend-a', scope: 'system/*.rs', purpose_of_use: ['HOPERAT'], roles: [] });

function obs(id: string, subject: string, performer?: string): Record<string, unknown> {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { text: 'weight' },
    subject: { reference: subject },
    ...(performer ? { performer: [{ reference: performer }] } : {}),
  };
}

describe('export attribution of resources to patients', () => {
  let t: TestApp;
  let dir: string;
  before(async () => {
    t = await startTestApp();
    for (const id of ['pa', 'pb', 'pc', 'pd']) {
      const res = await request(t.app).put(`/fhir/Patient/${id}`).set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient', id, name: [{ family: id }] });
      assert.equal(res.status, 201);
    }
    for (const o of [
      obs('o1', 'Patient/pa', 'Patient/pb'),
      obs('o2', `${BASE}/Patient/pc`),
      obs('o3', 'Patient/pd'),
      obs('o4', 'Patient/pa', 'Patient/pc'),
      obs('o5', 'Patient/pb', 'Patient/pa'),
    ]) {
      const res = await request(t.app).put(`/fhir/Observation/${o.id}`).set('Content-Type', FHIR_JSON).send(o);
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
  });
  after(async () => {
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('lists per batch every patient a written resource references, by any compartment parameter', async () => {
    dir = mkdtempSync(join(tmpdir(), 'export-attribution-'));
    const ctx = t.deps.service.contextForPrincipal(principal, BASE, ['s']);
    // Batches of two patients in id order: [pa, pb], [pc, pd]; pages of one resource.
    const result = await runExport({ ctx, baseStore: t.deps.store, spec: SPEC, baseUrl: BASE, dir, patientBatch: 2, pageSize: 1, now: new Date().toISOString(), progress: () => {}, stopped: () => false });
    const batches = readFileSync(result.patientsFile, 'utf8').trim().split('\n');
    assert.deepEqual(batches.sort(), ['pa', 'pb', 'pc', 'pd']);
    const written = readFileSync(join(dir, 'Observation.ndjson'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
    // o4 is in the compartments of pa (batch 1) and pc (batch 2): written once per batch.
    assert.deepEqual(written.sort(), ['o1', 'o2', 'o3', 'o4', 'o4', 'o5']);
  });

  it('lists only the patients whose data was written', async () => {
    dir = mkdtempSync(join(tmpdir(), 'export-attribution-'));
    const ctx = t.deps.service.contextForPrincipal(principal, BASE, ['s']);
    const onlyObs: ExportSpec = { ...SPEC, types: ['Observation'], typeFilters: [{ type: 'Observation', query: '_id=o1' }] };
    const result = await runExport({ ctx, baseStore: t.deps.store, spec: onlyObs, baseUrl: BASE, dir, patientBatch: 3, pageSize: 10, now: new Date().toISOString(), progress: () => {}, stopped: () => false });
    assert.deepEqual(readFileSync(result.patientsFile, 'utf8').trim().split('\n').sort(), ['pa', 'pb'], 'o1: subject pa, performer pb; nobody else');
  });
});
