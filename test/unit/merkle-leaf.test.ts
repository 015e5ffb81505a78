import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
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

  it('hashes a leaf exactly as before: a known answer from the canonicalize package era', () => {
    // Computed with canonicalize 4.0.0 (the implementation the first logs were written with):
    // every leaf already in a log must still recompute to its hash.
    const record = {
      format: 'custodian-leaf/v1',
      key: 'Observation/obs-ü1/_history/3',
      lastUpdated: '2025-03-01T12:00:00.000Z',
      deleted: false,
      resource: {
        resourceType: 'Observation',
        id: 'obs-ü1',
        meta: { versionId: '3', lastUpdated: '2025-03-01T12:00:00.000Z', security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PSY' }] },
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '2345-7', display: 'Glucose "fasting"\n\t€ 😀' }], text: 'Ωmega\u2028line' },
        subject: { reference: 'Patient/p1' },
        valueQuantity: { value: 1e21, unit: 'mg/dL' },
        component: [{ valueInteger: -0 }, { valueDecimal: 5e-324 }, { valueDecimal: 0.1 + 0.2 }],
        extension: [{ url: 'x', valueString: '\u0000\u001f\u007f' }],
        note: [{ text: 'é' }],
        '\u20ac': 1,
        '\r': 2,
        '1': 3,
        '\ud83d\ude00': 4,
        '\ufb33': 5,
      },
    };
    const salt = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
    const want = 'df8525480e4a74e6c7d5db7fbba2424572fb0c5c71bbcdc3d5e98836808b3faa';
    assert.equal(Buffer.from(leafHashOf(salt, record)).toString('hex'), want);
    assert.equal(Buffer.from(leafHash(leafInputOf(salt, record))).toString('hex'), want);
  });

  it('property: leafHashOf(salt, record) = leafHash(leafInputOf(salt, record))', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: SALT_SIZE, maxLength: SALT_SIZE }), fc.jsonValue(), (salt, record) => {
        assert.deepEqual(Buffer.from(leafHashOf(salt, record)), Buffer.from(leafHash(leafInputOf(salt, record))));
      }),
      { numRuns: 300 },
    );
    assert.throws(() => leafHashOf(new Uint8Array(31), {}), TypeError);
  });
});

