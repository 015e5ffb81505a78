import type { ResourceStore, SearchMatch } from '../../store/resource-store.js';
import type { Definitions } from '../definitions.js';
import { localReference } from '../local-reference.js';
import { includeParamsFor, referenceParams, type IncludeParam } from './include-params.js';

/**
 * `_include` / `_revinclude` with `:iterate` (R4 §3.1.1.5.5, https://hl7.org/fhir/R4/search.html#include)
 * for the rows of one page. Reference values come from the search index (`indexFields`), so no
 * resource body is parsed to find them; targets are read in one query per type. Iteration runs
 * to a fixed point, bounded by MAX_ROUNDS and by `maxIncludes` resources.
 */
export interface IncludeResult {
  included: SearchMatch[];
  /** The bound was reached: some resources that qualified were left out. */
  truncated: boolean;
}

/** Enough for chains such as MedicationRequest → Medication → Organization → Organization. */
export const MAX_ROUNDS = 5;
const ID_CHUNK = 500;

export interface IncludeContext {
  store: Pick<ResourceStore, 'search'>;
  defs: Definitions;
  baseUrl: string;
  maxIncludes: number;
}

/** The idx fields a row of `type` must carry for these includes (`iterateOnly`: later rounds). */
export function includeIndexFields(defs: Definitions, includes: readonly IncludeParam[], type: string, iterateOnly: boolean): string[] {
  const fields = new Set<string>();
  for (const inc of includes) {
    if (inc.kind !== 'include' || (iterateOnly && !inc.iterate)) continue;
    for (const p of includeParamsFor(defs, inc, type)) fields.add(p);
  }
  return [...fields];
}

export async function resolveIncludes(c: IncludeContext, includes: readonly IncludeParam[], page: readonly SearchMatch[]): Promise<IncludeResult> {
  const seen = new Set(page.map(key));
  const included: SearchMatch[] = [];
  let truncated = false;
  let frontier: readonly SearchMatch[] = page;
  for (let round = 0; round <= MAX_ROUNDS && frontier.length > 0 && !truncated; round++) {
    // The first round works on the matches with every include; later rounds only follow
    // `:iterate` ones, from what the previous round added.
    const active = includes.filter((i) => round === 0 || i.iterate);
    if (active.length === 0) break;
    const found: SearchMatch[] = [];
    const room = (): number => c.maxIncludes - included.length - found.length;
    const add = (rows: readonly SearchMatch[]): void => {
      for (const r of rows) {
        const k = key(r);
        if (seen.has(k)) continue;
        if (room() <= 0) {
          truncated = true;
          return;
        }
        seen.add(k);
        found.push(r);
      }
    };

    for (const [type, ids] of targetsOf(c, active, frontier, seen)) {
      for (let i = 0; i < ids.length && !truncated; i += ID_CHUNK) {
        const chunk = ids.slice(i, i + ID_CHUNK);
        const r = await c.store.search({
          resourceType: type,
          filter: { id: { $in: chunk } },
          limit: chunk.length,
          ...withFields(includeIndexFields(c.defs, includes, type, true)),
        });
        add(r.resources);
      }
    }

    for (const inc of active) {
      if (inc.kind !== 'revinclude' || truncated) continue;
      const refs = frontier
        .filter((r) => inc.targetType === undefined || r.resourceType === inc.targetType)
        .flatMap((r) => [`${r.resourceType}/${r.id}`, `${c.baseUrl}/${r.resourceType}/${r.id}`]);
      if (refs.length === 0) continue;
      const params = inc.param === '*' ? referenceParams(c.defs, inc.sourceType) : [inc.param];
      if (params.length === 0) continue;
      const clauses = params.map((p) => ({ [`idx.${p}`]: { $in: refs } }));
      const r = await c.store.search({
        resourceType: inc.sourceType,
        filter: clauses.length === 1 ? (clauses[0] as Record<string, unknown>) : { $or: clauses },
        // One more than fits tells "there was more" apart from "exactly enough".
        limit: Math.max(0, room()) + 1,
        ...withFields(includeIndexFields(c.defs, includes, inc.sourceType, true)),
      });
      add(r.resources);
    }

    included.push(...found);
    frontier = found;
  }
  return { included, truncated };
}

/** Type → ids of the resources that the frontier's `_include`s point at and are not yet present. */
function targetsOf(c: IncludeContext, active: readonly IncludeParam[], frontier: readonly SearchMatch[], seen: ReadonlySet<string>): Map<string, string[]> {
  const targets = new Map<string, Set<string>>();
  for (const row of frontier) {
    for (const inc of active) {
      if (inc.kind !== 'include') continue;
      for (const param of includeParamsFor(c.defs, inc, row.resourceType)) {
        const values = row.index?.[param];
        if (!Array.isArray(values)) continue;
        for (const v of values) {
          const ref = typeof v === 'string' ? localReference(v, c.baseUrl) : undefined;
          if (!ref || (inc.targetType !== undefined && ref.type !== inc.targetType)) continue;
          if (!c.defs.isResourceType(ref.type) || seen.has(`${ref.type}/${ref.id}`)) continue;
          let ids = targets.get(ref.type);
          if (!ids) targets.set(ref.type, (ids = new Set()));
          ids.add(ref.id);
        }
      }
    }
  }
  return new Map([...targets].map(([t, ids]) => [t, [...ids]]));
}

function key(r: { resourceType: string; id: string }): string {
  return `${r.resourceType}/${r.id}`;
}

function withFields(fields: string[]): { indexFields?: string[] } {
  return fields.length > 0 ? { indexFields: fields } : {};
}
