import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import type { AuditEvent, Bundle, Parameters, Resource } from '@medplum/fhirtypes';
import { loadConfig } from '../../server/src/config/config.js';
import { auditDataDir } from '../../server/src/ledger/open-for-audit.js';
import { makeTempDataDir, startServer, type ServerProcess } from '../helpers/server-process.js';
import { createTestAuth, type TestAuth } from '../helpers/test-auth.js';

/**
 * Issue 6 §6, the crash test of the audit trail: the real server under a mixed read/write load
 * from several concurrent clients is SIGKILLed mid-load and restarted on the same data. Then:
 *
 * - every request that got a 2xx has its AuditEvent stored, and
 * - that AuditEvent and the version the request wrote or read have their leaves in the Merkle
 *   log (`$verify` does not say `mismatch`), and
 * - the full audit of the data directory (server stopped) finds nothing but leaves not anchored yet.
 * Twice over the same data directory.
 *
 * Finding each request's AuditEvent, deterministically: every request is sent with its own
 * access token whose fhirUser is a Practitioner reference naming that request alone
 * (`Practitioner/crash-r<round>-<client>-<n>`). The server records the token's fhirUser as the
 * requesting agent's `who`, so `AuditEvent?agent=Practitioner/crash-…` returns exactly the
 * events of that one request; the test then checks their subtype (the interaction), outcome,
 * and that an event names the version the response carried (`Type/id/_history/vid`).
 *
 * Timing only decides WHEN to kill; every acknowledged request is checked, whatever their number.
 */

const CREATE_LOOPS = 4;
const UPDATE_LOOPS = 2;
const READ_LOOPS = 4;
const SEARCH_LOOPS = 1;
const HOT_PATIENTS = 3;
const KILL_AFTER_ACKS = 300;
const LOAD_MS = 1500;
const MIN_ACKS = 50;
const ROUNDS = 2;
const VERIFY_CONCURRENCY = 12;

type Interaction = 'create' | 'update' | 'read' | 'vread' | 'search-type';

interface Ack {
  /** The request's own agent: `Practitioner/<tag>`. */
  tag: string;
  interaction: Interaction;
  /** The version the request wrote or read (none for a search). */
  ref?: string;
}

