import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openFabric, type OpenFabric } from '../../ledger-adapter/fabric/index.js';
import type { AnchorReceipt, CheckpointToAnchor } from '../../ledger-adapter/src/anchor/ledger-port.js';
import { MerkleLog } from '../../ledger-adapter/src/log/merkle-log.js';
import { toBase64 } from '../../ledger-adapter/src/merkle/base64.js';
import { leafHashOf, newSalt } from '../../ledger-adapter/src/merkle/leaf.js';
import { buildReceipt } from '../../ledger-adapter/src/verify/receipt.js';
import { freePort } from '../helpers/server-process.js';
import { HarnessLog, fabricConfigFor, fabricEnv, startAnchorGateway } from '../support/fabric-gateway/adapter-harness.js';
import type { GatewayServer } from '../support/fabric-gateway/server.js';

/** The verify-receipt CLI, run as its own process (as `npm run verify` runs it). */
const repo = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const CLI = join(repo, 'ledger-adapter/src/cli/verify-receipt.ts');

interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** The environment without any FABRIC_* variable of the caller's, plus `env`. */
function envWith(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FABRIC_')));
  return { ...base, ...env };
}

function spawnRun(command: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd: repo, env: envWith(env), stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, out, err }));
  });
}

const run = (...args: string[]) => spawnRun(process.execPath, ['--import', 'tsx', CLI, ...args]);
/** The CLI with FABRIC_* set. */
const runWith = (env: Record<string, string>, ...args: string[]) => spawnRun(process.execPath, ['--import', 'tsx', CLI, ...args], env);
/** Once through npm, to check the `verify` script itself. */
const runNpm = (...args: string[]) => spawnRun('npm', ['run', '--silent', 'verify', '--', ...args]);

