import { evalFhirPathTyped, getSearchParameterDetails, toTypedValue, type TypedValue } from '@medplum/core';
import type { Resource, SearchParameter } from '@medplum/fhirtypes';
import type { IndexValues } from '../../store/resource-store.js';
import type { Definitions } from '../definitions.js';
import { dateRange } from './date-range.js';
import { normaliseString } from './normalise-string.js';

/**
 * Search index values, computed at write time from the SearchParameter definitions and stored
 * with each document (`idx.<code>`), so MongoDB serves searches from multikey indexes and the
 * embedded engine evaluates the same fields. Shapes, per SearchParameter type:
 *   string     string[]                 normalised (lower-case, accents stripped)
 *   token      {s?: system, c?: code, t?: display text}[]
 *   reference  string[]                 "Type/id" for local references, absolute URL otherwise
 *   date       {lo: ms, hi: ms}[]       inclusive range the value covers at its precision
 *   number     number[]
 *   quantity   {v: number, s?: system, c?: code}[]
 *   uri        string[]
 * Resource-level parameters (_id, _lastUpdated) use the document's own fields instead.
 */
export function computeIndex(defs: Definitions, resource: Resource, skipAbsent = true): IndexValues {
  const idx: IndexValues = {};
  const params = defs.searchParameters(resource.resourceType);
  const typed = [toTypedValue(resource)];
  const present = Object.keys(resource);
  for (const [code, param] of Object.entries(params)) {
    if (code === '_id' || code === '_lastUpdated' || !param.expression) continue;
    if (skipAbsent === false) {
      const values = extract(resource.resourceType, param, typed);
      if (values.length > 0) idx[code] = values;
      continue;
    }
    // Most parameters read one or two top-level elements; when none is present the FHIRPath
    // evaluation can only return nothing, and skipping it is most of the write-time cost.
    const roots = rootElements(resource.resourceType, param);
    if (roots && !roots.some((r) => present.some((k) => k === r || (k.startsWith(r) && isChoiceSuffix(k, r.length))))) continue;
    const values = extract(resource.resourceType, param, typed);
    if (values.length > 0) idx[code] = values;
  }
  return idx;
}

const rootCache = new Map<string, string[] | null>();

/**
 * The top-level elements of `resourceType` an expression reads, or null when that cannot be
 * told from the text (then the parameter is always evaluated).
 */
