import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import request from 'supertest';
import { principalFromClaims } from '../../server/src/auth/principal.js';
import { ExportJobs } from '../../server/src/ops/export/export-jobs.js';
import type { ExportSpec } from '../../server/src/ops/export/export-parameters.js';
import { FHIR_JSON, patient, startTestApp, type TestApp } from '../http/app-fixture.js';

/**
 * The job manager on a real store with a clock the test moves: a job interrupted mid-run is
 * restarted cleanly (its partial files removed), and finished jobs expire after the retention.
 */

const BASE = 'http://localhost:8080/fhir';
const SPEC: ExportSpec = { level: 'system', types: ['Patient'], typeFilters: [], deidentify: false, lenient: false };
const principal = principalFromClaims({ sub: 'backend-a', client_id: 'backend-a', scope: 'system/*.rs', purpose_of_use: ['HOPERAT'], roles: [] });
const stranger = principalFromClaims({ sub: 'backend-b', client_id: 'backend-b', scope: 'system/*.rs', purpose_of_use: ['HOPERAT'], roles: [] });

let t: TestApp;
let dataDir: string;
let clock = Date.parse('2025-01-01T00:00:00Z');

function jobsWith(retentionSeconds = 60): ExportJobs {
  const jobs = new ExportJobs({
    dataDir,
    config: { retentionSeconds, maxJobsPerClient: 5, deidentifyClients: [], patientBatch: 2 },
    baseStore: t.deps.store,
    defs: t.deps.defs,
    logger: pino({ level: 'silent' }),
    now: () => new Date(clock).toISOString(),
    pageSize: 2,
  });
  jobs.connect({ contextFor: (p, base) => t.deps.service.contextForPrincipal(p, base, ['s']), serverFhir: t.deps.fhir });
  return jobs;
}

const KICK = { request: `${BASE}/$export?_type=Patient`, rawRequest: '$export?_type=Patient', method: 'GET' as const, baseUrl: BASE };

describe('export jobs', () => {
  before(async () => {
    t = await startTestApp();
    dataDir = mkdtempSync(join(tmpdir(), 'export-jobs-'));
    for (const family of ['Ames', 'Berg', 'Cole', 'Dunn', 'Eady']) {
      const res = await request(t.app).post('/fhir/Patient').set('Content-Type', FHIR_JSON).send(patient(family));
      assert.equal(res.status, 201);
    }
  });
  after(async () => {
    await t?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('restarts an interrupted job cleanly: partial files removed, the job runs again from the start', async () => {
    const first = jobsWith();
    const job = first.kickOff(principal, SPEC, KICK);
    assert.ok(job);
    // What a crash mid-run leaves: the record says running, a partial file is on disk.
    first.jobs.save({ ...job, state: 'running', attempts: 1, transactionTime: new Date(clock).toISOString() });
    const dir = first.jobs.filesDir(job.id, true);
    writeFileSync(join(dir, 'Patient.ndjson'), '{"resourceType":"Patient","id":"half-writ');

    const second = jobsWith();
    second.start();
    await second.idle();
    await second.stop();
    const view = second.view(principal, job.id);
    assert.equal(view.state, 'completed');
    if (view.state !== 'completed') return;
    assert.equal(view.job.attempts, 2);
    assert.deepEqual(
      view.job.output?.map((f) => [f.type, f.count]),
      [['Patient', 5]],
    );
    assert.deepEqual(readdirSync(dir).sort(), ['Patient.ndjson'], 'only the new file, no partial one, no working files');
    assert.throws(() => second.view(stranger, job.id), /No such export job/);
  });

  it('removes a finished job and its files once the retention has passed: status and files read as 404', async () => {
    const jobs = jobsWith(60);
    jobs.start();
    const job = jobs.kickOff(principal, SPEC, KICK);
    assert.ok(job);
    await jobs.idle();
    await jobs.stop();
    const path = jobs.file(principal, job.id, 'Patient.ndjson');
    assert.ok(existsSync(path));
    clock += 59_000;
    assert.equal(jobs.view(principal, job.id).state, 'completed', 'still inside the retention');
    clock += 1_000;
    assert.throws(() => jobs.view(principal, job.id), /No such export job/);
    assert.throws(() => jobs.file(principal, job.id, 'Patient.ndjson'), /No such export job/);
    assert.equal(existsSync(path), false, 'the files are gone');
  });

  /** Runs one job recorded as given (as if kicked off before a restart changed the server) and returns its failure text. */
  async function failureOf(who: typeof principal, spec: ExportSpec): Promise<string | undefined> {
    const jobs = jobsWith();
    const job = jobs.kickOff(who, spec, KICK);
    assert.ok(job);
    jobs.start();
    await jobs.idle();
    await jobs.stop();
    const view = jobs.view(who, job.id);
    assert.equal(view.state, 'failed');
    return view.state === 'failed' ? view.job.failure : undefined;
  }

  it('a job the server can no longer run says why in its failure, not "internal error": no cohort module, no de-identifier', async () => {
    // This server has neither module; the kick-off refuses both, so only a job recorded before a restart meets this.
    const group = await failureOf(principal, { ...SPEC, level: 'group', groupId: 'study-cohort' });
    assert.match(group ?? '', /cohort module/);
    const deidentified = await failureOf(principal, { ...SPEC, deidentify: true });
    assert.match(deidentified ?? '', /de-identification module/);
  });

  it('a job whose requester would break the glass when it runs fails with the kick-off\'s refusal', async () => {
    // ETREAT by a role in CONSENT_BREAK_GLASS_ROLES (default clinician): a job recorded before the role was listed.
    const emergency = principalFromClaims({ sub: 'backend-e', client_id: 'backend-e', scope: 'system/*.rs', purpose_of_use: ['ETREAT'], roles: ['clinician'] });
    assert.match((await failureOf(emergency, SPEC)) ?? '', /Break-the-glass access is not available to bulk export/);
  });
});
