import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MerkleLog } from '../../ledger-adapter/src/log/merkle-log.js';
import { leafHashOf, newSalt } from '../../ledger-adapter/src/merkle/leaf.js';
import { buildReceipt } from '../../ledger-adapter/src/verify/receipt.js';

/** The verify-receipt CLI, run as its own process (as `npm run verify` runs it). */
const repo = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const CLI = join(repo, 'ledger-adapter/src/cli/verify-receipt.ts');

interface Run {
  code: number | null;
  out: string;
  err: string;
}

function spawnRun(command: string, args: string[]): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, out, err }));
  });
}

const run = (...args: string[]) => spawnRun(process.execPath, ['--import', 'tsx', CLI, ...args]);
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
