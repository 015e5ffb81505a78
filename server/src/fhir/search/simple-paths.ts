import { getElementDefinition, getElementDefinitionTypeName, type TypedValue } from '@medplum/core';
import type { ElementDefinition } from '@medplum/fhirtypes';

/**
 * Most SearchParameter expressions are plain member paths (`AuditEvent.agent.who`), unions of
 * them, or a path ending in `.where(resolve() is Patient)`. For those, walking the JSON with the
 * element types looked up once gives the same typed values as FHIRPath evaluation at a fraction
 * of the cost (FHIRPath re-derives every step's type from the schema on every call), which is
 * most of what indexing a write costs. Anything else — choice types, functions, casts,
 * contentReference elements — returns undefined and stays with FHIRPath.
 *
 * The equivalence with FHIRPath is tested on whole populations (test/unit/simple-paths.test.ts,
 * test/unit/index-plan.test.ts).
 */

interface CompiledPath {
  /** Member names from the resource down. */
  names: readonly string[];
  /** FHIR type of the value the last step reaches. */
  leafType: string;
  /** `.where(resolve() is <type>)`: keep only references whose target has this type. */
  resolveIs?: string;
}

export type SimpleExpression = readonly CompiledPath[];

const PATH = /^([A-Z][A-Za-z]+)((?:\.[a-z][A-Za-z]*)+)(?:\.where\(resolve\(\) is ([A-Z][A-Za-z]+)\))?$/;
const ROOT = /^\(*([A-Za-z]+)\./;
const cache = new Map<string, SimpleExpression | null>();

/** The compiled form of `expression` on `resourceType`, or undefined when FHIRPath is needed. */
export function compileSimpleExpression(resourceType: string, expression: string): SimpleExpression | undefined {
  const key = `${resourceType}\u0000${expression}`;
  let compiled = cache.get(key);
  if (compiled === undefined) {
    compiled = compile(resourceType, expression);
    cache.set(key, compiled);
  }
  return compiled ?? undefined;
}

function compile(resourceType: string, expression: string): SimpleExpression | null {
  const out: CompiledPath[] = [];
  for (const raw of expression.split('|')) {
    const alternative = raw.trim();
    // An alternative rooted at another concrete type yields nothing on this one, as in FHIRPath.
    const root = ROOT.exec(alternative)?.[1];
    if (!root || root === 'Resource' || root === 'DomainResource') return null;
    if (root !== resourceType) continue;
    const m = PATH.exec(alternative);
    if (!m) return null;
    const names = (m[2] as string).slice(1).split('.');
    let typeName = resourceType;
    for (const name of names) {
      const el = getElementDefinition(typeName, name);
      const types = el?.type ?? [];
      // A choice element is stored under typed names (valueQuantity): FHIRPath's business.
      if (!el || types.length !== 1 || el.path?.endsWith('[x]')) return null;
      const code = types[0]?.code;
      // A Resource-typed element's values carry their own type (contained, Bundle entries).
      if (!code || code === 'Resource') return null;
      typeName = code === 'BackboneElement' || code === 'Element' ? getElementDefinitionTypeName(el as unknown as ElementDefinition) : code;
      if (!typeName) return null;
    }
    if (m[3] && typeName !== 'Reference') return null;
    out.push({ names, leafType: typeName, ...(m[3] ? { resolveIs: m[3] } : {}) });
  }
  return out;
}

/** The typed values an expression compiled by compileSimpleExpression yields on `resource`. */
export function evaluateSimple(compiled: SimpleExpression, resource: object): TypedValue[] {
  const out: TypedValue[] = [];
  for (const path of compiled) walk(resource, path, 0, out);
  return out;
}

/**
 * Depth first, children in order: the values come out in the order FHIRPath gives them (all of
 * one step before the next, which for a tree is the same order), without a list per step.
 */
function walk(node: unknown, path: CompiledPath, depth: number, out: TypedValue[]): void {
  if (depth === path.names.length) {
    if (path.resolveIs === undefined || resolvedType(node) === path.resolveIs) out.push({ type: path.leafType, value: node });
    return;
  }
  const v = (node as Record<string, unknown>)[path.names[depth] as string];
  if (v === undefined || v === null) return;
  if (Array.isArray(v)) {
    for (const item of v) if (item !== undefined && item !== null) walk(item, path, depth + 1, out);
  } else walk(v, path, depth + 1, out);
}

/** The type FHIRPath's resolve() gives a Reference (as @medplum/core resolves without a server). */
function resolvedType(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const ref = value as { reference?: unknown; type?: unknown; identifier?: { system?: unknown; value?: unknown }; resource?: { resourceType?: unknown } };
  if (ref.resource && typeof ref.resource === 'object') return typeof ref.resource.resourceType === 'string' ? ref.resource.resourceType : undefined;
  let str: string | undefined;
  if (typeof ref.reference === 'string' && ref.reference !== '') str = ref.reference;
  else if (typeof ref.type === 'string' && ref.type !== '' && ref.identifier) str = `${ref.type}?identifier=`;
  if (str === undefined) return undefined;
  const q = str.indexOf('?');
  if (q >= 0) return str.slice(0, q);
  const slash = str.indexOf('/');
  return slash >= 0 ? str.slice(0, slash) : undefined;
}
