import assert from 'node:assert/strict';
import { chmodSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadDeidKey } from '../../server/src/ops/deidentify/deidentifier.js';
import { tempDirs } from '../helpers/temp-dirs.js';

describe('loadDeidKey: DATA_DIR/keys/deid.key', () => {
  const dataDir = tempDirs('deid-key');

  it('creates 32 random bytes with mode 0600 on first use, leaves no temporary file, and reuses them', () => {
    const dir = dataDir();
    const first = loadDeidKey(dir);
    const file = join(dir, 'keys', 'deid.key');
    assert.equal(first.length, 32);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(join(dir, 'keys')), ['deid.key']);
    assert.deepEqual(loadDeidKey(dir), first);
    // Another data directory gets another key.
    assert.notDeepEqual(loadDeidKey(dataDir()), first);
  });

  it('refuses a key file of the wrong length instead of using or replacing it', () => {
    const dir = dataDir();
    loadDeidKey(dir);
    const file = join(dir, 'keys', 'deid.key');
    writeFileSync(file, Buffer.alloc(16, 1), { mode: 0o600 });
    assert.throws(() => loadDeidKey(dir), /must hold 32 bytes/);
  });

  it('refuses a key file readable by group or others', () => {
    const dir = dataDir();
    loadDeidKey(dir);
    chmodSync(join(dir, 'keys', 'deid.key'), 0o644);
    assert.throws(() => loadDeidKey(dir), /0600/);
  });
});
