import { tryGetDataType } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { Definitions } from '../definitions.js';
import { FhirError } from '../outcomes.js';

/**
 * `_summary` and `_elements` (R4 §3.1.1.5.9–10, https://hl7.org/fhir/R4/search.html#summary
 * and #elements). A shape decides which top-level elements of each returned resource survive.
 * Servers SHOULD return mandatory elements whatever was asked, so they always survive, as do
 * `resourceType`, `id` and `meta`; a subsetted resource is tagged SUBSETTED so nobody mistakes
 * it for the whole record.
 */
export type Shape =
  | { kind: 'full' }
  | { kind: 'summary'; mode: 'true' | 'text' | 'data' }
  /** Element names per type; `*` holds the names given without a type prefix. */
  | { kind: 'elements'; names: ReadonlyMap<string, ReadonlySet<string>> };

export const SUBSETTED = Object.freeze({ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' });

const ALWAYS = new Set(['resourceType', 'id', 'meta']);
const ELEMENT = /^(?:([A-Z][A-Za-z]+)\.)?([a-z][A-Za-z0-9]*)$/;

/**
 * Builds the shape from `_summary` (already checked to be one of true/false/text/data) and
 * `_elements`. An element that no searched type has is reported through `unsupported`.
 */
export function buildShape(
  summary: string | undefined,
  elements: string | undefined,
  types: readonly string[],
  unsupported: (message: string, param: string) => void,
): Shape {
  if (elements !== undefined) {
    const names = new Map<string, Set<string>>();
    for (const raw of elements.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
      const m = ELEMENT.exec(raw);
      if (!m) throw new FhirError('bad-request', `Invalid _elements entry '${raw}': expected an element name such as 'name' or 'Patient.name'`, '_elements');
      const [, type, name] = m as unknown as [string, string | undefined, string];
      const applies = type !== undefined ? types.filter((t) => t === type) : types;
      if (!applies.some((t) => hasElement(t, name))) {
        unsupported(`_elements: no element '${raw}' on ${type ?? types.join(', ')}`, '_elements');
        continue;
      }
      const key = type ?? '*';
      let set = names.get(key);
      if (!set) names.set(key, (set = new Set()));
      set.add(name);
    }
    return { kind: 'elements', names };
  }
  if (summary === 'true' || summary === 'text' || summary === 'data') return { kind: 'summary', mode: summary };
  return { kind: 'full' };
}

/** Returns the resource itself when the shape keeps everything, else a tagged copy. */
export function shapeResource(defs: Definitions, resource: Resource, shape: Shape): Resource {
  if (shape.kind === 'full') return resource;
  const type = resource.resourceType;
  const mandatory = mandatoryElements(type);
  const matchesAny = (key: string, names: ReadonlySet<string>): boolean => names.has(key) || names.has(choiceStem(type, key) ?? '');
  let keep: (key: string) => boolean;
  if (shape.kind === 'summary') {
    if (shape.mode === 'data') keep = (k) => k !== 'text';
    else if (shape.mode === 'text') keep = (k) => k === 'text' || matchesAny(k, mandatory);
    else {
      const summary = defs.summaryElements(type);
      keep = (k) => matchesAny(k, mandatory) || matchesAny(k, summary);
    }
  } else {
    const wanted = new Set([...(shape.names.get('*') ?? []), ...(shape.names.get(type) ?? [])]);
    keep = (k) => matchesAny(k, mandatory) || matchesAny(k, wanted);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(resource as unknown as Record<string, unknown>)) {
    if (ALWAYS.has(k) || keep(k)) out[k] = v;
  }
  const meta = (out.meta as Record<string, unknown> | undefined) ?? {};
  const tags = Array.isArray(meta.tag) ? (meta.tag as Array<{ system?: string; code?: string }>) : [];
  const tagged = tags.some((t) => t.system === SUBSETTED.system && t.code === SUBSETTED.code);
  out.meta = { ...meta, tag: tagged ? tags : [...tags, { ...SUBSETTED }] };
  return out as unknown as Resource;
}

const choiceCache = new Map<string, readonly string[]>();

/** The choice element a key such as `valueQuantity` belongs to (`value`), if any. */
function choiceStem(type: string, key: string): string | undefined {
  let stems = choiceCache.get(type);
  if (!stems) {
    stems = Object.keys(tryGetDataType(type)?.elements ?? {})
      .filter((k) => !k.includes('.') && k.endsWith('[x]'))
      .map((k) => k.slice(0, -3));
    choiceCache.set(type, stems);
  }
  return stems.find((s) => key.length > s.length && key.startsWith(s) && isUpper(key.charCodeAt(s.length)));
}

function isUpper(c: number): boolean {
  return c >= 65 && c <= 90;
}

const mandatoryCache = new Map<string, ReadonlySet<string>>();
const elementCache = new Map<string, ReadonlySet<string>>();

/** Top-level elements with min ≥ 1 in the base definition (`[x]` stems kept as choice stems). */
function mandatoryElements(type: string): ReadonlySet<string> {
  let set = mandatoryCache.get(type);
  if (!set) {
    const elements = tryGetDataType(type)?.elements ?? {};
    set = new Set(Object.entries(elements).filter(([k, e]) => !k.includes('.') && (e.min ?? 0) > 0).map(([k]) => k.replace('[x]', '')));
    mandatoryCache.set(type, set);
  }
  return set;
}

function hasElement(type: string, name: string): boolean {
  let set = elementCache.get(type);
  if (!set) {
    set = new Set(Object.keys(tryGetDataType(type)?.elements ?? {}).filter((k) => !k.includes('.')).map((k) => k.replace('[x]', '')));
    elementCache.set(type, set);
  }
  return set.has(name);
}
