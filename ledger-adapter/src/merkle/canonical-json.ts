/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): object members sorted by their names' UTF-16
 * code units, no whitespace, numbers in ECMAScript `Number.prototype.toString` form, strings
 * with JSON.stringify's minimal escaping. Anything hashed or sent to a ledger goes through here.
 *
 * Input must be JSON data (null, booleans, finite numbers, strings, arrays, plain objects;
 * `toJSON` is honoured as JSON.stringify does, members whose value is `undefined` (or a symbol)
 * are omitted and such array elements become null). NaN, ±Infinity, lone surrogates, cycles and
 * values with no JSON form (undefined or a function where a value is needed, bigint) throw a
 * TypeError, so a record that cannot be canonicalized is never hashed.
 *
 * Own code rather than the `canonicalize` package (by one of the RFC's authors), which it
 * replaces because every stored version and AuditEvent is hashed through it: on a 3 KB
 * AuditEvent leaf record the package took ≈ 2.5× as long (a Set per value, a surrogate scan in
 * JS and a JSON.stringify call per string, template strings and joins). On JSON data the output
 * is byte-identical to `canonicalize` 4.0.0 — test/unit/merkle-canonical-json.test.ts compares
 * the two on random values — so every existing leaf hash still verifies. The one deliberate
 * difference: where the package writes the text `undefined` (a function member, a `toJSON`
 * returning undefined inside an object or array), which is not JSON, this throws.
 */
export function canonicalJson(value: unknown): string {
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
    throw new TypeError(`canonicalJson: ${typeof value} has no JSON form`);
  }
  try {
    return write(value, []);
  } catch (err) {
    // A throwing toJSON or getter, or a stack overflow (a toJSON that nests new objects forever):
    // still "cannot be canonicalized", as the callers expect it (a TypeError).
    if (err instanceof TypeError) throw err;
    throw new TypeError(`canonicalJson: ${(err as Error)?.message ?? String(err)}`);
  }
}

/**
 * Cycles are looked for only below this depth: a cycle recurses forever, so it always gets
 * this deep and is caught there, while ordinary records (FHIR resources nest ≈ 6–10 levels)
 * never pay for the search.
 */
const CYCLE_CHECK_DEPTH = 32;

/** `ancestors`: the objects being serialised around this value, outermost first. */
function write(value: unknown, ancestors: object[]): string {
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} is not allowed`);
      // For a finite number JSON.stringify is ToString (-0 → "0"): RFC 8785 §3.2.2.3.
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      // undefined and functions in a place that needs a value, symbols outside arrays/objects, bigint.
      throw new TypeError(`canonicalJson: ${typeof value} has no JSON form`);
  }
  if (value === null) return 'null';
  const obj = value as object;
  if (ancestors.length >= CYCLE_CHECK_DEPTH && ancestors.includes(obj)) {
    throw new TypeError('canonicalJson: circular reference');
  }
  ancestors.push(obj);
  let out: string;
  const toJSON = (obj as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    // As the package (and JSON.stringify): the replacement is canonicalized in the object's place.
    out = write(toJSON.call(obj), ancestors);
  } else if (Array.isArray(obj)) {
    out = '[';
    for (let i = 0; i < obj.length; i++) {
      if (i > 0) out += ',';
      const item: unknown = obj[i];
      out += item === undefined || typeof item === 'symbol' ? 'null' : write(item, ancestors);
    }
    out += ']';
  } else {
    const record = obj as Record<string, unknown>;
    // Default sort: UTF-16 code unit order of the names (RFC 8785 §3.2.3), as the package sorts.
    const keys = Object.keys(record).sort();
    out = '{';
    let first = true;
    for (const key of keys) {
      const member = record[key];
      if (member === undefined || typeof member === 'symbol') continue;
      if (first) first = false;
      else out += ',';
      out += quote(key);
      out += ':';
      out += write(member, ancestors);
    }
    out += '}';
  }
  ancestors.pop();
  return out;
}

/**
 * Characters JSON.stringify escapes (`"`, `\\`, U+0000–U+001F) and surrogates. A string with
 * none of them is quoted as is, which is what JSON.stringify returns for it: one regular
 * expression test instead of two native calls, for the many short strings of a resource.
 */
const NEEDS_CARE = /["\\\u0000-\u001f\ud800-\udfff]/;

function quote(s: string): string {
  if (!NEEDS_CARE.test(s)) return `"${s}"`;
  if (!isWellFormed(s)) throw new TypeError('canonicalJson: lone surrogate in a string');
  return JSON.stringify(s);
}

/** String.prototype.isWellFormed (Node ≥ 20; not in the ES2022 lib typings), else a regular expression. */
const nativeIsWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const isWellFormed: (s: string) => boolean = nativeIsWellFormed
  ? (s) => nativeIsWellFormed.call(s)
  : (s) => !LONE_SURROGATE.test(s);
