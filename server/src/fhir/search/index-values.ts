import { evalFhirPathTyped, getSearchParameterDetails, toTypedValue, type TypedValue } from '@medplum/core';
import type { Resource, SearchParameter } from '@medplum/fhirtypes';
import type { IndexValues } from '../../store/resource-store.js';
import type { Definitions } from '../definitions.js';
import { compositeEntries } from './composite.js';
import { dedupe, entriesOf, exactStrings } from './index-entries.js';
import { NARRATIVE_FIELD, narrativeText } from './narrative.js';
import { compileSimpleExpression, evaluateSimple } from './simple-paths.js';

/**
 * Search index values (FHIR R4 search, https://hl7.org/fhir/R4/search.html), computed at write
 * time from the SearchParameter definitions and stored with each document as `idx.<code>`, so
 * MongoDB serves searches from multikey indexes and the embedded engine indexes the same fields.
 * Entry shapes per parameter type are listed in index-entries.ts; in addition
 *   string     `idx.<code>:exact` holds the text as written, for `:exact`
 *   composite  {c0: [...], c1: [...]} per element of the base expression (composite.ts)
 *   `_text`    the narrative's words, normalised (narrative.ts)
 * Resource-level `_id` and `_lastUpdated` use the document's own fields instead.
 * Changing any shape must bump INDEX_FORMAT in reindex.ts, so stores are reindexed.
 */
export function computeIndex(defs: Definitions, resource: Resource, skipAbsent = true, simplePaths = true): IndexValues {
  const idx: IndexValues = {};
  const type = resource.resourceType;
  const params = defs.searchParameters(type);
  const typed = [toTypedValue(resource)];
  const present = Object.keys(resource);
  for (const [code, param] of Object.entries(params)) {
    if (code === '_id' || code === '_lastUpdated' || !param.expression) continue;
    if (skipAbsent) {
      // Most parameters read one or two top-level elements; when none is present the FHIRPath
      // evaluation can only return nothing, and skipping it is most of the write-time cost.
      const roots = rootElements(type, param);
      if (roots && !roots.some((r) => present.some((k) => k === r || (k.startsWith(r) && isChoiceSuffix(k, r.length))))) continue;
    }
    if (param.type === 'composite') {
      const entries = compositeEntries(defs, type, param, typed);
      if (entries.length > 0) idx[code] = entries;
      continue;
    }
    const results = evaluate(type, param, typed, simplePaths ? resource : undefined);
    const values = dedupe(results.flatMap((tv) => entriesOf(param.type as string, tv)));
    if (values.length > 0) idx[code] = values;
    if (param.type === 'string') {
      const exact = dedupe(results.flatMap(exactStrings));
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

const rootCache = new Map<string, string[] | null>();

/**
 * The top-level elements of `resourceType` an expression reads, or null when that cannot be
 * told from the text (then the parameter is always evaluated).
 */
function rootElements(resourceType: string, param: SearchParameter): string[] | null {
  const key = `${resourceType}:${param.url ?? param.code}`;
  let roots = rootCache.get(key);
  if (roots === undefined) {
    roots = param.type === 'composite' ? compositeRoots(resourceType, param) : expressionRoots(resourceType, param);
    rootCache.set(key, roots);
  }
  return roots;
}

function expressionRoots(resourceType: string, param: SearchParameter): string[] | null {
  const parts = (param.expression ?? '').split('|').map((p) => p.trim().replace(/^\(+/, ''));
  // Only when every alternative is rooted at a concrete type can absence be decided by keys.
  const allTyped = parts.every((p) => /^[A-Z][A-Za-z]+\./.test(p) && !/^(Resource|DomainResource)\./.test(p));
  const mine = parts.filter((p) => p.startsWith(`${resourceType}.`));
  const names = mine.map((p) => /^[A-Za-z]+\.([a-zA-Z]+)/.exec(p)?.[1]).filter((n): n is string => n !== undefined);
  // exists()/empty()/not() yield a value for an absent element (e.g. Patient.deceased → false).
  const valueForAbsence = /exists\(|empty\(|not\(|iif\(/.test(param.expression ?? '');
  return allTyped && !valueForAbsence && names.length === mine.length && names.length > 0 ? names : null;
}

/**
 * A composite reads its base elements, and from the resource itself (base `Observation`) the
 * first element of each component expression (`code`, `value`).
 */
function compositeRoots(resourceType: string, param: SearchParameter): string[] | null {
  const roots = new Set<string>();
  for (const part of (param.expression ?? '').split('|').map((p) => p.trim())) {
    if (part === resourceType) {
      for (const c of param.component ?? []) {
        const first = /^([a-z][A-Za-z]*)/.exec(c.expression ?? '')?.[1];
        if (!first) return null;
        roots.add(first);
      }
    } else {
      const m = new RegExp(`^${resourceType}\\.([a-zA-Z]+)$`).exec(part);
      if (!m) return null;
      roots.add(m[1] as string);
    }
  }
  return roots.size > 0 ? [...roots] : null;
}

function isChoiceSuffix(key: string, at: number): boolean {
  const c = key.charCodeAt(at);
  return c >= 65 && c <= 90;
}

/** With `resource`, a plain path expression is walked directly (simple-paths.ts) instead of run as FHIRPath. */
function evaluate(resourceType: string, param: SearchParameter, input: TypedValue[], resource?: Resource): TypedValue[] {
  const simple = resource && compileSimpleExpression(resourceType, param.expression as string);
  if (simple) return evaluateSimple(simple, resource);
  try {
    const details = getSearchParameterDetails(resourceType, param);
    return evalFhirPathTyped(details.parsedExpression, input);
  } catch {
    // A definition whose expression cannot run on this resource indexes nothing rather than
    // refusing the write; the parameter then simply matches nothing for this resource.
    return [];
  }
}
