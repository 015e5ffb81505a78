import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { principalFromClaims } from '../../server/src/auth/principal.js';
import { Deidentifier } from '../../server/src/ops/deidentify/deidentifier.js';
import { runExport } from '../../server/src/ops/export/run-export-job.js';
import type { ExportSpec } from '../../server/src/ops/export/export-parameters.js';
import { BASE, FHIR_JSON, startTestApp, type TestApp } from '../http/app-fixture.js';
import { tempDirs } from '../helpers/temp-dirs.js';

/**
 * A Patient-level export attributes every resource it writes to the batch's patients it
 * references, through any compartment parameter and in either reference form (from the store's
 * `matchedOf`; its contract tests are test/contract/resource-store/matched-of.ts). The
 * attribution feeds the job's one AuditEvent per patient, so a patient missing here would never
 * learn their data left. Only Observations are exported, so no patient is listed through their
 * own Patient resource: each patient below is reached through one path only.
 */

const SPEC: ExportSpec = { level: 'patient', types: ['Observation'], typeFilters: [], deidentify: false, lenient: false };
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
  const newDir = tempDirs('export-attribution');
  before(async () => {
    t = await startTestApp();
    for (const id of ['pa', 'pb', 'pc', 'pd', 'pe', 'pf']) {
      const res = await request(t.app).put(`/fhir/Patient/${id}`).set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient', id, name: [{ family: id }] });
      assert.equal(res.status, 201);
    }
    // pb only as a performer; pc only through this server's absolute URL; pe only as o4's
    // performer, in another batch than o4's subject; pf has no data; pg is another server's.
    for (const o of [
      obs('o1', 'Patient/pa', 'Patient/pb'),
      { ...obs('o2', `${BASE}/Patient/pc`), effectiveDateTime: '2020-05-17' },
      obs('o3', 'Patient/pd', 'https://elsewhere.example/fhir/Patient/pf'),
      { ...obs('o4', 'Patient/pa', 'Patient/pe'), effectiveDateTime: '2021-03-04' },
      obs('o5', 'Patient/pb', 'Patient/pa'),
    ]) {
      const res = await request(t.app).put(`/fhir/Observation/${o.id}`).set('Content-Type', FHIR_JSON).send(o);
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
  });
  after(async () => {
    await t?.close();
  });

  it('lists per batch every patient a written resource references, by any compartment parameter', async () => {
    const dir = newDir();
    const ctx = t.deps.service.contextForPrincipal(principal, BASE, ['s']);
    // Batches of two patients in id order: [pa, pb], [pc, pd], [pe, pf]; pages of one resource.
    const result = await runExport({ ctx, baseStore: t.deps.store, spec: SPEC, baseUrl: BASE, dir, patientBatch: 2, pageSize: 1, now: new Date().toISOString(), progress: () => {}, stopped: () => false });
    const listed = readFileSync(result.patientsFile, 'utf8').trim().split('\n');
    // pf: no data of theirs here. The foreign Patient/pf on o3 is not in any batch's query, so
    // this alone does not show that only this server's references count (the next test does).
    assert.deepEqual(listed.sort(), ['pa', 'pb', 'pc', 'pd', 'pe']);
    const written = readFileSync(join(dir, 'Observation.ndjson'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
    // o4 is in the compartments of pa (batch 1) and pe (batch 3): written once per batch.
    assert.deepEqual(written.sort(), ['o1', 'o2', 'o3', 'o4', 'o4', 'o5']);
  });

  it('a system-level export attributes from the resources\' own references, this server\'s only', async () => {
    const dir = newDir();
    const ctx = t.deps.service.contextForPrincipal(principal, BASE, ['s']);
    const system: ExportSpec = { ...SPEC, level: 'system' };
    const result = await runExport({ ctx, baseStore: t.deps.store, spec: system, baseUrl: BASE, dir, patientBatch: 2, pageSize: 1, now: new Date().toISOString(), progress: () => {}, stopped: () => false });
    // o3's performer is another server's Patient/pf: it names no patient here.
    assert.deepEqual(readFileSync(result.patientsFile, 'utf8').trim().split('\n').sort(), ['pa', 'pb', 'pc', 'pd', 'pe']);
  });

  it('shifts every copy of a resource by its own patient, whichever batch patient reached it', async () => {
    const dir = newDir();
    const ctx = t.deps.service.contextForPrincipal(principal, BASE, ['s']);
    const deidentifier = (scope: string) => new Deidentifier(t.deps.defs, { key: new Uint8Array(32).fill(7), scope, baseUrl: BASE });
    const spec: ExportSpec = { ...SPEC, deidentify: true };
    await runExport({ ctx, baseStore: t.deps.store, spec, baseUrl: BASE, dir, patientBatch: 2, pageSize: 1, deidentifier, now: new Date().toISOString(), progress: () => {}, stopped: () => false });
    const lines = readFileSync(join(dir, 'Observation.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { effectiveDateTime?: string; subject?: { reference?: string } });
    // The two copies of o4 (reached through pa in batch 1 and pe in batch 3) are the two lines
    // sharing a pseudonymous subject with a date; o2 has the other dated line.
    const dated = lines.filter((o) => o.effectiveDateTime !== undefined);
    assert.equal(dated.length, 3, 'o2 once, o4 twice');
    const bySubject = new Map<string, string[]>();
    for (const o of dated) bySubject.set(o.subject?.reference ?? '', [...(bySubject.get(o.subject?.reference ?? '') ?? []), o.effectiveDateTime as string]);
    const copies = [...bySubject.values()].find((ds) => ds.length === 2);
    assert.ok(copies, `two copies of o4 under one subject: ${JSON.stringify([...bySubject])}`);
    assert.equal(copies[0], copies[1], 'both copies of o4 are shifted by pa, its subject');
    const d = deidentifier(`client:${principal.clientId}`);
    assert.equal(copies[0], (d.resource({ resourceType: 'Observation', id: 'o4', status: 'final', code: { text: 'weight' }, subject: { reference: 'Patient/pa' }, effectiveDateTime: '2021-03-04' }, 'pa') as { effectiveDateTime: string }).effectiveDateTime);
  });

  it('lists only the patients whose data was written', async () => {
    const dir = newDir();
    const ctx = t.deps.service.contextForPrincipal(principal, BASE, ['s']);
    const onlyObs: ExportSpec = { ...SPEC, types: ['Observation'], typeFilters: [{ type: 'Observation', query: '_id=o1' }] };
    const result = await runExport({ ctx, baseStore: t.deps.store, spec: onlyObs, baseUrl: BASE, dir, patientBatch: 3, pageSize: 10, now: new Date().toISOString(), progress: () => {}, stopped: () => false });
    assert.deepEqual(readFileSync(result.patientsFile, 'utf8').trim().split('\n').sort(), ['pa', 'pb'], 'o1: subject pa, performer pb; nobody else');
  });
});
