import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import type { Bundle, Observation, Patient, Resource } from '@medplum/fhirtypes';
import { makeTempDataDir, startServer, type ServerProcess } from '../helpers/server-process.js';
import { createTestAuth, type TestAuth } from '../helpers/test-auth.js';
import { PROFILES_DIR } from '../../server/src/dependencies.js';
import { loadLabeler } from '../../server/src/consent/load-labeler.js';

/** What the server stores for a resource sent: it adds its data-category and security labels (issue 5). */
const labeler = loadLabeler(PROFILES_DIR);

/**
 * Durability under kill -9. The promise being tested: a write the server acknowledged (2xx with
 * id and version) survives an abrupt kill of the process, byte for byte, and the store reopens
 * consistent (search, current versions and history agree) and writable.
 *
 * Timing only decides WHEN to kill (after KILL_AFTER_ACKS acknowledged writes or LOAD_MS of
 * load, whichever comes first); correctness never depends on it: every acknowledged write is
 * checked, whatever their number.
 */

const POST_LOOPS = 16;
const PUT_LOOPS = 4;
const HOT_PATIENTS = 4;
const KILL_AFTER_ACKS = 300;
const LOAD_MS = 1500;
/** Killing before anything was acknowledged would prove nothing. */
const MIN_ACKS = 50;
const ROUNDS = 2;
const VERIFY_CONCURRENCY = 16;
const CRASH_SYSTEM = 'urn:custodian:crash-test';

interface Ack {
  type: 'Observation' | 'Patient';
  id: string;
  versionId: string;
  /** The resource as sent (for PUT including its id). */
  sent: Resource;
  round: number;
}

interface LoadResult {
  acks: Ack[];
  inFlightAtKill: number;
  /** Failures observed before the kill: these are server errors, not crash effects. */
  unexpected: string[];
  etagMismatches: string[];
  msToKill: number;
}

const FHIR_JSON = { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' };
/** The admin bearer token of the server currently running (set at each start). */
let AUTH: Record<string, string> = {};

async function fhir(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; etag: string | null }> {
  const res = await fetch(`${base}/${path}`, {
    method,
    headers: { ...FHIR_JSON, ...AUTH, ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, etag: res.headers.get('etag') };
}

/** The stored resource without what the server adds (meta.versionId/lastUpdated, id on create). */
function content(r: Resource, keepId: boolean): Record<string, unknown> {
  const { meta, id, ...rest } = r as Resource & { meta?: Record<string, unknown> };
  const out: Record<string, unknown> = { ...rest };
  if (keepId && id !== undefined) out.id = id;
  if (meta) {
    const { versionId: _v, lastUpdated: _l, ...metaRest } = meta;
    if (Object.keys(metaRest).length > 0) out.meta = metaRest;
  }
  return out;
}

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

function observation(round: number, loop: number, n: number, patientId: string): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    identifier: [{ system: CRASH_SYSTEM, value: `r${round}-w${loop}-n${n}` }],
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }], text: `crash r${round} w${loop} n${n}` },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: new Date(Date.UTC(2020, 0, 1, 0, 0, n % 60)).toISOString(),
    valueQuantity: { value: 40 + ((loop * 31 + n) % 120), unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    note: [{ text: randomBytes(24).toString('hex') }],
  };
}

function hotPatient(id: string, round: number, loop: number, n: number): Patient {
  return {
    resourceType: 'Patient',
    id,
    identifier: [{ system: CRASH_SYSTEM, value: `hot-${id}` }],
    name: [{ family: 'Hot', given: [`r${round}`, `w${loop}`, `n${n}`] }],
    telecom: [{ system: 'email', value: `${randomBytes(6).toString('hex')}@example.org` }],
  };
}

