import { FhirError } from '../outcomes.js';

/**
 * Small pieces every parameter compiler shares: the query-document type, OR/NOR builders, and
 * the value syntax of R4 search (https://hl7.org/fhir/R4/search.html#escaping): `,` separates
 * alternatives, `|` and `$` separate parts, and `\` escapes any of them.
 */
export type Doc = Record<string, unknown>;

/** Field of a parameter's index values in a StoredDocument. */
export const idxField = (code: string): string => `idx.${code}`;

export function orOf(clauses: Doc[], negate = false): Doc {
  const one = clauses.length === 1 ? (clauses[0] as Doc) : { $or: clauses };
  return negate ? { $nor: [one] } : one;
}

export function andOf(clauses: Doc[]): Doc {
  if (clauses.length === 0) return {};
  return clauses.length === 1 ? (clauses[0] as Doc) : { $and: clauses };
}

/**
 * The inverse of andOf: a query document's top-level conjuncts, `$and` arrays flattened and each
 * field of a document on its own.
 */
export function conjunctsOf(filter: Doc): Doc[] {
  const keys = Object.keys(filter);
  // A one-clause document is its own conjunct, kept as the same object: the stores cache what
  // they compile from a shared clause (a frozen consent clause) by its identity.
  if (keys.length === 1 && !(keys[0] === '$and' && Array.isArray(filter.$and) && filter.$and.every(isDoc))) return [filter];
  const out: Doc[] = [];
  for (const [key, cond] of Object.entries(filter)) {
    if (key === '$and' && Array.isArray(cond) && cond.every(isDoc)) for (const sub of cond) out.push(...conjunctsOf(sub));
    else out.push({ [key]: cond });
  }
  return out;
}

/** A query document (a plain object: not null, not an array). */
export const isDoc = (v: unknown): v is Doc => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Splits on `sep` where it is not escaped; escapes are kept so a later split on another
 * separator still sees them. Call `unescapeValue` on the final parts.
 */
export function splitEscaped(value: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] as string;
    if (ch === '\\' && i + 1 < value.length) {
      cur += ch + value[++i];
    } else if (ch === sep) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

export function unescapeValue(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

/** Comma-separated alternatives, unescaped: for parameter types whose values have no parts. */
export function alternatives(value: string): string[] {
  return splitEscaped(value, ',').map(unescapeValue);
}

/**
 * Client text as a regex matching it literally. NUL is written `\x00`: MongoDB refuses a
 * pattern containing a NUL byte (an error, not a non-match), while both engines read `\x00`.
 */
export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\0/g, '\\x00');
}

/** The comparison prefixes of R4 search (#prefix) for number, date and quantity. */
export const PREFIXES: ReadonlySet<string> = new Set(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']);

/**
 * Separates a prefix from an ordered value. A value that starts with two letters that are not a
 * prefix is malformed (e.g. `xx2020`), and says so instead of matching nothing.
 */
export function splitPrefix(raw: string, what: string): { op: string; value: string } {
  const head = raw.slice(0, 2);
  if (/^[a-z]{2}/i.test(head)) {
    if (!PREFIXES.has(head)) throw new FhirError('bad-request', `Invalid prefix '${head}' in ${what} value '${raw}' (expected one of ${[...PREFIXES].join(' ')})`);
    return { op: head, value: raw.slice(2) };
  }
  return { op: 'eq', value: raw };
}
