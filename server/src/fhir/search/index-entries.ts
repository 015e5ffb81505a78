import type { TypedValue } from '@medplum/core';
import { dateRange } from './date-range.js';
import { normaliseString } from './normalise-string.js';

/**
 * The index entries one FHIRPath result contributes to a parameter of a given SearchParameter
 * type. Shapes (what compile-search.ts queries):
 *   string     "normalised text"               (the text as written goes under `<code>:exact`: pushStringEntries)
 *   token      {s?: system, c?: code, t?: normalised display/text, ts?, tc?: identifier type coding}
 *   reference  "Type/id" or the reference as written (absolute URL, canonical, urn:uuid:) and
 *              its unversioned form when it names a version
 *   date       {lo, hi}                         inclusive epoch ms the value covers
 *   number     number
 *   quantity   {v: value, s?: system, c?: code, u?: unit when it differs from code}
 *   uri        "uri as written"
 */
export function entriesOf(type: string, tv: TypedValue): unknown[] {
  const out: unknown[] = [];
  pushEntries(type, tv, out);
  return out;
}

/**
 * entriesOf appending to `out`: computeIndex collects a parameter's entries from every result
 * into one array (it writes every resource, so no array per result).
 */
export function pushEntries(type: string, tv: TypedValue, out: unknown[]): void {
  switch (type) {
    case 'string':
      pushStringEntries(tv, out, undefined);
      return;
    case 'token':
      pushTokenEntries(tv, out);
      return;
    case 'reference':
      pushReferenceEntries(tv, out);
      return;
    case 'date': {
      const r = dateEntry(tv);
      if (r) out.push(r);
      return;
    }
    case 'number': {
      const v = tv.value as unknown;
      if (typeof v === 'number') out.push(v);
      else if (v && typeof v === 'object' && typeof (v as { value?: unknown }).value === 'number') out.push((v as { value: number }).value);
      return;
    }
    case 'quantity': {
      const q = quantityEntry(tv);
      if (q) out.push(q);
      return;
    }
    case 'uri':
      if (typeof tv.value === 'string') out.push(tv.value);
      return;
    default:
  }
}

/** A string value's parts, normalised into `normalised` and as written into `exact` (either may be left out). */
export function pushStringEntries(tv: TypedValue, normalised: unknown[] | undefined, exact: string[] | undefined): void {
  const v = tv.value as unknown;
  if (typeof v === 'string') {
    pushString(v, normalised, exact);
    return;
  }
  if (!v || typeof v !== 'object') return;
  const o = v as Record<string, unknown>;
  if (tv.type === 'HumanName') {
    for (const part of [o.text, o.family, o.given, o.prefix, o.suffix]) pushPart(part, normalised, exact);
  } else if (tv.type === 'Address') {
    for (const part of [o.text, o.line, o.city, o.district, o.state, o.postalCode, o.country]) pushPart(part, normalised, exact);
  } else {
    for (const part of Object.values(o)) pushPart(part, normalised, exact);
  }
}

/** A part's non-empty strings, an array's one level down (as `parts.flat()` would give them). */
function pushPart(part: unknown, normalised: unknown[] | undefined, exact: string[] | undefined): void {
  if (Array.isArray(part)) {
    for (const p of part) if (typeof p === 'string' && p !== '') pushString(p, normalised, exact);
  } else if (typeof part === 'string' && part !== '') pushString(part, normalised, exact);
}

function pushString(s: string, normalised: unknown[] | undefined, exact: string[] | undefined): void {
  normalised?.push(normalise(s));
  exact?.push(s);
}

type Coding = { system?: string; code?: string; display?: string };

