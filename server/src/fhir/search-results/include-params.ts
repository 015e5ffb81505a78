import type { SearchParameter } from '@medplum/fhirtypes';
import type { Definitions } from '../definitions.js';
import { FhirError } from '../outcomes.js';

/**
 * One `_include` or `_revinclude` value (R4 §3.1.1.5.5 "Including other resources",
 * https://hl7.org/fhir/R4/search.html#include): `Type:param[:targetType]`, with `*` for "every
 * reference parameter" and `:iterate` for following the results again.
 *
 * @medplum/core's parser refuses `*`, so these values are parsed here.
 */
export interface IncludeParam {
  kind: 'include' | 'revinclude';
  iterate: boolean;
  /** The type whose reference parameter is followed; '*' (only `_include=*`) = any type. */
  sourceType: string;
  /** Reference parameter code, or '*' for every reference parameter of sourceType. */
  param: string;
  /** Only references to this type are followed. */
  targetType?: string;
}

const NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

/**
 * Most distinct `_include`/`_revinclude` values one search may carry. Each costs queries on
 * every round of iteration, so repeats are merged and a longer list is refused as too costly.
 */
export const MAX_INCLUDE_PARAMS = 50;

/**
 * Parses every `_include`/`_revinclude` in the query. Malformed values are a 400; a value that
 * is well formed but names something this server does not know goes to `unsupported` (strict:
 * 400, lenient: a warning).
 */
export function parseIncludes(
  defs: Definitions,
  query: Readonly<Record<string, readonly string[]>>,
  unsupported: (message: string, param: string) => void,
): IncludeParam[] {
  const out: IncludeParam[] = [];
  const seen = new Set<string>();
  for (const [key, values] of Object.entries(query)) {
    const [name, modifier, ...rest] = key.split(':');
    if (name !== '_include' && name !== '_revinclude') continue;
    const kind = name === '_include' ? 'include' : 'revinclude';
    // `recurse` is the STU3 spelling of `iterate`; clients still send it.
    if (rest.length > 0 || (modifier !== undefined && modifier !== 'iterate' && modifier !== 'recurse')) {
      unsupported(`Modifier '${key.slice(name.length + 1)}' is not supported on ${name}; use :iterate`, key);
      continue;
    }
    for (const raw of values) {
      const p = parseOne(defs, kind, modifier !== undefined, raw, key, unsupported);
      if (!p) continue;
      const id = JSON.stringify([p.kind, p.iterate, p.sourceType, p.param, p.targetType ?? '']);
      if (seen.has(id)) continue;
      seen.add(id);
      out.push(p);
      if (out.length > MAX_INCLUDE_PARAMS) {
        const text = `A search may carry at most ${MAX_INCLUDE_PARAMS} distinct _include/_revinclude values`;
        throw new FhirError('bad-request', text, key, [{ severity: 'error', code: 'too-costly', details: { text }, expression: [key] }]);
      }
    }
  }
  return out;
}

function parseOne(
  defs: Definitions,
  kind: IncludeParam['kind'],
  iterate: boolean,
  raw: string,
  key: string,
  unsupported: (message: string, param: string) => void,
): IncludeParam | undefined {
  if (raw === '*') {
    if (kind === 'revinclude') {
      // Every reference parameter of every type: unbounded, so only `Type:*` is offered.
      unsupported(`'_revinclude=*' is not supported; name the type, e.g. _revinclude=Provenance:*`, key);
      return undefined;
    }
    return { kind, iterate, sourceType: '*', param: '*' };
  }
  const parts = raw.split(':');
  if (parts.length < 2 || parts.length > 3 || !NAME.test(parts[0] as string) || !(parts[1] === '*' || NAME.test(parts[1] as string)) || (parts[2] !== undefined && !NAME.test(parts[2]))) {
    throw new FhirError('bad-request', `Invalid ${key} value '${raw}': expected ResourceType:search-parameter[:targetType]`, key);
  }
  const [sourceType, param, targetType] = parts as [string, string, string | undefined];
  if (!defs.isResourceType(sourceType)) {
    unsupported(`${key}: unknown resource type '${sourceType}'`, key);
    return undefined;
  }
  if (targetType !== undefined && !defs.isResourceType(targetType)) {
    unsupported(`${key}: unknown target type '${targetType}'`, key);
    return undefined;
  }
  if (param !== '*') {
    const sp = defs.searchParameters(sourceType)[param];
    if (!sp || sp.type !== 'reference') {
      unsupported(`${key}: '${param}' is not a reference search parameter of ${sourceType}`, key);
      return undefined;
    }
    if (targetType !== undefined && sp.target && sp.target.length > 0 && !sp.target.includes(targetType as never)) {
      unsupported(`${key}: ${sourceType}.${param} cannot refer to ${targetType}`, key);
      return undefined;
    }
  }
  return { kind, iterate, sourceType, param, ...(targetType !== undefined ? { targetType } : {}) };
}

/**
 * The reference parameters `*` stands for on a type. Resource-level parameters starting with
 * `_` (such as medplum's `_compartment`) are not the resource's own references and are left out.
 */
export function referenceParams(defs: Definitions, type: string): string[] {
  return Object.values(defs.searchParameters(type))
    .filter((p: SearchParameter) => p.type === 'reference' && !(p.code as string).startsWith('_'))
    .map((p) => p.code as string)
    .sort();
}

/** The reference parameters an include follows on a resource of `type` (none if it does not apply). */
export function includeParamsFor(defs: Definitions, inc: IncludeParam, type: string): string[] {
  if (inc.sourceType !== '*' && inc.sourceType !== type) return [];
  return inc.param === '*' ? referenceParams(defs, type) : [inc.param];
}
