import { evalFhirPathTyped, getSearchParameterDetails, toTypedValue, type TypedValue } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { IndexValues } from '../../store/resource-store.js';
import type { Definitions } from '../definitions.js';
import { compositeEntries } from './composite.js';
import { dedupeEntries, pushEntries, pushStringEntries } from './index-entries.js';
import { indexPlan, markRootsOfKey, type ParamPlan, type TypePlan } from './index-plan.js';
import { NARRATIVE_FIELD, narrativeText } from './narrative.js';
import { evaluateSimple } from './simple-paths.js';

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
 *
 * `skipAbsent` and `simplePaths` only make it cheaper and only tests turn them off: with both
 * false every parameter is run as FHIRPath (simple-paths.test.ts compares the walked paths with
 * it). The whole function is tested against a separate plain implementation,
 * test/helpers/index-reference.ts (index-plan.test.ts).
 */
export function computeIndex(defs: Definitions, resource: Resource, skipAbsent = true, simplePaths = true): IndexValues {
  const idx: IndexValues = {};
  const type = resource.resourceType;
  const plan = indexPlan(defs, type);
  // Most parameters read one or two top-level elements; when none is present the FHIRPath
  // evaluation can only return nothing, and skipping it is most of the write-time cost.
  const present = skipAbsent ? presentRoots(plan, resource) : undefined;
  let typed: TypedValue[] | undefined;
  for (const p of plan.params) {
    if (present !== undefined && p.roots !== null && !anyPresent(p.roots, present)) continue;
    if (p.composite) {
      const entries = compositeEntries(defs, type, p.param, (typed ??= [toTypedValue(resource)]));
      if (entries.length > 0) idx[p.code] = entries;
      continue;
    }
    // A plain path expression is walked directly (simple-paths.ts) instead of run as FHIRPath.
    const results = simplePaths && p.simple !== undefined ? evaluateSimple(p.simple, resource) : evaluate(type, p, (typed ??= [toTypedValue(resource)]));
    if (results.length === 0) continue;
    const values: unknown[] = [];
    if (p.exactKey !== undefined) {
      const exact: string[] = [];
      for (const tv of results) pushStringEntries(tv, values, exact);
      if (values.length > 0) idx[p.code] = dedupeEntries('string', values);
      if (exact.length > 0) idx[p.exactKey] = dedupeEntries('string', exact);
    } else {
      for (const tv of results) pushEntries(p.type, tv, values);
      if (values.length > 0) idx[p.code] = dedupeEntries(p.type, values);
    }
  }
  const div = (resource as { text?: { div?: unknown } }).text?.div;
  if (typeof div === 'string') {
    const text = narrativeText(div);
    if (text !== '') idx[NARRATIVE_FIELD] = [text];
  }
  return idx;
}

/** Which of the plan's roots the resource has, from its own keys (markRootsOfKey). */
function presentRoots(plan: TypePlan, resource: Resource): Uint8Array {
  const present = new Uint8Array(plan.rootNames.length);
  for (const key of Object.keys(resource)) {
    markRootsOfKey(plan, key, present);
  }
  return present;
}

function anyPresent(roots: readonly number[], present: Uint8Array): boolean {
  for (const i of roots) if (present[i] === 1) return true;
  return false;
}

function evaluate(resourceType: string, p: ParamPlan, input: TypedValue[]): TypedValue[] {
  try {
    const details = (p.details ??= getSearchParameterDetails(resourceType, p.param));
    return evalFhirPathTyped(details.parsedExpression, input);
  } catch {
    // A definition whose expression cannot run on this resource indexes nothing rather than
    // refusing the write; the parameter then simply matches nothing for this resource.
    return [];
  }
}
