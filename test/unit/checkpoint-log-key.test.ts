import assert from 'node:assert/strict';
import { sign, verify } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadOrCreateLogKey, logKeyFile } from '../../ledger-adapter/src/checkpoint/log-key.js';
import { parseVerifierKey } from '../../ledger-adapter/src/checkpoint/note.js';

describe('loadOrCreateLogKey', () => {
  const root = mkdtempSync(join(tmpdir(), 'custodian-logkey-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('creates an Ed25519 PKCS#8 PEM key with mode 0600 on first use and loads the same key after', async () => {
    const dir = join(root, 'keys');
    const first = await loadOrCreateLogKey(dir, 'custodian.example/log');
    assert.equal(first.created, true);
    assert.equal(statSync(first.file).mode & 0o777, 0o600);
    assert.match((await import('node:fs')).readFileSync(first.file, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
    assert.deepEqual(readdirSync(dir), [first.file.slice(dir.length + 1)], 'no temporary file left behind');

    const second = await loadOrCreateLogKey(dir, 'custodian.example/log');
    assert.equal(second.created, false);
    assert.equal(second.verifierKey, first.verifierKey);
    const msg = Buffer.from('x');
    assert.ok(verify(null, msg, second.publicKey, sign(null, msg, first.privateKey)));

    const vk = parseVerifierKey(first.verifierKey);
    assert.ok(vk.ok);
    assert.equal(vk.value.name, 'custodian.example/log');
  });

  it('keeps one key per name, and concurrent first uses agree on one key', async () => {
    const dir = join(root, 'race');
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateLogKey(dir, 'a/b')));
    assert.equal(new Set(keys.map((k) => k.verifierKey)).size, 1);
    assert.equal(keys.filter((k) => k.created).length, 1);
    const other = await loadOrCreateLogKey(dir, 'a_b');
    assert.notEqual(logKeyFile(dir, 'a/b'), logKeyFile(dir, 'a_b'));
    assert.notEqual(other.verifierKey, keys[0].verifierKey);
  });

  it('refuses an invalid name or a file that is not an Ed25519 key', async () => {
    await assert.rejects(loadOrCreateLogKey(join(root, 'bad'), 'has space'), TypeError);
    const dir = join(root, 'wrong');
    await loadOrCreateLogKey(dir, 'n');
    writeFileSync(logKeyFile(dir, 'n'), 'not a key');
    await assert.rejects(loadOrCreateLogKey(dir, 'n'));
  });
});
