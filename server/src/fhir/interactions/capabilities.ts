import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';
import type { Definitions } from '../definitions.js';
import type { FhirContext } from '../fhir-context.js';
import type { FhirRequest, FhirResponse } from '../fhir-request.js';
import { ROUTES, type TypeInteraction } from '../routes.js';
import { SUPPORTED_SEARCH_TYPES } from '../search/compile-search.js';
import { SERVER_WRITTEN_TYPES } from './write-guard.js';
import { referenceParams } from '../search-results/include-params.js';

/** Parameters common to every type, usable in a system-level search (R4 §3.1.1.5.1). */
const SYSTEM_PARAM_TYPES = { _id: 'token', _lastUpdated: 'date', _tag: 'token', _profile: 'uri', _security: 'token', _source: 'uri' } as const;
const SYSTEM_SEARCH_PARAMS = Object.keys(SYSTEM_PARAM_TYPES) as Array<keyof typeof SYSTEM_PARAM_TYPES>;

const revIncludeCache = new WeakMap<Definitions, Map<string, string[]>>();

/**
 * For each type, the `Type:param` values that can point at it (a parameter without declared
 * targets may point anywhere). Computed once per set of definitions: it is types × parameters.
 */
function revIncludes(defs: Definitions): Map<string, string[]> {
  let map = revIncludeCache.get(defs);
  if (!map) {
    map = new Map(defs.resourceTypes.map((t) => [t, [] as string[]]));
    for (const source of defs.resourceTypes) {
      for (const param of referenceParams(defs, source)) {
        const targets = (defs.searchParameters(source)[param]?.target as string[] | undefined) ?? [];
        for (const target of targets.length > 0 ? targets : defs.resourceTypes) map.get(target)?.push(`${source}:${param}`);
      }
    }
    revIncludeCache.set(defs, map);
  }
  return map;
}

/**
 * GET /metadata (R4 §3.1.0.13): generated from the route table, the loaded definitions and the
 * search compiler's supported parameter types, never hand-written.
 */
export function capabilities(ctx: FhirContext, req: FhirRequest, software: { name: string; version: string }): FhirResponse {
  const typeInteractions = new Set<TypeInteraction>();
  const operations = new Map<string, { types?: readonly string[]; definition: string }>();
  let transaction = false;
  let systemSearch = false;
  for (const route of ROUTES) {
    if (route.interaction === 'operation' && route.operation) {
      const definition = route.definition ?? `http://hl7.org/fhir/OperationDefinition/Resource-${route.operation}`;
      operations.set(route.operation, { ...(route.types ? { types: route.types } : {}), definition });
    } else if (route.interaction === 'transaction') transaction = true;
    else if (route.interaction === 'search-system') systemSearch = true;
    else if (route.interaction !== 'batch' && route.interaction !== 'capabilities') typeInteractions.add(route.interaction as TypeInteraction);
  }
  const resources: CapabilityStatementRestResource[] = ctx.defs.resourceTypes.map((type) => {
    const readOnly = SERVER_WRITTEN_TYPES.has(type);
    const interactions = [...typeInteractions].filter((i: string) => !readOnly || ['read', 'vread', 'search-type', 'history-instance', 'history-type'].includes(i));
    const params = Object.values(ctx.defs.searchParameters(type))
      .filter((p) => SUPPORTED_SEARCH_TYPES.has(p.type as string) || p.code === '_id' || p.code === '_lastUpdated')
      .sort((a, b) => (a.code as string).localeCompare(b.code as string));
    const searches = interactions.includes('search-type');
    const ops = [...operations].filter(([, o]) => !o.types || o.types.includes(type)).map(([name, o]) => ({ name, definition: o.definition }));
    const profiles = ctx.defs.projectResources.filter((r) => r.resourceType === 'StructureDefinition' && (r as { type?: string }).type === type);
    return {
      type,
      ...(profiles.length > 0 ? { supportedProfile: profiles.map((p) => (p as { url: string }).url) } : {}),
      interaction: interactions.map((code) => ({ code })),
      versioning: 'versioned-update',
      readHistory: true,
      updateCreate: !readOnly && ctx.options.updateCreate,
      conditionalCreate: !readOnly,
      conditionalRead: 'not-supported',
      conditionalUpdate: !readOnly,
      conditionalDelete: readOnly ? 'not-supported' : 'single',
      ...(searches
        ? {
            // What `_include`/`_revinclude` accept (R4 §3.1.1.5.5): each reference parameter, `*`
            // for all of them; `:iterate` is supported on both.
            searchInclude: ['*', ...referenceParams(ctx.defs, type).map((p) => `${type}:${p}`)],
            searchRevInclude: revIncludes(ctx.defs).get(type) ?? [],
          }
        : {}),
      searchParam: params.map((p) => ({ name: p.code as string, definition: p.url, type: p.type })),
      ...(ops.length > 0 ? { operation: ops } : {}),
    } as CapabilityStatementRestResource;
  });
  const statement: CapabilityStatement = {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: ctx.now(),
    kind: 'instance',
    software: { name: software.name, version: software.version },
    implementation: { description: `${software.name} FHIR R4 server (${ctx.store.engine} storage)`, url: req.baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'application/json'],
    patchFormat: ['application/json-patch+json'],
    rest: [
      {
        mode: 'server',
        resource: resources,
        interaction: [...(transaction ? [{ code: 'transaction' as const }, { code: 'batch' as const }] : []), ...(systemSearch ? [{ code: 'search-system' as const }] : [])],
        ...(systemSearch ? { searchParam: SYSTEM_SEARCH_PARAMS.map((name) => ({ name, type: SYSTEM_PARAM_TYPES[name] })) } : {}),
      },
    ],
  };
  return { status: 200, body: statement };
}
