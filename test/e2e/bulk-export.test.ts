import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { discoverSmartConfiguration, requestBackendToken } from '../../fixtures/actors/backend-client.js';
import { loadActorKey } from '../../fixtures/actors/ensure-demo-actors.js';
import { PATIENT, STUDY_COHORT } from '../../fixtures/consent-scenarios/scenarios.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';

/**
 * Bulk Data export against the real server process: the demo research backend gets a token
 * with a signed client assertion, runs a Group export of the study cohort end to end, and a
 * second job is killed mid-run (SIGKILL) and restarted cleanly by the next server start.
 */

const ENV = { SEED_ON_FIRST_START: 'true', SEED_PATIENTS: '20', EXPORT_PATIENT_BATCH: '1' };

let srv: ServerProcess;
let token: string;

async function researchToken(server: ServerProcess): Promise<string> {
  const { token_endpoint } = await discoverSmartConfiguration(server.baseUrl);
  const answer = await requestBackendToken({
    tokenEndpoint: token_endpoint,
    clientId: 'demo-research-backend',
    key: await loadActorKey(server.dataDir, 'demo-research-backend'),
    scope: 'system/*.rs',
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.access_token as string;
}

const call = (url: string, init: RequestInit = {}) => fetch(url, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });

/** Polls the status URL until the job is done (each 202 says when to come back; waits are short and bounded). */
async function waitForManifest(statusUrl: string): Promise<any> {
  for (let i = 0; i < 600; i++) {
    const res = await call(statusUrl);
    if (res.status === 200) return res.json();
    assert.equal(res.status, 202, await res.text());
    assert.ok(res.headers.get('x-progress'));
    await sleep(100);
  }
  throw new Error('the export did not finish');
}

describe('Bulk Data export against the real server', () => {
  before(async () => {
    srv = await startServer({ env: ENV, timeoutMs: 240_000 });
    token = await researchToken(srv);
  });
  after(() => srv?.dispose());

  it('a research backend exports its study cohort: kick-off, polling, manifest, downloads', async () => {
    const kick = await call(`${srv.baseUrl}/Group/${STUDY_COHORT}/$export?_type=Patient,Observation`, { headers: { prefer: 'respond-async' } });
    assert.equal(kick.status, 202, await kick.text());
    const manifest = await waitForManifest(kick.headers.get('content-location') as string);
    assert.equal(manifest.requiresAccessToken, true);
    const observations = manifest.output.find((o: any) => o.type === 'Observation');
    assert.ok(observations, JSON.stringify(manifest));
    const file = await call(observations.url);
    assert.equal(file.status, 200);
    assert.match(file.headers.get('content-type') ?? '', /application\/fhir\+ndjson/);
    const text = await file.text();
    const items = text.trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.equal(items.length, observations.count);
    const subjects = new Set(items.map((o) => o.subject.reference));
    assert.ok(subjects.has(`Patient/${PATIENT.alice}`));
    assert.ok(!subjects.has(`Patient/${PATIENT.bruno}`), 'no research opt-in, no data');
    const unauthenticated = await fetch(observations.url);
    assert.equal(unauthenticated.status, 401);
  });

  it('a job killed mid-run (SIGKILL) is restarted cleanly at the next start and completes', async () => {
    // Every patient's data, one patient per batch: long enough to be caught running.
    const kick = await call(`${srv.baseUrl}/Patient/$export`, { headers: { prefer: 'respond-async' } });
    assert.equal(kick.status, 202);
    const statusUrl = kick.headers.get('content-location') as string;
    const id = statusUrl.slice(statusUrl.lastIndexOf('/') + 1);
    for (let i = 0; ; i++) {
      const res = await call(statusUrl);
      assert.equal(res.status, 202, 'the job must still be running when the server is killed');
      if (/written/.test(res.headers.get('x-progress') ?? '')) break;
      assert.ok(i < 2000, 'the job never started');
      await sleep(5);
    }
    const stopped = await srv.stop('SIGKILL');
    assert.equal(stopped.signal, 'SIGKILL');
    const record = JSON.parse(readFileSync(join(srv.dataDir, 'export', 'jobs', `${id}.json`), 'utf8'));
    assert.equal(record.state, 'running', 'the kill interrupted a running job');

    const again = await startServer({ dataDir: srv.dataDir, env: ENV, timeoutMs: 120_000 });
    const dataDir = srv.dataDir;
    srv = again;
    token = await researchToken(srv);
    const manifest = await waitForManifest(statusUrl.replace(/^http:\/\/[^/]+\/fhir/, srv.baseUrl));
    const done = JSON.parse(readFileSync(join(dataDir, 'export', 'jobs', `${id}.json`), 'utf8'));
    assert.equal(done.state, 'completed');
    assert.equal(done.attempts, 2, 'run again from the start');
    // Every listed file is whole: its bytes hash to what the integrity record says, its lines to its count.
    for (const f of done.output as { name: string; count: number; sha256: string }[]) {
      const bytes = readFileSync(join(dataDir, 'export', id, f.name));
      assert.equal(createHash('sha256').update(bytes).digest('hex'), f.sha256);
      assert.equal(bytes.toString('utf8').trimEnd().split('\n').length, f.count);
    }
    assert.deepEqual(
      readdirSync(join(dataDir, 'export', id)).filter((n) => n.startsWith('.')),
      [],
      'no working files left',
    );
    assert.ok(manifest.output.length > 0);
  });
});
