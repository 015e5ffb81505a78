import { evalFhirPathTyped, getSearchParameterDetails, parseFhirPath, toTypedValue, type TypedValue } from '@medplum/core';
import type { Resource, SearchParameter } from '@medplum/fhirtypes';
import type { Definitions } from '../../server/src/fhir/definitions.js';
import { dateRange } from '../../server/src/fhir/search/date-range.js';
import { NARRATIVE_FIELD, narrativeText } from '../../server/src/fhir/search/narrative.js';
import { normaliseString } from '../../server/src/fhir/search/normalise-string.js';
import type { IndexValues } from '../../server/src/store/resource-store.js';

/**
 * The index computeIndex must produce, written the plain way: every SearchParameter of the
 * type, in definition order, run as FHIRPath; entries per index-entries.ts's shapes, built in
 * full and de-duplicated by JSON. This is computeIndex as it was before its per-type plan,
 * walked paths and entry fast paths (index-entries.ts and index-values.ts at eec8caef), a frozen
 * copy kept as the oracle those are tested against (index-plan.test.ts), so a slip in code both
 * computeIndex modes share is caught too. Do not import its entry functions from the server:
 * an oracle that runs the code it checks checks nothing. What it does share with the server, on
 * purpose, is not what is compared: date parsing (dateRange), narrative text, string
 * normalisation, the Definitions, and medplum's parsed FHIRPath per parameter.
 */
export function referenceIndex(defs: Definitions, resource: Resource): IndexValues {
  const idx: IndexValues = {};
  const type = resource.resourceType;
  const typed = [toTypedValue(resource)];
  for (const [code, param] of Object.entries(defs.searchParameters(type))) {
    if (code === '_id' || code === '_lastUpdated' || !param.expression) continue;
    if (param.type === 'composite') {
      const entries = compositeEntries(defs, type, param, typed);
      if (entries.length > 0) idx[code] = entries;
      continue;
    }
    let results: TypedValue[];
    try {
      results = evalFhirPathTyped(getSearchParameterDetails(type, param).parsedExpression, typed);
    } catch {
      results = [];
    }
    const values = dedupe(results.flatMap((tv) => entriesOf(param.type as string, tv)));
    if (values.length > 0) idx[code] = values;
    if (param.type === 'string') {
      const exact = dedupe(results.flatMap(stringParts));
      if (exact.length > 0) idx[`${code}:exact`] = exact;
    }
  }
  const div = (resource as { text?: { div?: unknown } }).text?.div;
  if (typeof div === 'string') {
    const text = narrativeText(div);
    if (text !== '') idx[NARRATIVE_FIELD] = [text];
  }
  return idx;
}

function compositeEntries(defs: Definitions, resourceType: string, param: SearchParameter, input: TypedValue[]): unknown[] {
  const byUrl = new Map(Object.values(defs.searchParameters(resourceType)).filter((p) => p.url).map((p) => [p.url, p]));
  const components: SearchParameter[] = [];
  for (const c of param.component ?? []) {
    const d = byUrl.get(c.definition);
    if (!d || !d.type || d.type === 'composite' || d.type === 'special') return [];
    components.push(d);
  }
  if (components.length === 0) return [];
  const out: Array<Record<string, unknown[]>> = [];
  for (const base of evalFhirPathTyped(parseFhirPath(param.expression as string), input)) {
    const entry: Record<string, unknown[]> = {};
    let complete = true;
    components.forEach((def, i) => {
      const expression = param.component?.[i]?.expression ?? '';
      // medplum's as() lets other types through; the index keeps only the cast's types.
      const casts = [...expression.matchAll(/\b(?:as|ofType)\(\s*([A-Za-z]+)\s*\)/g)].map((m) => (m[1] as string).toLowerCase());
      const values = evalFhirPathTyped(parseFhirPath(expression), [base]).filter((tv) => casts.length === 0 || casts.includes(tv.type.toLowerCase()));
      const entries = dedupe(values.flatMap((tv) => entriesOf(def.type as string, tv)));
      if (entries.length === 0) complete = false;
      entry[`c${i}`] = entries;
    });
    if (complete) out.push(entry);
  }
  return dedupe(out);
}

