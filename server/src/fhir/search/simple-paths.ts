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
 * The equivalence with FHIRPath is tested on whole populations (test/unit/simple-paths.test.ts).
 */

interface Step {
  name: string;
}

interface CompiledPath {
  steps: Step[];
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
    out.push({ steps: names.map((name) => ({ name })), leafType: typeName, ...(m[3] ? { resolveIs: m[3] } : {}) });
  }
  return out;
}

/** The typed values an expression compiled by compileSimpleExpression yields on `resource`. */
export function evaluateSimple(compiled: SimpleExpression, resource: object): TypedValue[] {
  const out: TypedValue[] = [];
  for (const path of compiled) {
    let current: unknown[] = [resource];
    for (const step of path.steps) {
      const next: unknown[] = [];
      for (const node of current) {
        const v = (node as Record<string, unknown>)[step.name];
        if (v === undefined || v === null) continue;
        if (Array.isArray(v)) {
          for (const item of v) if (item !== undefined && item !== null) next.push(item);
        } else next.push(v);
      }
      current = next;
      if (current.length === 0) break;
    }
    for (const value of current) {
      if (path.resolveIs && resolvedType(value) !== path.resolveIs) continue;
      out.push({ type: path.leafType, value });
    }
  }
  return out;
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
  if (str.includes('?')) return str.split('?')[0];
  if (str.includes('/')) return str.split('/')[0];
  return undefined;
}
