import { evalFhirPathTyped, parseFhirPath, type TypedValue } from '@medplum/core';
import type { SearchParameter } from '@medplum/fhirtypes';
import type { Definitions } from '../definitions.js';
import { FhirError } from '../outcomes.js';
import { dateConditions } from './compile-date.js';
import { numberConditions, quantityConditions } from './compile-number.js';
import { referenceConditions } from './compile-reference.js';
import { stringConditions, uriConditions } from './compile-string.js';
import { tokenConditions } from './compile-token.js';
import { dedupe, entriesOf } from './index-entries.js';
import { splitEscaped, type Doc } from './query-doc.js';

/**
 * Composite parameters (R4 search, https://hl7.org/fhir/R4/search.html#composite), e.g.
 * `Observation?code-value-quantity=http://loinc.org|8480-6$gt100`. The components must match
 * within the same element of the parameter's base expression (the Observation itself, or one
 * `component`), so the index keeps one entry per base element:
 *   {c0: [entries of component 0], c1: [entries of component 1], …}
 * where each component's entries have the shape of its definition's type (index-entries.ts).
 * The query is one `$elemMatch` over those entries with each part matched inside its `cN`.
 */

/** The definitions of a composite's components, or undefined when one is not known. */
export function componentDefinitions(defs: Definitions, resourceType: string, param: SearchParameter): SearchParameter[] | undefined {
  const byUrl = urlIndex(defs, resourceType);
  const out: SearchParameter[] = [];
  for (const c of param.component ?? []) {
    const d = byUrl.get(c.definition);
    if (!d || !d.type || d.type === 'composite' || d.type === 'special') return undefined;
    out.push(d);
  }
  return out.length > 0 ? out : undefined;
}

export function compositeEntries(defs: Definitions, resourceType: string, param: SearchParameter, input: TypedValue[]): Array<Record<string, unknown[]>> {
  const components = componentDefinitions(defs, resourceType, param);
  if (!components || !param.expression) return [];
  const out: Array<Record<string, unknown[]>> = [];
  for (const base of evalFhirPathTyped(parsed(param.expression), input)) {
    const entry: Record<string, unknown[]> = {};
    let complete = true;
    components.forEach((def, i) => {
      const expression = (param.component?.[i]?.expression ?? '') as string;
      const allowed = castTypes(expression);
      const values = evalFhirPathTyped(parsed(expression), [base]).filter((tv) => allowed === undefined || allowed.has(tv.type.toLowerCase()));
      const entries = dedupe(values.flatMap((tv) => entriesOf(def.type as string, tv)));
      if (entries.length === 0) complete = false;
      entry[`c${i}`] = entries;
    });
    // An element lacking one component can match no composite value, so it is not indexed.
    if (complete) out.push(entry);
  }
  return dedupe(out) as Array<Record<string, unknown[]>>;
}

/**
 * The ORed alternatives for one composite value `part0$part1…`: every combination of the
 * parts' own alternatives, each one `$elemMatch` over a base element.
 */
export function compositeConditions(defs: Definitions, resourceType: string, param: SearchParameter, raw: string): Doc[] {
  const components = componentDefinitions(defs, resourceType, param);
  if (!components) throw new FhirError('unknown-parameter', `Composite parameter '${param.code}' has components this server does not know`, param.code);
  const parts = splitEscaped(raw, '$');
  if (parts.length !== components.length) {
    throw new FhirError('bad-request', `Invalid value '${raw}' for composite '${param.code}': expected ${components.length} parts separated by '$'`, param.code);
  }
  let combos: Doc[] = [{}];
  components.forEach((def, i) => {
    const conds = componentConditions(defs, def, parts[i] as string);
    combos = combos.flatMap((combo) => conds.map((cond) => ({ ...combo, [`c${i}`]: cond })));
  });
  return combos.map((c) => ({ $elemMatch: c }));
}

function componentConditions(defs: Definitions, def: SearchParameter, raw: string): Doc[] {
  switch (def.type) {
    case 'token':
      return tokenConditions(raw);
    case 'string':
      return stringConditions(raw);
    case 'date':
      return dateConditions(raw.replace(/\\(.)/g, '$1'));
    case 'number':
      return numberConditions(raw.replace(/\\(.)/g, '$1'));
    case 'quantity':
      return quantityConditions(raw);
    case 'uri':
      return uriConditions(raw);
    case 'reference':
      return referenceConditions(def, raw, (t) => defs.isResourceType(t));
    default:
      throw new FhirError('unknown-parameter', `Composite component '${def.code}' of type ${def.type} is not supported`, def.code);
  }
}

/**
 * Types named by `as(T)` / `ofType(T)` in a component expression. medplum's `as()` passes other
 * types through, so component values are filtered here (`value.as(string)` on a Quantity is
 * not a string).
 */
function castTypes(expression: string): Set<string> | undefined {
  const names = [...expression.matchAll(/\b(?:as|ofType)\(\s*([A-Za-z]+)\s*\)/g)].map((m) => (m[1] as string).toLowerCase());
  return names.length > 0 ? new Set(names) : undefined;
}

const parsedCache = new Map<string, ReturnType<typeof parseFhirPath>>();
function parsed(expression: string): ReturnType<typeof parseFhirPath> {
  let p = parsedCache.get(expression);
  if (!p) parsedCache.set(expression, (p = parseFhirPath(expression)));
  return p;
}

const urlIndexes = new WeakMap<Definitions, Map<string, Map<string, SearchParameter>>>();
function urlIndex(defs: Definitions, resourceType: string): Map<string, SearchParameter> {
  let perType = urlIndexes.get(defs);
  if (!perType) urlIndexes.set(defs, (perType = new Map()));
  let m = perType.get(resourceType);
  if (!m) {
    m = new Map();
    for (const p of Object.values(defs.searchParameters(resourceType))) if (p.url) m.set(p.url, p);
    perType.set(resourceType, m);
  }
  return m;
}