function entriesOf(type: string, tv: TypedValue): unknown[] {
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
    case 'number': {
      const v = tv.value as unknown;
      if (typeof v === 'number') return [v];
      return v && typeof v === 'object' && typeof (v as { value?: unknown }).value === 'number' ? [(v as { value: number }).value] : [];
    }
    case 'quantity': {
      const q = tv.value as { value?: unknown; system?: string; code?: string; unit?: string } | undefined;
      if (!q || typeof q !== 'object' || typeof q.value !== 'number') return [];
      const unit = q.unit && q.unit !== q.code ? q.unit : undefined;
      return [{ v: q.value, ...compact({ s: q.system, c: q.code ?? q.unit, u: q.code ? unit : undefined }) }];
    }
    case 'uri':
      return typeof tv.value === 'string' ? [tv.value] : [];
    default:
      return [];
  }
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
const notEmpty = (e: object) => Object.keys(e).length > 0;
const codingEntry = (c: Coding) => compact({ s: c.system, c: c.code, t: c.display ? normaliseString(c.display) : undefined });

function tokenEntries(tv: TypedValue): unknown[] {
  const v = tv.value as unknown;
  if (typeof v === 'string') return [{ c: v }];
  if (typeof v === 'boolean' || typeof v === 'number') return [{ c: String(v) }];
  if (!v || typeof v !== 'object') return [];
  const o = v as Record<string, unknown>;
  switch (tv.type) {
    case 'CodeableConcept': {
      const out: object[] = ((o.coding as Coding[] | undefined) ?? []).map(codingEntry);
      if (typeof o.text === 'string') out.push({ t: normaliseString(o.text) });
      return out.filter(notEmpty);
    }
    case 'Coding':
      return [codingEntry(o as Coding)].filter(notEmpty);
    case 'Identifier': {
      const type = o.type as { coding?: Coding[]; text?: string } | undefined;
      const base = compact({ s: o.system, c: o.value, t: type?.text ? normaliseString(type.text) : undefined });
      const typed = (type?.coding ?? []).filter((c) => c.code).map((c) => ({ ...base, ...compact({ ts: c.system, tc: c.code }) }));
      return (typed.length > 0 ? typed : [base]).filter(notEmpty);
    }
    case 'ContactPoint':
      return [compact({ s: o.system, c: o.value })];
    default:
      if (typeof o.code === 'string') return [compact({ s: o.system, c: o.code })];
      if (typeof o.value === 'string') return [compact({ s: o.system, c: o.value })];
      return [];
  }
}

function referenceEntries(tv: TypedValue): string[] {
  const v = tv.value as unknown;
  const ref = typeof v === 'string' ? v : v && typeof v === 'object' ? (v as { reference?: unknown }).reference : undefined;
  if (typeof ref !== 'string' || ref === '') return [];
  const out = [ref];
  const unversioned = ref.replace(/\/_history\/[^/]*$/, '');
  if (unversioned !== ref) out.push(unversioned);
  if (typeof v === 'string' && ref.includes('|')) out.push(ref.slice(0, ref.indexOf('|')));
  return out;
}

function dateEntry(tv: TypedValue): { lo: number; hi: number } | undefined {
  const v = tv.value as unknown;
  if (typeof v === 'string') return dateRange(v);
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  if (tv.type === 'Period') return periodRange(o);
  if (tv.type === 'Timing') {
    const ranges = ((o.event as string[] | undefined) ?? []).map(dateRange).filter((r) => r !== undefined);
    const bounds = (o.repeat as { boundsPeriod?: Record<string, unknown> } | undefined)?.boundsPeriod;
    const b = bounds ? periodRange(bounds) : undefined;
    if (b) ranges.push(b);
    if (ranges.length === 0) return undefined;
    return { lo: Math.min(...ranges.map((e) => e.lo)), hi: Math.max(...ranges.map((e) => e.hi)) };
  }
  return undefined;
}

function periodRange(o: Record<string, unknown>): { lo: number; hi: number } | undefined {
  const lo = typeof o.start === 'string' ? dateRange(o.start)?.lo : undefined;
  const hi = typeof o.end === 'string' ? dateRange(o.end)?.hi : undefined;
  if (lo === undefined && hi === undefined) return undefined;
  return { lo: lo ?? -8.64e15, hi: hi ?? 8.64e15 };
}

function compact(o: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) if (typeof v === 'string' && v !== '') out[k] = v;
  return out;
}

function dedupe(values: unknown[]): unknown[] {
  const seen = new Set<string>();
  return values.filter((v) => {
    const k = typeof v === 'string' ? v : JSON.stringify(v);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
