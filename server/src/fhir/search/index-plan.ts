import type { SearchParameterDetails } from '@medplum/core';
import type { SearchParameter } from '@medplum/fhirtypes';
import type { Definitions } from '../definitions.js';
import { compileSimpleExpression, type SimpleExpression } from './simple-paths.js';

/**
 * What computeIndex works out about a resource type's SearchParameters once rather than on every
 * write: which parameters to evaluate, the top-level elements each reads, the plain-path form of
 * its expression. Per call only the resource's own keys are looked at (which roots are present)
 * and the parameters whose roots are present are evaluated.
 */
export interface TypePlan {
  readonly params: readonly ParamPlan[];
  /** Every root some parameter reads; ParamPlan.roots index into this. */
  readonly rootNames: readonly string[];
  /** Root name → its index in rootNames. */
  readonly rootIndex: ReadonlyMap<string, number>;
}

export interface ParamPlan {
  readonly code: string;
  readonly param: SearchParameter;
  /** The SearchParameter type ('' when the definition has none: it indexes nothing then). */
  readonly type: string;
  readonly composite: boolean;
  /** Indexes into TypePlan.rootNames, or null when absence cannot be told from the keys. */
  readonly roots: readonly number[] | null;
  /** The expression as plain paths (simple-paths.ts), or undefined when FHIRPath is needed. */
  readonly simple: SimpleExpression | undefined;
  /** `<code>:exact` for string parameters. */
  readonly exactKey: string | undefined;
  /**
   * medplum's parsed details, taken on first FHIRPath use. medplum caches them itself by
   * resource type and parameter code, across Definitions: two Definitions giving one code
   * different expressions share the first one's on this path (the walked path has its own).
   */
  details?: SearchParameterDetails;
}

/**
 * Keyed by the parameters object itself, not by type name: a Definitions built with other
 * SearchParameters hands out another object, so it never meets a plan made for different ones
 * (but see ParamPlan.details). The object and its definitions are taken as fixed once handed out
 * (loadDefinitions fills medplum's index before anything is written). Within one object, per
 * type: a Definitions may hand out one object for several types.
 */
const plans = new WeakMap<object, Map<string, TypePlan>>();

export function indexPlan(defs: Definitions, resourceType: string): TypePlan {
  const params = defs.searchParameters(resourceType);
  let byType = plans.get(params);
  if (byType === undefined) plans.set(params, (byType = new Map()));
  let plan = byType.get(resourceType);
  if (plan === undefined) byType.set(resourceType, (plan = buildPlan(resourceType, params)));
  return plan;
}

function buildPlan(resourceType: string, params: Readonly<Record<string, SearchParameter>>): TypePlan {
  const rootNames: string[] = [];
  const out: ParamPlan[] = [];
  for (const [code, param] of Object.entries(params)) {
    if (code === '_id' || code === '_lastUpdated' || !param.expression) continue;
    const composite = param.type === 'composite';
    const names = composite ? compositeRoots(resourceType, param) : expressionRoots(resourceType, param);
    out.push({
      code,
      param,
      type: param.type ?? '',
      composite,
      roots: names === null ? null : names.map((n) => indexOf(rootNames, n)),
      simple: composite ? undefined : compileSimpleExpression(resourceType, param.expression),
      exactKey: param.type === 'string' ? `${code}:exact` : undefined,
    });
  }
  return { params: out, rootNames, rootIndex: new Map(rootNames.map((n, i) => [n, i])) };
}

function indexOf(names: string[], name: string): number {
  const i = names.indexOf(name);
  if (i >= 0) return i;
  names.push(name);
  return names.length - 1;
}

/**
 * Marks the roots an own key of a resource counts as present: the root of that name, and a root
 * the key extends with an upper-case letter (a choice element stored as `valueQuantity`), found
 * by looking up each prefix that ends before an upper-case letter.
 */
export function markRootsOfKey(plan: TypePlan, key: string, present: Uint8Array): void {
  const own = plan.rootIndex.get(key);
  if (own !== undefined) present[own] = 1;
  for (let at = 1; at < key.length; at++) {
    if (!isChoiceSuffix(key, at)) continue;
    const i = plan.rootIndex.get(key.slice(0, at));
    if (i !== undefined) present[i] = 1;
  }
}

function isChoiceSuffix(key: string, at: number): boolean {
  const c = key.charCodeAt(at);
  return c >= 65 && c <= 90;
}

/**
 * The top-level elements of `resourceType` an expression reads, or null when that cannot be
 * told from the text (then the parameter is always evaluated).
 */
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
