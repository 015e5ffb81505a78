import canonicalize from 'canonicalize';

/**
 * RFC 8785 JSON Canonicalization Scheme (JCS), via `canonicalize` (by one of the RFC's
 * authors): object members sorted by their names' UTF-16 code units, no whitespace, numbers
 * in ECMAScript `Number.prototype.toString` form, strings with JSON.stringify's minimal
 * escaping. Anything hashed or sent to a ledger goes through here.
 *
 * Input must be JSON data (null, booleans, finite numbers, strings, arrays, plain objects;
 * `toJSON` is honoured as JSON.stringify does, and members whose value is `undefined` are
 * omitted). NaN, ±Infinity, lone surrogates, cycles and values with no JSON form at the top
 * level throw a TypeError, so a record that cannot be canonicalized is never hashed.
 */
export function canonicalJson(value: unknown): string {
  let text: string | undefined;
  try {
    text = canonicalize(value);
  } catch (err) {
    throw new TypeError(`canonicalJson: ${(err as Error).message}`);
  }
  if (typeof text !== 'string') throw new TypeError(`canonicalJson: ${typeof value} has no JSON form`);
  return text;
}
