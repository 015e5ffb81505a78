import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadOrCreateLogKey } from '../../ledger-adapter/src/checkpoint/log-key.js';
import { MerkleLog } from '../../ledger-adapter/src/log/merkle-log.js';
import { LedgeredStore } from '../../server/src/ledger/ledgered-store.js';
import { versionKey } from '../../server/src/ledger/leaf-record.js';
import { VersionLog } from '../../server/src/ledger/version-log.js';
import { createEmbeddedStore } from '../../server/src/store/embedded/embedded-store.js';
import { killAfterAcks } from '../helpers/kill-after-acks.js';

/**
 * What an audited response waits for: the AuditEvent's store commit and its leaf's log append
 * (LedgeredStore.commit, which AuditSink awaits before the response). A guard for the commit
 * options of both LMDB environments (embedded-store.ts init(), ledger-adapter/src/log/schema.ts)
 * and for the awaits after each commit:
 *
 * 1. SIGKILL right after acknowledgements: a child commits AuditEvents one after another (as one
 *    connection does) and a few concurrently, printing each id the moment its commit resolves;
 *    it is killed mid-stream. Reopened, every acknowledged event is in the store and its leaf
 *    in the log.
 * 2. Flushed before acknowledged (needs strace; skipped without it): the same child runs under
 *    `strace -f`; between two acknowledgements, both files must have seen fdatasync/fsync AND
 *    their meta page written through LMDB's O_DSYNC descriptor (what makes the commit durable
 *    in lmdb-js's overlapping sync: data flushed, then the "flushed" meta written synchronously).
 *    A SIGKILL alone cannot catch noSync / noMetaSync / mapAsync (the page cache survives a
 *    process kill); this does, and it also catches an acknowledgement sent before the flush.
 */
const CHILD_ENV = 'CUSTODIAN_AUDIT_ACK_CHILD';
const ORIGIN = 'custodian.test/ack';

if (process.env[CHILD_ENV]) {
  await runChild(process.env[CHILD_ENV], Number(process.env.ACK_LIMIT ?? 0));
} else {
  describe('audited commit: acknowledged means durable', () => {
    const root = mkdtempSync(join(tmpdir(), 'custodian-audit-ack-'));
    after(() => rmSync(root, { recursive: true, force: true }));

    it('every AuditEvent acknowledged before SIGKILL is stored and has its leaf', async () => {
      const dir = join(root, 'kill');
      const acked = await runAndKill(dir, 60);
      assert.ok(acked.length >= 60, `child acknowledged ${acked.length} commits`);
      const { store, log } = await openAll(dir);
      try {
        for (const id of acked) {
          assert.ok(await store.readCurrent('AuditEvent', id), `acknowledged AuditEvent/${id} is stored`);
          assert.ok(log.leafIndicesOf(versionKey('AuditEvent', id, '1')).length > 0, `acknowledged AuditEvent/${id} has its leaf`);
        }
      } finally {
        await log.close();
        await store.close();
      }
    });

    const strace = spawnSync('strace', ['-V'], { stdio: 'ignore' }).status === 0;
    it('each acknowledgement follows a completed flush of the store and of the log', { skip: strace ? false : 'strace not installed' }, () => {
      const dir = join(root, 'trace');
      const out = join(root, 'strace.txt');
      const file = fileURLToPath(import.meta.url);
      const run = spawnSync(
        'strace',
        ['-f', '-qq', '-o', out, '-e', 'trace=openat,close,fsync,fdatasync,msync,pwrite64,write', '-e', 'signal=none', process.execPath, '--import', 'tsx', file],
        { env: { ...process.env, [CHILD_ENV]: dir, ACK_LIMIT: '20' }, encoding: 'utf8', timeout: 120_000 },
      );
      assert.equal(run.status, 0, `traced child failed: ${run.stderr}`);
      checkTrace(readFileSync(out, 'utf8'), join(dir, 'store', 'data.mdb'), join(dir, 'log', 'log', 'merkle-log.mdb'));
    });
  });
}

