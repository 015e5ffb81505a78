
/**
 * Sorts in place with MongoDB's rules for the cases our query compiler emits: missing values
 * first ascending, arrays compare by their smallest (ascending) or largest (descending) element,
 * then `id` ascending as the stable tie-break.
 */
export function sortDocuments<T extends { id: string }>(docs: T[], sort: Array<[string, 1 | -1]>): void {
  const keys: Array<[string, 1 | -1]> = [...sort, ['id', 1]];
  docs.sort((a, b) => {
    for (const [field, dir] of keys) {
      const c = compareValues(sortKey(getPath(a, field), dir), sortKey(getPath(b, field), dir));
      if (c !== 0) return c * dir;
    }
    return 0;
  });
}

function getPath(doc: unknown, path: string): unknown {
  let values: unknown[] = [doc];
  for (const part of path.split('.')) {
    const next: unknown[] = [];
    for (const v of values) {
      if (v === null || v === undefined) continue;
      const child = (v as Record<string, unknown>)[part];
      if (Array.isArray(child)) next.push(...child);
      else if (child !== undefined) next.push(child);
    }
    values = next;
  }
  return values.length === 0 ? undefined : values.length === 1 ? values[0] : values;
}

function sortKey(v: unknown, dir: 1 | -1): unknown {
  if (!Array.isArray(v)) return v;
  if (v.length === 0) return undefined;
  return v.reduce((best, x) => (compareValues(x, best) * dir < 0 ? x : best));
}

/** MongoDB BSON order for the types we store: missing/null < numbers < strings < objects < booleans. */
function rank(v: unknown): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return 1;
  if (typeof v === 'string') return 2;
  if (typeof v === 'object') return 3;
  if (typeof v === 'boolean') return 4;
  return 5;
}

export function compareValues(a: unknown, b: unknown): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 1) return (a as number) - (b as number);
  if (ra === 2) return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
  if (ra === 4) return Number(a) - Number(b);
  if (ra === 3) return JSON.stringify(a) < JSON.stringify(b) ? -1 : JSON.stringify(a) > JSON.stringify(b) ? 1 : 0;
  return 0;
}
