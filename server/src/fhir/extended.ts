/**
 * `{ ...base, ...extra }`, same keys in the same order, without V8's slow path: on Node 20 a
 * spread copy that gains a key its source lacks costs 1–2.5 µs (measured on a resource's index
 * gaining `_consent`, a meta gaining versionId and lastUpdated), Object.assign ~0.1–0.3 µs. For
 * the per-request and per-write paths; elsewhere the spread reads better.
 */
export function extended<T extends object, U extends object>(base: T | undefined, extra: U): Omit<T, keyof U> & U {
  return Object.assign(Object.assign({}, base), extra) as Omit<T, keyof U> & U;
}