function pushTokenEntries(tv: TypedValue, out: unknown[]): void {
  const v = tv.value as unknown;
  if (typeof v === 'string') {
    out.push({ c: v });
    return;
  }
  if (typeof v === 'boolean' || typeof v === 'number') {
    out.push({ c: String(v) });
    return;
  }
  if (!v || typeof v !== 'object') return;
  const o = v as Record<string, unknown>;
  switch (tv.type) {
    case 'CodeableConcept': {
      const coding = o.coding as Coding[] | undefined;
      if (Array.isArray(coding)) {
        // Holes skipped, as `.map` skips them.
        for (let i = 0; i < coding.length; i++) if (i in coding) pushNonEmpty(codingEntry(coding[i] as Coding), out);
      } else if (coding !== undefined && coding !== null) {
        // Not an array: fails as `.map` on it always did.
        for (const e of (coding as Coding[]).map(codingEntry)) pushNonEmpty(e, out);
      }
      if (typeof o.text === 'string') out.push({ t: normalise(o.text) });
      return;
    }
    case 'Coding':
      pushNonEmpty(codingEntry(o as Coding), out);
      return;
    case 'Identifier':
      pushIdentifierEntries(o, out);
      return;
    case 'ContactPoint':
      out.push(compact(o.system, o.value));
      return;
    default:
      if (typeof o.code === 'string') out.push(compact(o.system, o.code));
      else if (typeof o.value === 'string') out.push(compact(o.system, o.value));
  }
}

function pushNonEmpty(e: Record<string, string>, out: unknown[]): void {
  for (const _ in e) {
    out.push(e);
    return;
  }
}

function codingEntry(c: Coding): Record<string, string> {
  return compact(c.system, c.code, c.display ? normalise(c.display) : undefined);
}

/**
 * One entry per coding of the identifier's type, so `:of-type` (type system, type code and
 * value together) is one `$elemMatch`; an identifier without a typed coding gives one entry.
 */
function pushIdentifierEntries(o: Record<string, unknown>, out: unknown[]): void {
  const type = o.type as { coding?: Coding[]; text?: string } | undefined;
  const base = compact(o.system, o.value, type?.text ? normalise(type.text) : undefined);
  const typed = (type?.coding ?? []).filter((c) => c.code).map((c) => ({ ...base, ...compactTyped(c.system, c.code) }));
  if (typed.length === 0) pushNonEmpty(base, out);
  else for (const e of typed) pushNonEmpty(e, out);
}

function pushReferenceEntries(tv: TypedValue, out: unknown[]): void {
  const v = tv.value as unknown;
  const ref = typeof v === 'string' ? v : v && typeof v === 'object' ? (v as { reference?: unknown }).reference : undefined;
  if (typeof ref !== 'string' || ref === '') return;
  out.push(ref);
  // The unversioned form: what /\/_history\/[^/]*$/ would cut, i.e. from the last `/_history/` with no `/` after it.
  const h = ref.lastIndexOf('/_history/');
  if (h >= 0 && ref.indexOf('/', h + 10) === -1) out.push(ref.slice(0, h));
  // A canonical reference may name a version (url|1.0); searching by the url alone finds it.
  if (typeof v === 'string') {
    const bar = ref.indexOf('|');
    if (bar >= 0) out.push(ref.slice(0, bar));
  }
}

const FAR_PAST = -8.64e15;
const FAR_FUTURE = 8.64e15;

function dateEntry(tv: TypedValue): { lo: number; hi: number } | undefined {
  const v = tv.value as unknown;
  if (typeof v === 'string') return dateRange(v);
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  if (tv.type === 'Period') return periodRange(o);
  if (tv.type === 'Timing') {
    // R4 search (#date): for a Timing only the outer limits matter (events and repeat.boundsPeriod).
    const ranges = ((o.event as string[] | undefined) ?? []).map(dateRange).filter((r) => r !== undefined);
    const bounds = (o.repeat as { boundsPeriod?: Record<string, unknown> } | undefined)?.boundsPeriod;
    const b = bounds ? periodRange(bounds) : undefined;
    if (b) ranges.push(b);
    if (ranges.length === 0) return undefined;
    return { lo: Math.min(...ranges.map((e) => e.lo)), hi: Math.max(...ranges.map((e) => e.hi)) };
  }
  return undefined;
}