/** Runs the write load against `server` and SIGKILLs it mid-flight. */
async function loadAndKill(server: ServerProcess, round: number, hot: string[]): Promise<LoadResult> {
  const base = server.baseUrl;
  const acks: Ack[] = [];
  const unexpected: string[] = [];
  const etagMismatches: string[] = [];
  let killed = false;
  let inFlight = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const acked = (n: number): Promise<void> => new Promise((resolve) => waiters.push({ n, resolve }));
  const onAck = (): void => {
    for (const w of waiters) if (acks.length >= w.n) w.resolve();
  };

  const send = async (method: 'POST' | 'PUT', path: string, resource: Resource): Promise<void> => {
    inFlight++;
    try {
      const res = await fhir(base, method, path, resource);
      const body = res.body as Resource | undefined;
      if ((res.status === 201 || res.status === 200) && body?.id && body.meta?.versionId) {
        if (res.etag !== `W/"${body.meta.versionId}"`) etagMismatches.push(`${method} ${path}: ETag ${res.etag} vs meta.versionId ${body.meta.versionId}`);
        acks.push({ type: resource.resourceType as Ack['type'], id: body.id, versionId: body.meta.versionId, sent: resource, round });
        onAck();
      } else if (!killed) {
        unexpected.push(`${method} ${path} -> ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
      }
    } catch (err) {
      // Connection reset / refused after the kill is the expected fate of in-flight requests.
      if (!killed) unexpected.push(`${method} ${path} -> ${(err as Error).message}`);
    } finally {
      inFlight--;
    }
  };

  const anchor = hot[0] as string;
  const loops: Promise<void>[] = [];
  for (let w = 0; w < POST_LOOPS; w++) {
    loops.push(
      (async () => {
        for (let n = 0; !killed; n++) await send('POST', 'Observation', observation(round, w, n, anchor));
      })(),
    );
  }
  for (let w = 0; w < PUT_LOOPS; w++) {
    loops.push(
      (async () => {
        for (let n = 0; !killed; n++) {
          const id = hot[(w + n) % hot.length] as string;
          await send('PUT', `Patient/${id}`, hotPatient(id, round, w, n));
        }
      })(),
    );
  }

  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const elapsed = (ms: number): Promise<void> => new Promise<void>((r) => (timer = setTimeout(r, ms)));
  await Promise.race([acked(KILL_AFTER_ACKS), elapsed(LOAD_MS)]);
  clearTimeout(timer);
  // A slow machine: keep loading until there is something worth checking (bounded).
  await Promise.race([acked(MIN_ACKS), elapsed(20_000)]);
  clearTimeout(timer);
  const inFlightAtKill = inFlight;
  killed = true;
  server.child.kill('SIGKILL');
  const msToKill = Date.now() - started;
  const exit = await server.stop();
  await Promise.all(loops);
  assert.equal(exit.signal, 'SIGKILL', 'the server died from SIGKILL, not on its own');
  return { acks, inFlightAtKill, unexpected, etagMismatches, msToKill };
}

/** Every acknowledged write reads back intact; search, current versions and history agree. */
async function verify(base: string, acks: readonly Ack[], hot: readonly string[]): Promise<void> {
  const failures: string[] = [];

  // 1. vread of every acknowledged version returns exactly what was sent.
  await pool(acks, VERIFY_CONCURRENCY, async (a) => {
    const res = await fhir(base, 'GET', `${a.type}/${a.id}/_history/${a.versionId}`);
    if (res.status !== 200) {
      failures.push(`vread ${a.type}/${a.id}/_history/${a.versionId} (round ${a.round}) -> ${res.status}`);
      return;
    }
    const got = res.body as Resource;
    if (got.id !== a.id || got.meta?.versionId !== a.versionId || res.etag !== `W/"${a.versionId}"`) {
      failures.push(`vread ${a.type}/${a.id}/_history/${a.versionId}: id ${got.id}, meta.versionId ${got.meta?.versionId}, ETag ${res.etag}`);
    }
    try {
      assert.deepStrictEqual(content(got, a.type === 'Patient'), content(labeler.apply(a.sent), a.type === 'Patient'));
    } catch {
      failures.push(`vread ${a.type}/${a.id}/_history/${a.versionId}: content differs from what was acknowledged`);
    }
  });

  // 2. Updated resources: current version >= highest acknowledged; history is 1..current, newest first.
  for (const id of hot) {
    const mine = acks.filter((a) => a.type === 'Patient' && a.id === id);
    const highest = Math.max(1, ...mine.map((a) => Number(a.versionId)));
    const cur = await fhir(base, 'GET', `Patient/${id}`);
    if (cur.status !== 200) {
      failures.push(`read Patient/${id} -> ${cur.status}`);
      continue;
    }
    const current = Number((cur.body as Patient).meta?.versionId);
    if (!(current >= highest)) failures.push(`Patient/${id}: current version ${current} < highest acknowledged ${highest}`);
    const hist = await fhir(base, 'GET', `Patient/${id}/_history?_count=1000`);
    const b = hist.body as Bundle<Patient>;
    const versions = (b.entry ?? []).map((e) => Number(e.resource?.meta?.versionId));
    const expected = Array.from({ length: current }, (_, i) => current - i);
    if (hist.status !== 200 || b.total !== current || JSON.stringify(versions) !== JSON.stringify(expected)) {
      failures.push(`Patient/${id}/_history: status ${hist.status}, total ${b.total}, versions [${versions.slice(0, 8).join(',')}…] (expected ${current}..1)`);
      continue;
    }
    for (const a of mine) {
      const entry = b.entry?.[current - Number(a.versionId)];
      try {
        assert.deepStrictEqual(content(entry?.resource as Resource, true), content(labeler.apply(a.sent), true));
      } catch {
        failures.push(`Patient/${id}/_history entry for version ${a.versionId} differs from what was acknowledged`);
      }
    }
  }

  // 3. A type search returns (at least) every acknowledged Observation; paging is complete.
  const found = new Set<string>();
  let url: string | undefined = `Observation?_count=1000&_elements=identifier`;
  let total: number | undefined;
  let pages = 0;
  while (url && pages++ < 100) {
    const page = await fhir(base, 'GET', url.startsWith(base) ? url.slice(base.length + 1) : url);
    assert.equal(page.status, 200, `search ${url}`);
    const b = page.body as Bundle;
    total ??= b.total;
    for (const e of b.entry ?? []) if (e.resource?.resourceType === 'Observation') found.add(e.resource.id as string);
    url = b.link?.find((l) => l.relation === 'next')?.url;
  }
  const ackedObs = new Set(acks.filter((a) => a.type === 'Observation').map((a) => a.id));
  const missing = [...ackedObs].filter((id) => !found.has(id));
  if (missing.length > 0) failures.push(`${missing.length} acknowledged Observations missing from search, e.g. ${missing.slice(0, 3).join(', ')}`);
  if (total !== found.size) failures.push(`search total ${total} but paging returned ${found.size} distinct Observations`);

  // 4. Type history agrees with search: Observations are only ever created, so one version each.
  const th = await fhir(base, 'GET', 'Observation/_history?_count=1');
  if ((th.body as Bundle).total !== found.size) failures.push(`Observation/_history total ${(th.body as Bundle).total} != ${found.size} Observations found by search`);
  const sample = [...ackedObs].slice(0, 40);
  await pool(sample, VERIFY_CONCURRENCY, async (id) => {
    const h = await fhir(base, 'GET', `Observation/${id}/_history`);
    const b = h.body as Bundle;
    if (h.status !== 200 || b.total !== 1 || b.entry?.[0]?.resource?.meta?.versionId !== '1') {
      failures.push(`Observation/${id}/_history: status ${h.status}, total ${b.total}`);
    }
  });

  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} durability failures after restart`);
}

/** The restarted store accepts new writes: a create and a versioned update. */
async function checkWritable(base: string, hotId: string): Promise<void> {
  const created = await fhir(base, 'POST', 'Observation', observation(99, 0, 0, hotId));
  assert.equal(created.status, 201);
  const readBack = await fhir(base, 'GET', `Observation/${created.body.id}`);
  assert.equal(readBack.status, 200);
  assert.deepEqual(readBack.body.identifier, [{ system: CRASH_SYSTEM, value: 'r99-w0-n0' }]);

  const cur = await fhir(base, 'GET', `Patient/${hotId}`);
  const v = Number(cur.body.meta.versionId);
  const upd = await fhir(base, 'PUT', `Patient/${hotId}`, hotPatient(hotId, 99, 0, 0), { 'If-Match': `W/"${v}"` });
  assert.equal(upd.status, 200);
  assert.equal(upd.body.meta.versionId, String(v + 1));
  const stale = await fhir(base, 'PUT', `Patient/${hotId}`, hotPatient(hotId, 99, 0, 1), { 'If-Match': `W/"${v}"` });
  assert.equal(stale.status, 412);
}

test('acknowledged writes survive SIGKILL mid-load, twice', { timeout: 120_000 }, async (t) => {
  const dataDir = makeTempDataDir('custodian-crash-');
  const servers: ServerProcess[] = [];
  t.after(async () => {
    for (const s of servers) await s.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const issuer: TestAuth = await createTestAuth({ audience: 'http://localhost/fhir' });
  const start = async (): Promise<ServerProcess> => {
    const t0 = Date.now();
    const s = await startServer({ dataDir, issuer });
    servers.push(s);
    AUTH = { authorization: s.authorization as string };
    t.diagnostic(`server up in ${Date.now() - t0} ms at ${s.baseUrl}`);
    return s;
  };

  let server = await start();
  const hot: string[] = [];
  for (let i = 0; i < HOT_PATIENTS; i++) {
    const res = await fhir(server.baseUrl, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Hot', given: [`seed${i}`] }] });
    assert.equal(res.status, 201);
    hot.push(res.body.id as string);
  }

  const all: Ack[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const r = await loadAndKill(server, round, hot);
    t.diagnostic(
      `round ${round}: killed after ${r.msToKill} ms with ${r.acks.length} acknowledged writes ` +
        `(${r.acks.filter((a) => a.type === 'Patient').length} updates) and ${r.inFlightAtKill} requests in flight`,
    );
    assert.deepEqual(r.unexpected.slice(0, 10), [], 'no request failed before the kill');
    assert.deepEqual(r.etagMismatches.slice(0, 10), [], 'ETag agrees with meta.versionId');
    assert.ok(r.acks.length >= MIN_ACKS, `at least ${MIN_ACKS} writes acknowledged before the kill (got ${r.acks.length})`);
    assert.ok(r.inFlightAtKill > 0, 'requests were in flight at the kill');
    all.push(...r.acks);

    server = await start();
    const t0 = Date.now();
    await verify(server.baseUrl, all, hot);
    t.diagnostic(`round ${round}: verified ${all.length} acknowledged writes in ${Date.now() - t0} ms`);
    await checkWritable(server.baseUrl, hot[0] as string);
  }

  const exit = await server.stop('SIGTERM');
  assert.deepEqual(exit, { code: 0, signal: null }, 'graceful shutdown after recovery');
});
