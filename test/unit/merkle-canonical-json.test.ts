import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { canonicalJson } from '../../ledger-adapter/src/merkle/canonical-json.js';

/** RFC 8785 known answers (§3.2.2, §3.2.3, Appendix B) and properties. */
describe('canonicalJson (RFC 8785)', () => {
  it('serializes the RFC §3.2.2 example', () => {
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",' +
        ' "literals": [null, true, false]}',
    );
    assert.equal(
      canonicalJson(input),
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('sorts members by UTF-16 code units (RFC §3.2.3)', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    // Read the order off the text: JSON.parse would move the array-index key "1" first.
    const text = canonicalJson(input);
    const order = Object.values(input).sort((x, y) => text.indexOf(x) - text.indexOf(y));
    assert.deepEqual(order, [
      'Carriage Return',
      'One',
      'Control',
      'Latin Small Letter O With Diaeresis',
      'Euro Sign',
      'Emoji: Grinning Face',
      'Hebrew Letter Dalet With Dagesh',
    ]);
    assert.ok(text.startsWith('{"\\r":"Carriage Return","1":"One","\u0080":"Control"'), text);
  });

  it('formats numbers as ECMAScript does (RFC Appendix B)', () => {
    const cases: Array<[string, string]> = [
      ['0000000000000000', '0'],
      ['8000000000000000', '0'],
      ['0000000000000001', '5e-324'],
      ['8000000000000001', '-5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['ffefffffffffffff', '-1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['44b52d02c7e14af7', '1.0000000000000001e+23'],
      ['444b1ae4d6e2ef4e', '999999999999999700000'],
      ['444b1ae4d6e2ef4f', '999999999999999900000'],
      ['444b1ae4d6e2ef50', '1e+21'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['41b3de4355555553', '333333333.3333332'],
      ['41b3de4355555554', '333333333.33333325'],
      ['41b3de4355555555', '333333333.3333333'],
      ['41b3de4355555556', '333333333.3333334'],
      ['41b3de4355555557', '333333333.33333343'],
      ['becbf647612f3696', '-0.0000033333333333333333'],
      ['43143ff3c1cb0959', '1424953923781206.2'],
    ];
    for (const [bits, want] of cases) {
      const n = Buffer.from(bits, 'hex').readDoubleBE(0);
      assert.equal(canonicalJson([n]), `[${want}]`, bits);
    }
  });

  it('refuses what has no canonical form', () => {
    assert.throws(() => canonicalJson(NaN), TypeError);
    assert.throws(() => canonicalJson({ a: Infinity }), TypeError);
    assert.throws(() => canonicalJson({ a: '\ud800' }), TypeError);
    assert.throws(() => canonicalJson({ ['\udc00']: 1 }), TypeError);
    assert.throws(() => canonicalJson(undefined), TypeError);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.throws(() => canonicalJson(cyclic), TypeError);
  });

  it('is a fixed point, independent of member order, and parses back to the same value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        assert.equal(canonicalJson(JSON.parse(text)), text);
        const reversed = JSON.parse(JSON.stringify(value), (_k, v: unknown) =>
          v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v,
        ) as unknown;
        assert.equal(canonicalJson(reversed), text);
        assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with the canonicalize package on the values of the RFC tests', () => {
    const values: unknown[] = [
      0, -0, 5e-324, -5e-324, 1e21, 1e-7, 1e-6, 123e-20, 2 ** 53, Number.MAX_VALUE, 0.1 + 0.2, 333333333.33333329,
      '', '"', '\\', '\u0000\u001f\u007f\u0080', '\u2028\u2029', '\ud83d\ude00', 'é€דּ', '</script>',
      { b: [], a: {}, c: [[[]], [{}]] }, { '10': 1, '9': 2, '-0': 3, '': 4, a: 5, A: 6 }, [undefined, null, Symbol('s')],
      { u: undefined, s: Symbol('s'), n: null }, { when: new Date(Date.UTC(2025, 2, 1)) }, [{ toJSON: () => ({ y: 1, x: [2] }) }],
    ];
    for (const v of values) assert.equal(canonicalJson(v), canonicalize(v), String(JSON.stringify(v)));
  });

  /** Any code unit: ASCII, controls, the characters JSON escapes, BMP, surrogate pairs and lone halves. */
  const unit = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
    { weight: 2, arbitrary: fc.constantFrom('"', '\\', '/', '\u0000', '\b', '\t', '\n', '\f', '\r', '\u001f', '\u007f', '\u2028', '\u2029', '\ufeff') },
    { weight: 2, arbitrary: fc.integer({ min: 0x80, max: 0xffff }).filter((c) => c < 0xd800 || c > 0xdfff).map((c) => String.fromCharCode(c)) },
    { weight: 2, arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)) },
    { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
  );
  const text = (lone: boolean) => fc.array(lone ? unit : unit.filter((u) => u.length === 2 || u < '\ud800' || u > '\udfff'), { maxLength: 12 }).map((us) => us.join(''));
  const number = (nonFinite: boolean) => fc.oneof(
    fc.double({ noNaN: !nonFinite, noDefaultInfinity: !nonFinite }),
    fc.integer(),
    fc.constantFrom(0, -0, 1e21, 1e-7, 5e-324, -5e-324, 9007199254740993, 1.7976931348623157e308, 0.1, ...(nonFinite ? [NaN, Infinity, -Infinity] : [])),
    // Any bit pattern: subnormals, every exponent (and, when asked, NaNs and infinities).
    fc
      .tuple(fc.nat(0xffffffff), fc.nat(0xffffffff))
      .map(([hi, lo]) => {
        const b = Buffer.alloc(8);
        b.writeUInt32BE(hi, 0);
        b.writeUInt32BE(lo, 4);
        return b.readDoubleBE(0);
      })
      .filter((n) => nonFinite || Number.isFinite(n)),
  );
  /** lone: strings and names may hold lone surrogates; nonFinite: numbers may be NaN or ±Infinity. */
  const valueOf = (lone: boolean, nonFinite: boolean) =>
    fc.letrec<{ v: unknown }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.constant(null),
        fc.boolean(),
        number(nonFinite),
        text(lone),
        fc.array(fc.oneof({ weight: 6, arbitrary: tie('v') }, { weight: 1, arbitrary: fc.constant(undefined) }), { maxLength: 5 }),
        fc.dictionary(fc.oneof(text(lone), fc.constantFrom('1', '10', '2', '-1', '01', '__proto__', 'constructor')), fc.oneof({ weight: 6, arbitrary: tie('v') }, { weight: 1, arbitrary: fc.constant(undefined) }), { maxKeys: 6 }),
      ),
    })).v;

  /** The text, or that it threw: the package throws Error, canonicalJson TypeError. */
  const outcome = (f: () => string | undefined): string => {
    try {
      const t = f();
      return typeof t === 'string' ? `ok ${t}` : 'threw';
    } catch {
      return 'threw';
    }
  };

  it('property: byte-identical to the canonicalize package (unicode, surrogates, all doubles, nesting)', () => {
    fc.assert(
      fc.property(valueOf(false, false), (value) => {
        const want = canonicalize(value);
        assert.equal(typeof want, 'string');
        assert.equal(canonicalJson(value), want);
      }),
      { numRuns: 2000 },
    );
  });

  it('property: refuses exactly what the package refuses (lone surrogates, NaN, ±Infinity)', () => {
    fc.assert(
      fc.property(valueOf(true, true), (value) => {
        assert.equal(outcome(() => canonicalJson(value)), outcome(() => canonicalize(value)));
      }),
      { numRuns: 2000 },
    );
  });

  it('nests deeply, shares subtrees and refuses cycles at any depth', () => {
    let deep: unknown = { leaf: '\u00e9' };
    for (let i = 0; i < 200; i++) deep = i % 2 ? [deep, i] : { z: deep, a: i };
    assert.equal(canonicalJson(deep), canonicalize(deep));
    const shared = { x: 1 };
    const dag = { a: shared, b: [shared, shared] };
    assert.equal(canonicalJson(dag), '{"a":{"x":1},"b":[{"x":1},{"x":1}]}');
    for (const depth of [0, 1, 31, 32, 33, 100]) {
      const root: Record<string, unknown> = {};
      let at = root;
      for (let i = 0; i < depth; i++) at = (at.n = {}) as Record<string, unknown>;
      at.back = root;
      assert.throws(() => canonicalJson(root), TypeError, `cycle at depth ${depth}`);
      const arr: unknown[] = [];
      arr.push([arr]);
      assert.throws(() => canonicalJson(arr), TypeError);
    }
  });

  it('refuses, where the package writes the non-JSON text "undefined"', () => {
    assert.equal(canonicalize({ f: () => 1 }), '{"f":undefined}');
    assert.throws(() => canonicalJson({ f: () => 1 }), TypeError);
    assert.throws(() => canonicalJson([() => 1]), TypeError);
    assert.throws(() => canonicalJson({ a: { toJSON: () => undefined } }), TypeError);
    assert.throws(() => canonicalJson(10n), TypeError);
    assert.throws(() => canonicalJson(Symbol('s')), TypeError);
    const endless = { toJSON: (): unknown => ({ next: endless }) };
    assert.throws(() => canonicalJson(endless), TypeError);
    assert.throws(() => canonicalJson({ get bad(): string { throw new Error('no'); } }), TypeError);
  });
});

