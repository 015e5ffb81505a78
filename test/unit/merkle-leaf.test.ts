import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { EMPTY_ROOT, leafHash, nodeHash } from '../../ledger-adapter/src/merkle/hash.js';
import { leafHashOf, leafInputOf, newSalt, SALT_SIZE } from '../../ledger-adapter/src/merkle/leaf.js';

const sha256 = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

describe('merkle hashing and leaves', () => {
  it('hashes leaves and nodes with the RFC 9162 domain prefixes', () => {
    assert.equal(Buffer.from(EMPTY_ROOT).toString('hex'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    // RFC 6962 test tree: the leaf hash of the empty input.
    assert.equal(Buffer.from(leafHash(new Uint8Array())).toString('hex'), '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
    const a = leafHash(Buffer.from('a'));
    const b = leafHash(Buffer.from('b'));
    assert.equal(Buffer.from(nodeHash(a, b)).toString('hex'), sha256(Buffer.from([1]), a, b));
  });

  it('builds the leaf input as salt || UTF-8 canonical JSON, as documented', () => {
    const salt = new Uint8Array(SALT_SIZE);
    const input = leafInputOf(salt, { b: 1, a: 'x' });
    assert.equal(Buffer.from(input).toString('hex'), '00'.repeat(32) + Buffer.from('{"a":"x","b":1}').toString('hex'));
    assert.equal(
      Buffer.from(leafHashOf(salt, { b: 1, a: 'x' })).toString('hex'),
      sha256(Buffer.from([0]), salt, Buffer.from('{"a":"x","b":1}', 'utf8')),
    );
    // Non-ASCII goes in as UTF-8.
    assert.equal(Buffer.from(leafInputOf(salt, 'é')).subarray(32).toString('hex'), '22c3a922');
  });

  it('separates records by salt and by content; member order does not matter', () => {
    const s1 = newSalt();
    const s2 = newSalt();
    assert.equal(s1.length, 32);
    assert.notDeepEqual(s1, s2);
    const record = { resourceType: 'AuditEvent', id: '1', outcome: '0' };
    assert.notDeepEqual(leafHashOf(s1, record), leafHashOf(s2, record));
    assert.notDeepEqual(leafHashOf(s1, record), leafHashOf(s1, { ...record, id: '2' }));
    assert.deepEqual(leafHashOf(s1, record), leafHashOf(s1, { outcome: '0', id: '1', resourceType: 'AuditEvent' }));
  });

  it('refuses a salt of the wrong size', () => {
    assert.throws(() => leafInputOf(new Uint8Array(31), {}), TypeError);
    assert.throws(() => leafInputOf('x'.repeat(32) as unknown as Uint8Array, {}), TypeError);
  });
});