function rootElements(resourceType: string, param: SearchParameter): string[] | null {
  const key = `${resourceType}:${param.url ?? param.code}`;
  let roots = rootCache.get(key);
  if (roots === undefined) {
    const parts = (param.expression ?? '').split('|').map((p) => p.trim().replace(/^\(+/, ''));
    // Only when every alternative is rooted at a concrete type can absence be decided by keys.
    const allTyped = parts.every((p) => /^[A-Z][A-Za-z]+\./.test(p) && !/^(Resource|DomainResource)\./.test(p));
    const mine = parts.filter((p) => p.startsWith(`${resourceType}.`));
    const names = mine.map((p) => /^[A-Za-z]+\.([a-zA-Z]+)/.exec(p)?.[1]).filter((n): n is string => n !== undefined);
    // exists()/empty()/not() yield a value for an absent element (e.g. Patient.deceased → false).
    const valueForAbsence = /exists\(|empty\(|not\(|iif\(/.test(param.expression ?? '');
    roots = allTyped && !valueForAbsence && names.length === mine.length && names.length > 0 ? names : null;
    rootCache.set(key, roots);
  }
  return roots;
}

function isChoiceSuffix(key: string, at: number): boolean {
  const c = key.charCodeAt(at);
  return c >= 65 && c <= 90;
}

function extract(resourceType: string, param: SearchParameter, input: TypedValue[]): unknown[] {
  let results: TypedValue[];
  try {
    const details = getSearchParameterDetails(resourceType, param);
    results = evalFhirPathTyped(details.parsedExpression, input);
  } catch {
    // A definition whose expression cannot run on this resource indexes nothing rather than
    // refusing the write; the parameter then simply matches nothing for this resource.
    return [];
  }
  const out: unknown[] = [];
  for (const tv of results) {
    switch (param.type) {
      case 'string':
        out.push(...stringValues(tv));
        break;
      case 'token':
        out.push(...tokenValues(tv));
        break;
      case 'reference':
        out.push(...referenceValues(tv));
        break;
      case 'date': {
        const r = dateValue(tv);
        if (r) out.push(r);
        break;
      }
      case 'number':
        if (typeof tv.value === 'number') out.push(tv.value);
        else if (tv.value && typeof (tv.value as { value?: unknown }).value === 'number') out.push((tv.value as { value: number }).value);
        break;
      case 'quantity': {
        const q = tv.value as { value?: number; system?: string; code?: string; unit?: string };
        if (q && typeof q.value === 'number') out.push(compact({ v: q.value, s: q.system, c: q.code ?? q.unit }));
        break;
      }
      case 'uri':
        if (typeof tv.value === 'string') out.push(tv.value);
        break;
      default:
        break; // composite and special: handled by later search work
    }
  }
  return dedupe(out);
}

function stringValues(tv: TypedValue): string[] {
  const v = tv.value as unknown;
  if (typeof v === 'string') return [normaliseString(v)];
  if (!v || typeof v !== 'object') return [];
  const o = v as Record<string, unknown>;
  const parts: unknown[] = [];
  if (tv.type === 'HumanName') parts.push(o.text, o.family, o.given, o.prefix, o.suffix);
  else if (tv.type === 'Address') parts.push(o.text, o.line, o.city, o.district, o.state, o.postalCode, o.country);
  else parts.push(...Object.values(o));
  return parts.flat().filter((p): p is string => typeof p === 'string').map(normaliseString);
}

function tokenValues(tv: TypedValue): Array<Record<string, string>> {
  const v = tv.value as unknown;
  if (typeof v === 'string') return [{ c: v }];
  if (typeof v === 'boolean') return [{ c: String(v) }];
  if (!v || typeof v !== 'object') return [];
  const o = v as Record<string, unknown>;
  switch (tv.type) {
    case 'CodeableConcept': {
      const codings = (o.coding as Array<Record<string, string>> | undefined) ?? [];
      const out = codings.map((c) => compact({ s: c.system, c: c.code, t: c.display ? normaliseString(c.display) : undefined }));
      if (typeof o.text === 'string') out.push({ t: normaliseString(o.text) });
      return out;
    }
    case 'Coding':
      return [compact({ s: o.system as string, c: o.code as string, t: o.display ? normaliseString(o.display as string) : undefined })];
    case 'Identifier':
      return [compact({ s: o.system as string, c: o.value as string })];
    case 'ContactPoint':
      return [compact({ s: o.system as string, c: o.value as string })];
    default:
      if (typeof o.code === 'string') return [compact({ s: o.system as string, c: o.code })];
      if (typeof o.value === 'string') return [compact({ s: o.system as string, c: o.value })];
      return [];
  }
}

function referenceValues(tv: TypedValue): string[] {
  const v = tv.value as unknown;
  if (typeof v === 'string') return [v]; // canonical
  if (!v || typeof v !== 'object') return [];
  const ref = (v as { reference?: unknown }).reference;
  return typeof ref === 'string' ? [ref] : [];
}

function dateValue(tv: TypedValue): { lo: number; hi: number } | undefined {
  const v = tv.value as unknown;
  if (typeof v === 'string') return dateRange(v);
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  if (tv.type === 'Period') {
    const lo = typeof o.start === 'string' ? dateRange(o.start)?.lo : undefined;
    const hi = typeof o.end === 'string' ? dateRange(o.end)?.hi : undefined;
    if (lo === undefined && hi === undefined) return undefined;
    return { lo: lo ?? -8.64e15, hi: hi ?? 8.64e15 };
  }
  if (tv.type === 'Timing') {
    const events = ((o.event as string[] | undefined) ?? []).map(dateRange).filter((r) => r !== undefined);
    if (events.length === 0) return undefined;
    return { lo: Math.min(...events.map((e) => e.lo)), hi: Math.max(...events.map((e) => e.hi)) };
  }
  return undefined;
}

function compact<T extends Record<string, unknown>>(o: T): Record<string, string> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null && v !== '')) as Record<string, string>;
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