describe('verify-receipt CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'custodian-receipt-cli-'));
  const file = (name: string, content: unknown) => {
    const p = join(dir, name);
    writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
    return p;
  };
  const record = { resourceType: 'AuditEvent', id: 'ae-1', action: 'R' };
  let vkey = '';
  let receiptFile = '';
  let tamperedFile = '';

  before(async () => {
    const log = await MerkleLog.open({ dir: join(dir, 'log'), origin: 'custodian.test/cli', privateKey: generateKeyPairSync('ed25519').privateKey });
    const salts = [newSalt(), newSalt(), newSalt()];
    await log.append(salts.map((salt, i) => ({ key: `AuditEvent/ae-${i}`, salt, leafHash: leafHashOf(salt, { ...record, id: `ae-${i}` }) })));
    const receipt = buildReceipt(log, 1, await log.checkpoint());
    vkey = log.verifierKey;
    await log.close();
    receiptFile = file('receipt.json', receipt);
    tamperedFile = file('tampered.json', { ...receipt, leafIndex: 2 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 0 and prints every check for a receipt that verifies (key given inline or as a file)', async () => {
    const [r, viaFile] = await Promise.all([
      runNpm('--key', vkey, '--receipt', receiptFile, '--record', file('record.json', record)),
      run('--key', file('log.vkey', `${vkey}\n`), '--receipt', receiptFile),
    ]);
    assert.equal(r.code, 0, r.err);
    for (const check of ['format', 'signature', 'checkpoint', 'inclusion', 'record']) assert.match(r.out, new RegExp(`ok +${check} `));
    assert.match(r.out, /\nverified\n$/);
    assert.equal(viaFile.code, 0, viaFile.err);
  });

  it('exits 1 on a mismatch and says which check failed', async () => {
    const [wrongRecord, tampered] = await Promise.all([
      run('--key', vkey, '--receipt', receiptFile, '--record', file('other.json', { ...record, action: 'U' })),
      run('--key', vkey, '--receipt', tamperedFile),
    ]);
    assert.equal(wrongRecord.code, 1);
    assert.match(wrongRecord.out, /FAIL +record /);
    assert.match(wrongRecord.out, /\nmismatch\n$/);
    assert.equal(tampered.code, 1);
    assert.match(tampered.out, /FAIL +inclusion /);
  });

  it('exits 2 on bad usage', async () => {
    const cases: Array<[string, string[]]> = [
      ['no key', ['--receipt', receiptFile]],
      ['receipt not JSON', ['--key', vkey, '--receipt', file('bad.json', '{nope')]],
      ['bad key', ['--key', 'not-a-key', '--receipt', receiptFile]],
      ['unknown option', ['--key', vkey, '--receipt', receiptFile, '--bogus']],
    ];
    const results = await Promise.all(cases.map(([, args]) => run(...args)));
    results.forEach((r, i) => {
      assert.equal(r.code, 2, cases[i][0]);
      assert.match(r.err, /usage: npm run verify/, cases[i][0]);
    });
  });
});

/**
 * --fabric (issue 7 §5): the CLI reads FABRIC_* as the server does, connects, and checks that the
 * receipt's anchor is a Fabric anchor of the receipt's own signed checkpoint and that the channel
 * holds exactly it. The channel is the in-process Fabric Gateway running the anchor chaincode,
 * reached by the CLI's own process over loopback gRPC.
 */
describe('verify-receipt CLI --fabric', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'custodian-receipt-cli-fabric-'));
  const file = (name: string, content: unknown) => {
    const p = join(dir, name);
    writeFileSync(p, JSON.stringify(content, null, 2));
    return p;
  };
  let server: GatewayServer;
  let log: HarnessLog;
  let fabric: OpenFabric;
  let env: Record<string, string>;
  let cpA: CheckpointToAnchor;
  let cpC: CheckpointToAnchor;
  let anchorA: AnchorReceipt;
  let anchorB: AnchorReceipt;
  let goodFile = '';

  before(async () => {
    server = await startAnchorGateway();
    env = fabricEnv(server.address);
    log = await HarnessLog.open(join(dir, 'log'), 'custodian.test/cli-fabric');
    fabric = await openFabric(fabricConfigFor(server.address), { log: log.log, verifierKey: log.verifierKey });
    cpA = await log.next(3);
    anchorA = await fabric.ledger.anchor(cpA);
    anchorB = await fabric.ledger.anchor(await log.next(2));
    // Signed, never anchored.
    cpC = await log.next(1);
    goodFile = file('receipt.json', buildReceipt(log.log, 1, cpA, anchorA));
  });
  after(async () => {
    await fabric?.ledger.close();
    await log?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('exits 0 when the channel holds the anchor of the receipt\'s checkpoint (through npm too)', async () => {
    const [viaNpm, direct, offline] = await Promise.all([
      spawnRun('npm', ['run', '--silent', 'verify', '--', '--key', log.verifierKey, '--receipt', goodFile, '--fabric'], env),
      runWith(env, '--fabric', '--key', log.verifierKey, '--receipt', goodFile),
      // Without --fabric nothing is asked of Fabric, and FABRIC_* is not read.
      runWith({ FABRIC_PEER_ENDPOINT: 'not an endpoint' }, '--key', log.verifierKey, '--receipt', goodFile),
    ]);
    for (const r of [viaNpm, direct]) {
      assert.equal(r.code, 0, r.out + r.err);
      for (const check of ['format', 'signature', 'checkpoint', 'inclusion']) assert.match(r.out, new RegExp(`ok +${check} `));
      assert.match(r.out, new RegExp(`ok +fabric +anchored in transaction ${anchorA.txId} in block ${anchorA.blockNumber}, anchor 0 of the log \\(channel custodian, chaincode custodian-anchor at ${server.address}\\)`));
      assert.match(r.out, /\nverified\n$/);
    }
    assert.equal(offline.code, 0, offline.err);
    assert.doesNotMatch(offline.out, /(ok|FAIL) +fabric/);
  });

  it('exits 1 with the reason when Fabric disagrees or the anchor is not the receipt\'s', async () => {
    const forgedOfC = { ...anchorB, size: cpC.size, rootHash: toBase64(cpC.rootHash), proof: { ...(anchorB.proof as object), note: cpC.note } };
    const cases: Array<[string, unknown, RegExp]> = [
      ['anchoredAt changed', buildReceipt(log.log, 1, cpA, { ...anchorA, anchoredAt: '2020-01-01T00:00:00.000Z' }), /FAIL +fabric +Fabric disagrees \(channel custodian, .*\): the ledger anchored it at .*, not 2020-01-01T00:00:00.000Z/],
      ['another transaction', buildReceipt(log.log, 1, cpA, { ...anchorA, txId: anchorB.txId, proof: { ...(anchorA.proof as object), txId: anchorB.txId } }), new RegExp(`FAIL +fabric +Fabric disagrees .*in transaction ${anchorA.txId}, not ${anchorB.txId}`)],
      ['a checkpoint never anchored', buildReceipt(log.log, 5, cpC, forgedOfC), /FAIL +fabric +Fabric disagrees .*holds no anchor of custodian.test\/cli-fabric at size 6/],
      ['the anchor of another checkpoint', buildReceipt(log.log, 1, cpA, anchorB), /FAIL +fabric +the anchor is of custodian.test\/cli-fabric at size 5, .*not of the receipt's signed checkpoint \(custodian.test\/cli-fabric at size 3/],
    ];
    const results = await Promise.all(cases.map(([name, receipt]) => runWith(env, '--fabric', '--key', log.verifierKey, '--receipt', file(`${name.replace(/ /g, '-')}.json`, receipt))));
    results.forEach((r, i) => {
      const [name, , expected] = cases[i]!;
      assert.equal(r.code, 1, `${name}: ${r.out}${r.err}`);
      assert.match(r.out, expected, name);
      // The offline checks still pass: only Fabric tells these receipts apart.
      assert.match(r.out, /ok +inclusion /, name);
      assert.match(r.out, /\nmismatch\n$/, name);
    });
  });

  it('says so when the receipt is not a Fabric one (no anchor, or the embedded ledger\'s): exit 1', async () => {
    const embedded = { ledger: 'embedded', origin: cpA.origin, size: cpA.size, rootHash: toBase64(cpA.rootHash), anchoredAt: new Date().toISOString(), sequence: 0, proof: {} };
    const [none, other] = await Promise.all([
      runWith(env, '--fabric', '--key', log.verifierKey, '--receipt', file('unanchored.json', buildReceipt(log.log, 1, cpA))),
      runWith(env, '--fabric', '--key', log.verifierKey, '--receipt', file('embedded.json', buildReceipt(log.log, 1, cpA, embedded))),
    ]);
    assert.equal(none.code, 1, none.out + none.err);
    assert.match(none.out, /FAIL +fabric +the receipt carries no anchor .*: not a Fabric receipt/);
    assert.equal(other.code, 1, other.out + other.err);
    assert.match(other.out, /FAIL +fabric +the receipt is anchored in the "embedded" ledger, not Fabric: not a Fabric receipt/);
  });

  it('exits 3 when Fabric cannot be reached, 2 when FABRIC_* is missing or wrong', async () => {
    const closed = `127.0.0.1:${await freePort()}`;
    const [unreachable, noEnv, noKeyFile, tlsOffRemote] = await Promise.all([
      runWith(fabricEnv(closed), '--fabric', '--key', log.verifierKey, '--receipt', goodFile),
      runWith({}, '--fabric', '--key', log.verifierKey, '--receipt', goodFile),
      runWith({ ...env, FABRIC_KEY_FILE: join(dir, 'missing-key.pem') }, '--fabric', '--key', log.verifierKey, '--receipt', goodFile),
      runWith({ ...env, FABRIC_PEER_ENDPOINT: 'peer0.org1.example.com:7051' }, '--fabric', '--key', log.verifierKey, '--receipt', goodFile),
    ]);
    assert.equal(unreachable.code, 3, unreachable.out + unreachable.err);
    assert.match(unreachable.out, new RegExp(`FAIL +fabric +cannot check the anchor: Fabric could not be asked \\(channel custodian, chaincode custodian-anchor at ${closed}\\): .*UNAVAILABLE`));
    assert.match(unreachable.out, /ok +inclusion /);
    assert.match(unreachable.out, /\nunchecked: the offline checks passed, the Fabric anchor could not be checked\n$/);

    for (const [r, expected] of [
      [noEnv, /--fabric reads the Fabric connection from the environment, and FABRIC_PEER_ENDPOINT is not set \(also needed: .*FABRIC_MSP_ID, FABRIC_CERT_FILE, FABRIC_KEY_FILE\)/],
      [noKeyFile, /FABRIC_KEY_FILE: cannot read .*missing-key.pem: ENOENT/],
      [tlsOffRemote, /FABRIC_TLS: off is only allowed for a loopback endpoint/],
    ] as const) {
      assert.equal(r.code, 2, r.out + r.err);
      assert.match(r.err, expected);
      assert.match(r.err, /usage: npm run verify .*--fabric/);
      assert.equal(r.out, '', 'nothing is verified with a bad configuration');
      assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
    }
  });
});
