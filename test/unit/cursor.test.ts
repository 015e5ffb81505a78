import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FhirError } from '../../server/src/fhir/outcomes.js';
import { CursorCodec, cursorBinding, type PageCursor } from '../../server/src/fhir/search-results/cursor.js';
import { loadCursorKey } from '../../server/src/fhir/search-results/cursor-key.js';

const codec = new CursorCodec(randomBytes(32));
const binding = cursorBinding('type:Patient', { name: ['smith'], _sort: ['-birthdate'] });
const cursor: PageCursor = { direction: 'next', type: 'Patient', values: [-6.1e11, 'smith', null, 'abc-1'] };

const is400 = (err: unknown): boolean => err instanceof FhirError && err.status === 400;

describe('CursorCodec', () => {
  it('round-trips what it encodes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<PageCursor['direction']>('next', 'previous'),
        fc.constantFrom('Patient', 'Observation'),
        fc.array(fc.oneof(fc.string(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(null), fc.boolean()), { maxLength: 5 }),
        (direction, type, values) => {
          const c = { direction, type, values: values.map((v) => (Object.is(v, -0) ? 0 : v)) };
          assert.deepEqual(codec.decode(codec.encode(c, binding), binding), c);
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });

  it('two encodings of one position differ (random IV) and both decode', () => {
    const a = codec.encode(cursor, binding);
    const b = codec.encode(cursor, binding);
    assert.notEqual(a, b);
    assert.deepEqual(codec.decode(b, binding), cursor);
  });

  it('refuses a cursor bound to another query, another scope, or another key', () => {
    const token = codec.encode(cursor, binding);
    assert.throws(() => codec.decode(token, cursorBinding('type:Patient', { name: ['smyth'], _sort: ['-birthdate'] })), is400);
    assert.throws(() => codec.decode(token, cursorBinding('type:Practitioner', { name: ['smith'], _sort: ['-birthdate'] })), is400);
    assert.throws(() => codec.decode(token, cursorBinding('system', { name: ['smith'], _sort: ['-birthdate'] })), is400);
    assert.throws(() => new CursorCodec(randomBytes(32)).decode(token, binding), is400);
  });

  it('refuses every single-character change', () => {
    const token = codec.encode(cursor, binding);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';
    fc.assert(
      fc.property(fc.nat(token.length - 1), fc.constantFrom(...alphabet), (i, ch) => {
        fc.pre(token[i] !== ch);
        assert.throws(() => codec.decode(token.slice(0, i) + ch + token.slice(i + 1), binding), is400);
      }),
      { seed: 7, numRuns: 300 },
    );
  });

  it('refuses arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        assert.throws(() => codec.decode(s, binding), is400);
      }),
      { seed: 3, numRuns: 300 },
    );
  });

  it('binds every parameter except page size and format, and the order of repeated values', () => {
    const b = (q: Record<string, string[]>): string => cursorBinding('type:Patient', q);
    assert.equal(b({ a: ['1'], b: ['2'] }), b({ b: ['2'], a: ['1'] }), 'key order does not matter');
    assert.equal(b({ a: ['1'], _count: ['5'], _format: ['json'], _cursor: ['x'] }), b({ a: ['1'], _count: ['50'] }));
    assert.notEqual(b({ _sort: ['a', 'b'] }), b({ _sort: ['b', 'a'] }));
    assert.notEqual(b({ a: ['1'] }), b({ a: ['1'], _summary: ['true'] }));
    assert.notEqual(b({ 'a,b': ['c'] }), b({ a: ['b,c'] }), 'no ambiguity from separators');
  });

  it('needs a key of at least 32 bytes', () => {
    assert.throws(() => new CursorCodec(randomBytes(16)));
  });
});

describe('loadCursorKey', () => {
  const tmp = (): string => mkdtempSync(join(tmpdir(), 'custodian-key-'));

  it('creates one key file, mode 0600, and reuses it', () => {
    const dir = tmp();
    try {
      const k1 = loadCursorKey({ dataDir: dir });
      const file = join(dir, 'keys', 'cursor.key');
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(k1.length, 32);
      assert.deepEqual(loadCursorKey({ dataDir: dir }), k1, 'same key on the next start');
      assert.equal(readFileSync(file, 'utf8').trim(), k1.toString('base64url'));
      assert.notDeepEqual(loadCursorKey({ dataDir: tmp() }), k1, 'another directory, another key');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a configured secret wins over the file and is the same in every process', () => {
    const dir = tmp();
    try {
      const secret = 'x'.repeat(40);
      const a = loadCursorKey({ dataDir: dir, secret });
      assert.deepEqual(loadCursorKey({ dataDir: tmp(), secret }), a);
      assert.notDeepEqual(loadCursorKey({ dataDir: dir, secret: `${secret}y` }), a);
      assert.notDeepEqual(loadCursorKey({ dataDir: dir }), a);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a damaged key file stops start-up with a clear message', () => {
    const dir = tmp();
    try {
      mkdirSync(join(dir, 'keys'));
      writeFileSync(join(dir, 'keys', 'cursor.key'), 'short');
      assert.throws(() => loadCursorKey({ dataDir: dir }), /cursor\.key does not hold a 32-byte/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
