import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent, Resource } from '@medplum/fhirtypes';
import { open, type Database } from 'lmdb';
import { pino } from 'pino';
import { ANCHOR_CHAIN_FILE } from '../../ledger-adapter/src/anchor/embedded-anchor.js';
import { formatCheckpoint } from '../../ledger-adapter/src/checkpoint/checkpoint.js';
import { logKeyFile } from '../../ledger-adapter/src/checkpoint/log-key.js';
import { signNote } from '../../ledger-adapter/src/checkpoint/note.js';
import { openLogEnv, type LogEnv } from '../../ledger-adapter/src/log/schema.js';
import { SERVER_PRINCIPAL, type Principal } from '../../server/src/auth/principal.js';
import { loadConfig } from '../../server/src/config/config.js';
import { openDependencies } from '../../server/src/dependencies.js';
import type { FhirResponse } from '../../server/src/fhir/fhir-request.js';
import type { AuditFinding, FullAuditReport } from '../../server/src/ledger/full-audit.js';
import { versionKey } from '../../server/src/ledger/leaf-record.js';
import { auditDataDir } from '../../server/src/ledger/open-for-audit.js';
import { REPO_ROOT } from '../helpers/server-process.js';
import { LEAF_KEYS_FILE } from '../../ledger-adapter/src/log/leaf-key-index.js';

/**
 * Issue 6 §5-§6: the full audit detects tampering injected straight into the store's and the
 * log's files. One data directory is built through the real server core (resources, versions,
 * a deletion, audited reads and writes, two anchored checkpoints), closed, and copied for each
 * case; each case edits the copy's LMDB environments or anchor chain as someone with access to
 * the disk would, then audits it with the data directory opened read-only.
 */
const BASE = 'http://localhost:8080/fhir';
/** A client of the server (not the server itself): its requests are audited. */
const CLIENT: Principal = { ...SERVER_PRINCIPAL, subject: 'dr-audit', clientId: 'audit-test-client', purposeOfUse: ['TREAT'] };

interface Built {
  p1: string;
  p2: string;
  o1: string;
  /** An AuditEvent recorded for one of the requests. */
  event: string;
  /** Sizes of the two anchored checkpoints. */
  sizeA: number;
  sizeB: number;
  /** Leaf index of each version key. */
  leafOf: Map<string, number>;
  /** Keys of the leaves [sizeA, sizeB), in order. */
  keysAfterA: string[];
  origin: string;
}

const configFor = (dir: string) => loadConfig({ DATA_DIR: dir, SEED_ON_FIRST_START: 'false', BASE_URL: BASE, LOG_LEVEL: 'silent' });

