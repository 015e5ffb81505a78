import type { TypedValue } from '@medplum/core';
import { dateRange } from './date-range.js';
import { normaliseString } from './normalise-string.js';

/**
 * The index entries one FHIRPath result contributes to a parameter of a given SearchParameter
 * type. Shapes (what compile-search.ts queries):
 *   string     "normalised text"               (exact text goes under `<code>:exact`, see exactStrings)
 *   token      {s?: system, c?: code, t?: normalised display/text, ts?, tc?: identifier type coding}
 *   reference  "Type/id" or the reference as written (absolute URL, canonical, urn:uuid:) and
 *              its unversioned form when it names a version
 *   date       {lo, hi}                         inclusive epoch ms the value covers
 *   number     number
 *   quantity   {v: value, s?: system, c?: code, u?: unit when it differs from code}
 *   uri        "uri as written"
 */
export function entriesOf(type: string, tv: TypedValue): unknown[] {
  switch (type) {
    case 'string':
      return stringParts(tv).map(normaliseString);
    case 'token':
      return tokenEntries(tv);
    case 'reference':
      return referenceEntries(tv);
    case 'date': {
      const r = dateEntry(tv);
      return r ? [r] : [];
    }
    case 'number':
      return numberEntry(tv);
    case 'quantity':
      return quantityEntry(tv);
    case 'uri':
      return typeof tv.value === 'string' ? [tv.value] : [];
    default:
      return [];
  }
}

/** The original text of string values, for `:exact` (case and accents matter there). */
export function exactStrings(tv: TypedValue): string[] {
  return stringParts(tv);
}

function stringParts(tv: TypedValue): string[] {
  const v = tv.value as unknown;
  if (typeof v === 'string') return [v];
  if (!v || typeof v !== 'object') return [];
  const o = v as Record<string, unknown>;
  const parts: unknown[] = [];
  if (tv.type === 'HumanName') parts.push(o.text, o.family, o.given, o.prefix, o.suffix);
  else if (tv.type === 'Address') parts.push(o.text, o.line, o.city, o.district, o.state, o.postalCode, o.country);
  else parts.push(...Object.values(o));
  return parts.flat().filter((p): p is string => typeof p === 'string' && p !== '');
}

type Coding = { system?: string; code?: string; display?: string };

function tokenEntries(tv: TypedValue): Array<Record<string, string>> {
  const v = tv.value as unknown;
  if (typeof v === 'string') return [{ c: v }];
  if (typeof v === 'boolean' || typeof v === 'number') return [{ c: String(v) }];
  if (!v || typeof v !== 'object') return [];
  const o = v as Record<string, unknown>;
  switch (tv.type) {
    case 'CodeableConcept': {
      const out = ((o.coding as Coding[] | undefined) ?? []).map(codingEntry);
      if (typeof o.text === 'string') out.push({ t: normaliseString(o.text) });
      return out.filter((e) => Object.keys(e).length > 0);
    }
    case 'Coding':
      return [codingEntry(o as Coding)].filter((e) => Object.keys(e).length > 0);
    case 'Identifier':
      return identifierEntries(o);
    case 'ContactPoint':
      return [compact({ s: o.system, c: o.value })];
    default:
      if (typeof o.code === 'string') return [compact({ s: o.system, c: o.code })];
      if (typeof o.value === 'string') return [compact({ s: o.system, c: o.value })];
      return [];
  }
}

function codingEntry(c: Coding): Record<string, string> {
  return compact({ s: c.system, c: c.code, t: c.display ? normaliseString(c.display) : undefined });
}

/**
 * One entry per coding of the identifier's type, so `:of-type` (type system, type code and
 * value together) is one `$elemMatch`; an identifier without a typed coding gives one entry.
 */
function identifierEntries(o: Record<string, unknown>): Array<Record<string, string>> {
  const type = o.type as { coding?: Coding[]; text?: string } | undefined;
  const base = compact({ s: o.system, c: o.value, t: type?.text ? normaliseString(type.text) : undefined });
  const typed = (type?.coding ?? []).filter((c) => c.code).map((c) => ({ ...base, ...compact({ ts: c.system, tc: c.code }) }));
  const out = typed.length > 0 ? typed : [base];
  return out.filter((e) => Object.keys(e).length > 0);
}

function referenceEntries(tv: TypedValue): string[] {
  const v = tv.value as unknown;
  const ref = typeof v === 'string' ? v : v && typeof v === 'object' ? (v as { reference?: unknown }).reference : undefined;
  if (typeof ref !== 'string' || ref === '') return [];
  const out = [ref];
  const unversioned = ref.replace(/\/_history\/[^/]*$/, '');
  if (unversioned !== ref) out.push(unversioned);
  // A canonical reference may name a version (url|1.0); searching by the url alone finds it.
  if (typeof v === 'string' && ref.includes('|')) out.push(ref.slice(0, ref.indexOf('|')));
  return out;
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

function numberEntry(tv: TypedValue): number[] {
  const v = tv.value as unknown;
  if (typeof v === 'number') return [v];
  if (v && typeof v === 'object' && typeof (v as { value?: unknown }).value === 'number') return [(v as { value: number }).value];
  return [];
}

function quantityEntry(tv: TypedValue): Array<Record<string, unknown>> {
  const q = tv.value as { value?: unknown; system?: string; code?: string; unit?: string } | undefined;
  if (!q || typeof q !== 'object' || typeof q.value !== 'number') return [];
  const unit = q.unit && q.unit !== q.code ? q.unit : undefined;
  return [{ v: q.value, ...compact({ s: q.system, c: q.code ?? q.unit, u: q.code ? unit : undefined }) }];
}

function compact(o: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) if (typeof v === 'string' && v !== '') out[k] = v;
  return out;
}

export function dedupe(values: unknown[]): unknown[] {
  const seen = new Set<string>();
  return values.filter((v) => {
    const k = typeof v === 'string' ? v : JSON.stringify(v);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
