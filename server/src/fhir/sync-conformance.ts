import { computeIndex } from './search/index-values.js';
import type { FhirContext } from './fhir-context.js';

/**
 * Makes the project's conformance resources (fhir-profiles/) readable and searchable like any
 * other resource: written at start-up when missing or changed, as a new version.
 */
export async function syncConformanceResources(ctx: FhirContext): Promise<number> {
  let written = 0;
  for (const resource of ctx.defs.projectResources) {
    const id = resource.id as string;
    const current = await ctx.store.readCurrent(resource.resourceType, id);
    if (current?.resource && !current.deleted && sameContent(current.resource, resource)) continue;
    await ctx.store.commit({
      now: ctx.now(),
      ops: [{ kind: 'update', resourceType: resource.resourceType, id, resource, index: computeIndex(ctx.defs, resource) }],
    });
    written++;
  }
  return written;
}

function sameContent(a: object, b: object): boolean {
  const strip = (r: object): string => JSON.stringify({ ...r, meta: undefined });
  return strip(a) === strip(b);
}