/** A Period's missing start is before any date, a missing end after any (R4 search, #date). */
function periodRange(o: Record<string, unknown>): { lo: number; hi: number } | undefined {
  const lo = typeof o.start === 'string' ? dateRange(o.start)?.lo : undefined;
  const hi = typeof o.end === 'string' ? dateRange(o.end)?.hi : undefined;
  if (lo === undefined && hi === undefined) return undefined;
  return { lo: lo ?? FAR_PAST, hi: hi ?? FAR_FUTURE };
}

function quantityEntry(tv: TypedValue): Record<string, unknown> | undefined {
  const q = tv.value as { value?: unknown; system?: string; code?: string; unit?: string } | undefined;
  if (!q || typeof q !== 'object' || typeof q.value !== 'number') return undefined;
  const unit = q.unit && q.unit !== q.code ? q.unit : undefined;
  return { v: q.value, ...compact(q.system, q.code ?? q.unit, undefined, q.code ? unit : undefined) };
}

/** {s, c, t, u}, each only when a non-empty string, in that order. */
function compact(s: unknown, c: unknown, t?: unknown, u?: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof s === 'string' && s !== '') out.s = s;
  if (typeof c === 'string' && c !== '') out.c = c;
  if (typeof t === 'string' && t !== '') out.t = t;
  if (typeof u === 'string' && u !== '') out.u = u;
  return out;
}

function compactTyped(ts: unknown, tc: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof ts === 'string' && ts !== '') out.ts = ts;
  if (typeof tc === 'string' && tc !== '') out.tc = tc;
  return out;
}

/** normaliseString, without its Unicode passes for ASCII text (they change nothing there). */
function normalise(s: string): string {
  if (typeof s !== 'string') return normaliseString(s);
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return normaliseString(s);
  return s.toLowerCase();
}

/** First occurrences, by the string itself or by the JSON of anything else. */
export function dedupe(values: unknown[]): unknown[] {
  if (values.length < 2) return values;
  const seen = new Set<string>();
  const out: unknown[] = [];
  for (const v of values) {
    const k = typeof v === 'string' ? v : JSON.stringify(v);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(v);
  }
  return out;
}

/** Beyond this many entries a Set of keys is cheaper than comparing each with those kept. */
const SCAN_LIMIT = 16;

/**
 * dedupe for the entries pushEntries gives a parameter of `type`, without JSON for the common
 * cases: string, reference and uri entries are strings; token entries are built here with
 * string values only and their keys always in the order s, c, t, ts, tc, so two have the same
 * JSON exactly when those five fields are equal.
 */
export function dedupeEntries(type: string, values: unknown[]): unknown[] {
  const n = values.length;
  if (n < 2) return values;
  if (n > SCAN_LIMIT) return dedupe(values);
  if (type === 'token') return firstTokens(values as TokenEntry[]);
  if (type === 'string' || type === 'reference' || type === 'uri') return firstStrings(values as string[]);
  return dedupe(values);
}

/** Every field pushTokenEntries may set: a field added there must be added here and to firstTokens, or distinct entries merge. */
type TokenEntry = Readonly<Record<'s' | 'c' | 't' | 'ts' | 'tc', string | undefined>>;

function firstTokens(values: readonly TokenEntry[]): TokenEntry[] {
  const out: TokenEntry[] = [];
  for (const v of values) {
    let dup = false;
    for (const u of out) {
      if (u.c === v.c && u.s === v.s && u.t === v.t && u.tc === v.tc && u.ts === v.ts) {
        dup = true;
        break;
      }
    }
    if (!dup) out.push(v);
  }
  return out;
}

function firstStrings(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of values) if (!out.includes(v)) out.push(v);
  return out;
}