const FHIR_JSON = { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' };

async function call(base: string, authorization: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}/${path}`, { method, headers: { ...FHIR_JSON, authorization }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

test('after SIGKILL mid-load, every 2xx has its AuditEvent, every such version and event its leaf, and the full audit is clean; twice', { timeout: 120_000 }, async (t) => {
  const dataDir = makeTempDataDir('custodian-audit-crash-');
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
    t.diagnostic(`server up in ${Date.now() - t0} ms`);
    return s;
  };
  /** A token of its own for one request: its fhirUser names the request. */
  const tokenFor = async (server: ServerProcess, tag: string): Promise<string> =>
    `Bearer ${await issuer.token({ sub: tag, client_id: 'crash-load', fhirUser: `Practitioner/${tag}`, scope: 'system/*.cruds', roles: ['admin'], purpose_of_use: ['HSYSADMIN'], audience: server.baseUrl })}`;

  let server = await start();
  const hot: string[] = [];
  for (let i = 0; i < HOT_PATIENTS; i++) {
    const res = await call(server.baseUrl, server.authorization as string, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Hot', given: [`seed${i}`] }] });
    assert.equal(res.status, 201);
    hot.push(res.body.id as string);
  }

  for (let round = 1; round <= ROUNDS; round++) {
    // ---- load, then SIGKILL
    const acks: Ack[] = [];
    const written: string[] = hot.map((id) => `Patient/${id}`);
    const unexpected: string[] = [];
    let killed = false;
    let inFlight = 0;
    const base = server.baseUrl;
    const current = server;
    const send = async (tag: string, interaction: Interaction, method: string, path: string, body?: unknown): Promise<void> => {
      inFlight++;
      try {
        const res = await call(base, await tokenFor(current, tag), method, path, body);
        if (res.status >= 200 && res.status < 300) {
          const r = res.body as Resource | undefined;
          const ref = interaction === 'search-type' ? undefined : `${r?.resourceType}/${r?.id}/_history/${r?.meta?.versionId}`;
          acks.push({ tag, interaction, ...(ref ? { ref } : {}) });
          if (interaction === 'create' && r?.id) written.push(`${r.resourceType}/${r.id}`);
        } else if (!killed) {
          unexpected.push(`${method} ${path} -> ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
        }
      } catch (err) {
        if (!killed) unexpected.push(`${method} ${path} -> ${(err as Error).message}`);
      } finally {
        inFlight--;
      }
    };
    const loop = (name: string, count: number, step: (tag: string, n: number) => Promise<void>): Promise<void>[] =>
      Array.from({ length: count }, async (_, c) => {
        for (let n = 0; !killed; n++) await step(`crash-r${round}-${name}${c}-${n}`, n);
      });
    const loops = [
      ...loop('create', CREATE_LOOPS, (tag, n) =>
        send(tag, 'create', 'POST', 'Observation', {
          resourceType: 'Observation',
          status: 'final',
          code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
          subject: { reference: `Patient/${hot[n % hot.length]}` },
          valueQuantity: { value: 40 + (n % 120), unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
          note: [{ text: randomBytes(12).toString('hex') }],
        }),
      ),
      ...loop('update', UPDATE_LOOPS, (tag, n) => {
        const id = hot[n % hot.length] as string;
        return send(tag, 'update', 'PUT', `Patient/${id}`, { resourceType: 'Patient', id, name: [{ family: 'Hot', given: [tag] }] });
      }),
      ...loop('read', READ_LOOPS, (tag, n) => {
        const target = written[(n * 7919 + tag.length) % written.length] as string;
        return n % 3 === 2 ? send(tag, 'vread', 'GET', `${target}/_history/1`) : send(tag, 'read', 'GET', target);
      }),
      ...loop('search', SEARCH_LOOPS, (tag, n) => send(tag, 'search-type', 'GET', `Observation?subject=Patient/${hot[n % hot.length]}&_count=5`)),
    ];
    const started = Date.now();
    while (acks.length < KILL_AFTER_ACKS && Date.now() - started < LOAD_MS) await new Promise((r) => setTimeout(r, 20));
    while (acks.length < MIN_ACKS && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 20));
    const inFlightAtKill = inFlight;
    killed = true;
    server.child.kill('SIGKILL');
    const exit = await server.stop();
    await Promise.all(loops);
    assert.equal(exit.signal, 'SIGKILL');
    assert.deepEqual(unexpected.slice(0, 10), [], 'no request failed before the kill');
    assert.ok(acks.length >= MIN_ACKS, `at least ${MIN_ACKS} requests acknowledged (got ${acks.length})`);
    const counts = new Map<string, number>();
    for (const a of acks) counts.set(a.interaction, (counts.get(a.interaction) ?? 0) + 1);
    const byKind = [...counts].map(([k, v]) => `${k} ${v}`);
    t.diagnostic(`round ${round}: killed after ${Date.now() - started} ms, ${acks.length} requests acknowledged (${byKind.join(', ')}), ${inFlightAtKill} in flight`);

    // ---- restart: every acknowledged request has its AuditEvent, and it and the version have leaves
    server = await start();
    const t0 = Date.now();
    const admin = server.authorization as string;
    const failures: string[] = [];
    const verdict = async (path: string): Promise<string | undefined> => {
      const res = await call(server.baseUrl, admin, 'GET', path);
      if (res.status !== 200) return `HTTP ${res.status}`;
      return (res.body as Parameters).parameter?.find((p) => p.name === 'verdict')?.valueCode;
    };
    await pool(acks, VERIFY_CONCURRENCY, async (a) => {
      const res = await call(server.baseUrl, admin, 'GET', `AuditEvent?agent=Practitioner/${a.tag}&_count=50`);
      const events = ((res.body as Bundle).entry ?? []).map((e) => e.resource as AuditEvent);
      const mine = events.filter((e) => e.subtype?.some((s) => s.code === a.interaction) && e.outcome === '0');
      const event = a.ref ? mine.find((e) => e.entity?.some((x) => x.what?.reference === a.ref)) : mine[0];
      if (res.status !== 200 || !event) {
        failures.push(`${a.interaction} ${a.ref ?? ''} by ${a.tag}: no AuditEvent (${res.status}, ${events.length} events of that agent)`);
        return;
      }
      const ev = await verdict(`AuditEvent/${event.id}/$verify`);
      if (ev !== 'verified' && ev !== 'pending-anchor') failures.push(`AuditEvent/${event.id} (${a.tag}): $verify ${ev}`);
      if (a.ref) {
        const v = await verdict(`${a.ref}/$verify`);
        if (v !== 'verified' && v !== 'pending-anchor') failures.push(`${a.ref} (${a.tag}): $verify ${v}`);
      }
    });
    assert.deepEqual(failures.slice(0, 20), [], `${failures.length} of ${acks.length} acknowledged requests lack their AuditEvent or leaf`);
    t.diagnostic(`round ${round}: ${acks.length} requests' AuditEvents found and verified against the log in ${Date.now() - t0} ms`);

    // ---- the full audit of the data directory, the server stopped
    assert.deepEqual(await server.stop('SIGTERM'), { code: 0, signal: null }, 'graceful shutdown');
    const t1 = Date.now();
    const report = await auditDataDir(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' }));
    assert.deepEqual(
      report.findings.filter((f) => f.kind !== 'unanchored').slice(0, 20),
      [],
      'the full audit finds nothing but leaves not anchored yet',
    );
    assert.ok(report.ok);
    assert.ok(report.anchoredSize > 0 && report.anchoredCheckpoints > 0, 'checked against anchored checkpoints');
    assert.ok(report.checkedVersions >= acks.length / 2 && report.checkedLeaves >= report.checkedVersions);
    t.diagnostic(
      `round ${round}: full audit in ${Date.now() - t1} ms: ${report.checkedLeaves} leaves, ${report.checkedVersions} versions, ` +
        `anchored size ${report.anchoredSize} (${report.anchoredCheckpoints} checkpoints), ${report.logSize - report.anchoredSize} unanchored`,
    );
    if (round < ROUNDS) server = await start();
  }
});
