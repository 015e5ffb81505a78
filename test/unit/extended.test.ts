import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { extended } from '../../server/src/fhir/extended.js';

/** extended() stands in for `{ ...base, ...extra }` on hot paths: same keys, values and order. */
describe('extended', () => {
  const key = fc.constantFrom('id', 'meta', 'index', '_consent', 'versionId', 'lastUpdated', 'a', 'b', '0', '10');
  const obj = fc.dictionary(key, fc.oneof(fc.integer(), fc.string(), fc.constant(undefined)), { maxKeys: 6 });

  it('equals the spread it replaces, key order included', () => {
    fc.assert(
      fc.property(fc.option(obj, { nil: undefined }), obj, (base, extra) => {
        const got = extended(base, extra);
        const spread = { ...base, ...extra };
        assert.deepEqual(Object.keys(got), Object.keys(spread));
        assert.deepEqual(got, spread);
      }),
    );
  });

  it('leaves both arguments as they were', () => {
    const base = { id: 'x', meta: { profile: ['p'] } };
    const extra = { id: 'y', idx: 1 };
    const got = extended(base, extra);
    assert.deepEqual(base, { id: 'x', meta: { profile: ['p'] } });
    assert.deepEqual(extra, { id: 'y', idx: 1 });
    assert.notEqual(got, base);
    assert.equal(got.meta, base.meta, 'a shallow copy, like the spread');
  });
});