/** Walks the trace: per file, a flush (fdatasync/fsync) then a write on its O_DSYNC fd must both complete between two acks. */
function checkTrace(trace: string, storeFile: string, logFile: string): void {
  const files = { store: storeFile, log: logFile } as const;
  type Name = keyof typeof files;
  const plain = new Map<string, Name>();
  const dsync = new Map<string, Name>();
  const seen: Record<Name, { flushed: boolean; durableMeta: boolean }> = { store: { flushed: false, durableMeta: false }, log: { flushed: false, durableMeta: false } };
  let acks = 0;
  let measured = 0;
  const unfinished = new Map<string, string>();
  const opened = new Set<string>();
  for (const raw of trace.split('\n')) {
    // "<pid> syscall(args) = result", or split by another thread's call:
    // "<pid> syscall(args <unfinished ...>" … "<pid> <... syscall resumed>) = result"
    let line = raw;
    const pid = /^(\d+)\s/.exec(line)?.[1] ?? '';
    if (line.endsWith('<unfinished ...>')) {
      unfinished.set(pid, line.slice(0, -'<unfinished ...>'.length).trimEnd());
      continue;
    }
    const resumed = /^\d+\s+<\.\.\. \w+ resumed>(.*)$/.exec(line);
    if (resumed) {
      line = `${unfinished.get(pid) ?? ''}${resumed[1]}`;
      unfinished.delete(pid);
    }
    const m = /^\d+\s+(\w+)\((.*)\)\s+=\s+(-?\d+)/.exec(line);
    if (!m) continue;
    const [, call, args, result] = m as unknown as [string, string, string, string];
    if (call === 'close') {
      plain.delete(args.trim());
      dsync.delete(args.trim());
      continue;
    }
    if (call === 'openat') {
      for (const [name, path] of Object.entries(files) as Array<[Name, string]>) {
        if (!args.includes(`"${path}"`) || Number(result) < 0) continue;
        const sync = args.includes('O_DSYNC') || args.includes('O_SYNC');
        (sync ? dsync : plain).set(result, name);
        opened.add(`${name}:${sync ? 'dsync' : 'plain'}`);
      }
      continue;
    }
    const fd = args.split(',')[0]?.trim() ?? '';
    if ((call === 'fdatasync' || call === 'fsync') && plain.has(fd) && result === '0') seen[plain.get(fd) as Name].flushed = true;
    else if (call === 'pwrite64' && dsync.has(fd) && Number(result) > 0) {
      const s = seen[dsync.get(fd) as Name];
      // The meta written synchronously only counts once the data before it was flushed.
      if (s.flushed) s.durableMeta = true;
    } else if (call === 'write' && fd === '1' && args.includes('ack ')) {
      acks++;
      // The first acknowledgements may share flushes with the stores' own opening; count the rest.
      if (acks > 2) {
        for (const name of Object.keys(files) as Name[]) {
          assert.ok(seen[name].flushed, `ack ${acks}: no fdatasync/fsync of the ${name} file since the previous ack`);
          assert.ok(seen[name].durableMeta, `ack ${acks}: the ${name} file's meta page was not written through its O_DSYNC fd after the flush`);
        }
        measured++;
      }
      for (const name of Object.keys(files) as Name[]) seen[name] = { flushed: false, durableMeta: false };
    }
  }
  assert.equal(opened.size, 4, `the trace opens both files, plainly and O_DSYNC: ${[...opened].join(', ')}`);
  assert.ok(measured >= 10, `acknowledgements checked: ${measured}`);
}

async function openAll(dir: string) {
  const store = createEmbeddedStore({ path: join(dir, 'store') });
  await store.init();
  const key = await loadOrCreateLogKey(join(dir, 'log', 'keys'), ORIGIN);
  const log = await MerkleLog.open({ dir: join(dir, 'log', 'log'), origin: ORIGIN, privateKey: key.privateKey });
  return { store, log };
}

async function runAndKill(dir: string, atLeast: number): Promise<string[]> {
  const acked: string[] = [];
  const onLine = (line: string): void => {
    const [tag, id] = line.split(' ');
    if (tag === 'ack' && id) acked.push(id);
  };
  await killAfterAcks(fileURLToPath(import.meta.url), { [CHILD_ENV]: dir }, onLine, () => acked.length, atLeast);
  return acked;
}

/** Commits AuditEvents through LedgeredStore (store commit, then leaf), printing each id once acknowledged. */
async function runChild(dir: string, limit: number): Promise<void> {
  const { store: base, log } = await openAll(dir);
  const store = new LedgeredStore(base, new VersionLog(log));
  let n = 0;
  const commitOne = async (tag: string): Promise<void> => {
    const id = `${tag}-${process.pid}-${n++}`;
    const now = new Date().toISOString();
    await store.commit({ ops: [{ kind: 'create', resourceType: 'AuditEvent', id, resource: { resourceType: 'AuditEvent', id, recorded: now } as never, index: {} }], now });
    // Synchronous, so the line leaves before anything else runs (and is one write(2) under strace).
    writeSync(1, `ack ${id}\n`);
  };
  for (let i = 0; limit === 0 || i < limit; i++) {
    await commitOne('seq');
    // Now and then a few at once: they share transactions (group commit) and are still acknowledged only once durable.
    if (limit === 0 && i % 10 === 9) await Promise.all([commitOne('par'), commitOne('par'), commitOne('par')]);
  }
  await log.close();
  await base.close();
}