async function build(dir: string): Promise<Built> {
  const config = loadConfig({ DATA_DIR: dir, SEED_ON_FIRST_START: 'false', BASE_URL: BASE, CHECKPOINT_INTERVAL_MS: '3600000' });
  const deps = await openDependencies(config, pino({ level: 'silent' }));
  try {
    const call = async (method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<FhirResponse> => {
      const res = await deps.service.handle({ method, path, query: {}, ...(body ? { body } : {}), headers: {}, baseUrl: BASE, principal: CLIENT });
      assert.ok(res.status < 300, `${method} ${path} -> ${res.status} ${JSON.stringify(res.body)}`);
      return res;
    };
    const patient = (family: string) => ({ resourceType: 'Patient', name: [{ family, given: ['Ada'] }], gender: 'female' });
    const p1 = ((await call('POST', 'Patient', patient('Lovelace'))).body as Resource).id as string;
    await call('PUT', `Patient/${p1}`, { ...patient('Lovelace-King'), id: p1 });
    await call('PUT', `Patient/${p1}`, { ...patient('King'), id: p1 });
    const obs = { resourceType: 'Observation', status: 'final', code: { text: 'heart rate' }, subject: { reference: `Patient/${p1}` }, valueQuantity: { value: 72, unit: '/min' } };
    const o1 = ((await call('POST', 'Observation', obs)).body as Resource).id as string;
    await call('DELETE', `Observation/${o1}`);
    await call('GET', `Patient/${p1}`);
    await call('GET', `Patient/${p1}/_history/1`);
    const a = await deps.ledger.checkpointNow();
    await deps.ledger.outbox.drain();
    // A version relabelled in place ($meta-add semantics, consent/relabel.ts): a second leaf for
    // the same key, which describes the stored body from now on.
    const v3 = (await deps.store.readVersion('Patient', p1, '3')) as { resource: Resource };
    const meta = v3.resource.meta ?? {};
    await deps.store.updateIndex('Patient', [{ id: p1, index: {}, resource: { ...v3.resource, meta: { ...meta, tag: [...(meta.tag ?? []), { system: 'urn:test', code: 'relabelled' }] } } }]);
    assert.equal(deps.ledger.log.leafIndicesOf(`Patient/${p1}/_history/3`).length, 2);
    const p2 = ((await call('POST', 'Patient', patient('Byron'))).body as Resource).id as string;
    await call('PUT', `Patient/${p2}`, { ...patient('Byron-Noel'), id: p2 });
    await call('GET', `Patient/${p2}`);
    const b = await deps.ledger.checkpointNow();
    await deps.ledger.outbox.drain();
    assert.ok(a && b && a.size < b.size);

    const log = deps.ledger.log;
    assert.equal(log.size, b.size, 'nothing was appended after the second anchor');
    const leafOf = new Map<string, number>();
    for (let i = 0; i < log.size; i++) leafOf.set((log.leaf(i) as { key: string }).key, i);
    const keysAfterA: string[] = [];
    for (let i = a.size; i < b.size; i++) keysAfterA.push((log.leaf(i) as { key: string }).key);
    const events = await deps.store.history({ resourceType: 'AuditEvent', limit: 100 });
    const read = events.entries.find((e) => (e.resource as AuditEvent).subtype?.[0]?.code === 'read');
    assert.ok(read, 'the reads were audited');
    assert.ok(leafOf.has(versionKey('AuditEvent', read.id, '1')), 'AuditEvents are leaves');
    return { p1, p2, o1, event: read.id, sizeA: a.size, sizeB: b.size, leafOf, keysAfterA, origin: log.origin };
  } finally {
    await deps.close();
  }
}

/** The store's LMDB environment, opened as the embedded store opens it. */
async function withStore(dir: string, fn: (db: StoreDbs) => void): Promise<void> {
  const root = open({ path: join(dir, 'store'), compression: false, maxDbs: 8 });
  try {
    const dbs: StoreDbs = { current: root.openDB({ name: 'current' }), versions: root.openDB({ name: 'versions' }), typeLog: root.openDB({ name: 'type-log' }) };
    root.transactionSync(() => fn(dbs));
    await root.flushed;
  } finally {
    await root.close();
  }
}
interface StoreDbs {
  current: Database;
  versions: Database;
  typeLog: Database;
}
interface StoredRecord {
  resourceType: string;
  id: string;
  versionId: string;
  lastUpdated: string;
  deleted: boolean;
  json?: string;
}

/** The log's LMDB environment (ledger-adapter/src/log/schema.ts). */
type TamperEnv = LogEnv & { keys: Database<Buffer, [string, number]> };

/** Edits the log's files directly: its LMDB environment, and the derived key index beside it. */
async function withLog(dir: string, fn: (env: TamperEnv) => void): Promise<void> {
  const logDir = join(dir, 'ledger', 'log');
  const env = openLogEnv(logDir);
  const keysRoot = open({ path: join(logDir, LEAF_KEYS_FILE), compression: false, maxDbs: 4 });
  const keys = keysRoot.openDB<Buffer, [string, number]>({ name: 'keys', encoding: 'binary' });
  try {
    keysRoot.transactionSync(() => env.root.transactionSync(() => fn({ ...env, keys })));
    await env.root.flushed;
    await keysRoot.flushed;
  } finally {
    await keysRoot.close();
    await env.root.close();
  }
}

const summary = (r: FullAuditReport) => r.findings.map((f) => [f.kind, f.key, f.size !== undefined ? `@${f.size}` : undefined].filter(Boolean).join(' '));
const ofKind = (r: FullAuditReport, kind: AuditFinding['kind']) => r.findings.filter((f) => f.kind === kind);

describe('full audit: tamper injection into the store and log files', () => {
  const root = mkdtempSync(join(tmpdir(), 'custodian-full-audit-'));
  const pristine = join(root, 'pristine');
  let built: Built;
  let n = 0;
  /** A fresh copy of the built data directory. */
  const copy = (): string => {
    const dir = join(root, `case-${++n}`);
    cpSync(pristine, dir, { recursive: true });
    return dir;
  };

  before(async () => {
    built = await build(pristine);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('a clean data directory passes with no findings, every leaf and version checked against both anchors', async () => {
    const r = await auditDataDir(configFor(copy()));
    assert.deepEqual(r.findings, []);
    assert.equal(r.ok, true);
    assert.equal(r.logSize, built.sizeB);
    assert.equal(r.checkedLeaves, built.sizeB);
    assert.equal(r.anchoredSize, built.sizeB);
    assert.equal(r.anchoredCheckpoints, 2);
    assert.equal(r.checkedVersions, built.leafOf.size, 'every stored version has its leaves');
    assert.equal(r.checkedVersions, built.sizeB - 1, 'one leaf per version, two for the relabelled one');
  });

  it('an AuditEvent edited in the store is `modified`', async () => {
    const dir = copy();
    await withStore(dir, ({ versions, current }) => {
      const key = ['AuditEvent', built.event, 1];
      const rec = versions.get(key) as StoredRecord;
      const ev = JSON.parse(rec.json as string) as AuditEvent;
      const edited = { ...rec, json: JSON.stringify({ ...ev, outcome: '0', agent: ev.agent?.map((a) => ({ ...a, who: { reference: 'Practitioner/someone-else' } })) }) };
      versions.put(key, edited);
      current.put(['AuditEvent', built.event], edited);
    });
    const r = await auditDataDir(configFor(dir));
    assert.deepEqual(summary(r), [`modified AuditEvent/${built.event}/_history/1`]);
    assert.equal(r.findings[0]?.leafIndex, built.leafOf.get(`AuditEvent/${built.event}/_history/1`));
    assert.equal(r.ok, false);
  });

  it('an old resource version edited in the store is `modified`', async () => {
    const dir = copy();
    await withStore(dir, ({ versions }) => {
      const key = ['Patient', built.p1, 1];
      const rec = versions.get(key) as StoredRecord;
      versions.put(key, { ...rec, json: (rec.json as string).replace('Lovelace', 'Babbage') });
    });
    const r = await auditDataDir(configFor(dir));
    assert.deepEqual(summary(r), [`modified Patient/${built.p1}/_history/1`]);
  });

  it('a version deleted from the store is `deleted`', async () => {
    const dir = copy();
    await withStore(dir, ({ versions }) => {
      assert.ok(versions.get(['Patient', built.p1, 2]));
      versions.remove(['Patient', built.p1, 2]);
    });
    const r = await auditDataDir(configFor(dir));
    assert.deepEqual(summary(r), [`deleted Patient/${built.p1}/_history/2`]);
    assert.equal(r.findings[0]?.leafIndex, built.leafOf.get(`Patient/${built.p1}/_history/2`));
  });

  it('a version slipped into the store (old timestamp, so no restart would log it) is `inserted`', async () => {
    const dir = copy();
    await withStore(dir, ({ versions, current, typeLog }) => {
      const rec = versions.get(['Patient', built.p2, 2]) as StoredRecord;
      const forged: StoredRecord = { ...rec, versionId: '3', lastUpdated: '2019-01-01T00:00:00.000Z', json: JSON.stringify({ ...JSON.parse(rec.json as string), meta: { versionId: '3', lastUpdated: '2019-01-01T00:00:00.000Z' }, deceasedBoolean: true }) };
      versions.put(['Patient', built.p2, 3], forged);
      current.put(['Patient', built.p2], forged);
      typeLog.put(['Patient', Date.parse(forged.lastUpdated), 1e9], [built.p2, 3]);
    });
    const r = await auditDataDir(configFor(dir));
    assert.deepEqual(summary(r), [`inserted Patient/${built.p2}/_history/3`]);
  });

  it('two leaf records swapped in the log are `reordered`: the later version at the earlier leaf, and the anchored root they no longer hash to', async () => {
    const dir = copy();
    const i = built.leafOf.get(`Patient/${built.p1}/_history/1`) as number;
    const j = built.leafOf.get(`Patient/${built.p1}/_history/2`) as number;
    await withLog(dir, ({ leaves }) => {
      const a = Buffer.from(leaves.get(i) as Buffer);
      const b = Buffer.from(leaves.get(j) as Buffer);
      leaves.put(i, b);
      leaves.put(j, a);
    });
    const r = await auditDataDir(configFor(dir));
    assert.deepEqual(new Set(r.findings.map((f) => f.kind)), new Set(['reordered']), JSON.stringify(r.findings));
    const byLeaf = ofKind(r, 'reordered').filter((f) => f.leafIndex !== undefined);
    // Each leaf names its key, so the later version now sits at the earlier leaf.
    assert.deepEqual(byLeaf.map((f) => [f.leafIndex, f.key]), [[i, `Patient/${built.p1}/_history/2`]]);
    assert.ok(j > i);
    const root = ofKind(r, 'reordered').find((f) => f.size !== undefined);
    assert.equal(root?.size, built.sizeA, 'caught at the first anchored checkpoint after the change');
    assert.deepEqual(root?.leaves, [0, built.sizeA]);
  });

  it('swapped leaves whose key index was swapped too (a careful attacker) are still `reordered`: the audit derives the index from the leaves', async () => {
    const dir = copy();
    const k1 = `Patient/${built.p1}/_history/1`;
    const k2 = `Patient/${built.p1}/_history/2`;
    const i = built.leafOf.get(k1) as number;
    const j = built.leafOf.get(k2) as number;
    await withLog(dir, ({ leaves, keys }) => {
      const a = Buffer.from(leaves.get(i) as Buffer);
      const b = Buffer.from(leaves.get(j) as Buffer);
      leaves.put(i, b);
      leaves.put(j, a);
      keys.remove([k1, i]);
      keys.remove([k2, j]);
      keys.put([k1, j], Buffer.alloc(0));
      keys.put([k2, i], Buffer.alloc(0));
    });
    const r = await auditDataDir(configFor(dir));
    assert.deepEqual(summary(r).sort(), [`reordered @${built.sizeA}`, `reordered ${k2}`].sort(), JSON.stringify(r.findings));
    assert.match(ofKind(r, 'reordered').find((f) => f.key === k2)?.detail ?? '', /comes before leaf/);
  });

  it('a truncated log (last leaves, their keys and the newer checkpoint removed, size fixed) is `log-truncated`; the versions cut off are `inserted` (`modified` for the relabelled one)', async () => {
    const dir = copy();
    await withLog(dir, ({ leaves, keys, meta, checkpoints }) => {
      for (let i = built.sizeA; i < built.sizeB; i++) {
        keys.remove([built.keysAfterA[i - built.sizeA] as string, i]);
        leaves.remove(i);
      }
      checkpoints.remove(built.sizeB);
      meta.put('latestCheckpoint', built.sizeA);
      meta.put('size', built.sizeA);
    });
    const r = await auditDataDir(configFor(dir));
    assert.deepEqual(ofKind(r, 'log-truncated').map((f) => [f.size, f.leaves]), [[built.sizeB, [built.sizeA, built.sizeB]]]);
    // Versions whose only leaves were cut have none left; the relabelled version keeps its first
    // leaf, which no longer describes the stored (relabelled) body.
    const relabelled = `Patient/${built.p1}/_history/3`;
    assert.ok(built.keysAfterA.includes(relabelled));
    assert.deepEqual(ofKind(r, 'inserted').map((f) => f.key).sort(), built.keysAfterA.filter((k) => k !== relabelled).sort());
    assert.deepEqual(ofKind(r, 'modified').map((f) => f.key), [relabelled]);
    assert.deepEqual(new Set(r.findings.map((f) => f.kind)), new Set(['log-truncated', 'inserted', 'modified']), JSON.stringify(summary(r)));
    assert.equal(r.logSize, built.sizeA);
  });

  it('a log cut without fixing its checkpoint records does not even open: `unreadable`', async () => {
    const dir = copy();
    await withLog(dir, ({ leaves, meta }) => {
      leaves.remove(built.sizeB - 1);
      meta.put('size', built.sizeB - 1);
    });
    const r = await auditDataDir(configFor(dir));
    assert.deepEqual(summary(r), ['unreadable']);
    assert.match(r.findings[0]?.detail ?? '', /checkpoint was signed at size/);
  });

  it('the stored signed checkpoint swapped for one signed by another key is a `checkpoint-mismatch`', async () => {
    const dir = copy();
    await withLog(dir, ({ checkpoints }) => {
      const cp = checkpoints.get(built.sizeB) as { rootHash: Uint8Array; note: string; signedAt: string };
      const other = generateKeyPairSync('ed25519').privateKey;
      const note = signNote(formatCheckpoint({ origin: built.origin, size: built.sizeB, rootHash: cp.rootHash }), built.origin, other);
      checkpoints.put(built.sizeB, { ...cp, note });
    });
    const r = await auditDataDir(configFor(dir));
    assert.deepEqual(summary(r), [`checkpoint-mismatch @${built.sizeB}`]);
    assert.match(r.findings[0]?.detail ?? '', /not the anchored one.*does not verify with the log key/);
  });

  it('the stored signed checkpoint swapped for one of another root, signed with the log key itself, is a `checkpoint-mismatch`', async () => {
    const dir = copy();
    const key = createPrivateKey(readFileSync(logKeyFile(join(dir, 'ledger', 'keys'), built.origin), 'utf8'));
    await withLog(dir, ({ checkpoints }) => {
      const cp = checkpoints.get(built.sizeA) as { rootHash: Uint8Array; note: string; signedAt: string };
      const rootHash = randomBytes(32);
      checkpoints.put(built.sizeA, { ...cp, rootHash, note: signNote(formatCheckpoint({ origin: built.origin, size: built.sizeA, rootHash }), built.origin, key) });
    });
    const r = await auditDataDir(configFor(dir));
    assert.deepEqual(summary(r), [`checkpoint-mismatch @${built.sizeA}`]);
    assert.match(r.findings[0]?.detail ?? '', /not the anchored one/);
  });

  it('a stored tree node rewritten is a `checkpoint-mismatch` (the root is folded from the leaves, not from the nodes)', async () => {
    const dir = copy();
    const level = Math.floor(Math.log2(built.sizeB));
    await withLog(dir, ({ nodes }) => {
      assert.ok(nodes.get([level, 0]), 'the top complete subtree is stored');
      nodes.put([level, 0], randomBytes(32));
    });
    const r = await auditDataDir(configFor(dir));
    assert.deepEqual(summary(r), [`checkpoint-mismatch @${built.sizeB}`]);
    assert.match(r.findings[0]?.detail ?? '', /stored nodes give root/);
  });

  it('an edited anchor chain entry is reported as `anchor-chain`; nothing can then be checked against it', async () => {
    const dir = copy();
    const file = join(dir, 'ledger', 'anchor', ANCHOR_CHAIN_FILE);
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[0] = (lines[0] as string).replace(/"anchoredAt":"(\d{4})/, (_m, y: string) => `"anchoredAt":"${Number(y) - 1}`);
    writeFileSync(file, lines.join('\n'));
    const r = await auditDataDir(configFor(dir));
    assert.ok(ofKind(r, 'anchor-chain').some((f) => /entry 0 \(hash\)/.test(f.detail)), JSON.stringify(summary(r)));
    assert.deepEqual(new Set(r.findings.map((f) => f.kind)), new Set(['anchor-chain', 'unanchored']));
    assert.equal(r.ok, false);
  });

  it('npm run audit-log: exit 0 on the clean copy, 1 with the findings listed on a tampered one, 2 without a data directory', async () => {
    const clean = copy();
    const tampered = copy();
    await withStore(tampered, ({ versions }) => {
      versions.remove(['Patient', built.p1, 3]);
    });
    const [ok, bad, none] = await Promise.all([runCli(clean), runCli(tampered, ['--json']), runCli(join(root, 'no-such-dir'))]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^OK: /m);
    assert.equal(bad.code, 1, bad.stderr);
    const report = JSON.parse(bad.stdout) as FullAuditReport;
    assert.deepEqual(summary(report), [`deleted Patient/${built.p1}/_history/3`]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no Merkle log/);
  });
});

function runCli(dataDir: string, args: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'server/src/cli/audit-log.ts'), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
