/**
 * Collects query parameters, keeping repeats in order. The map has no prototype, so names
 * such as `__proto__` or `constructor` coming from a client are plain keys, not object internals.
 */
export function queryParams(pairs: Iterable<[string, string]>, into?: Record<string, string[]>): Record<string, string[]> {
  const out = into ?? (Object.create(null) as Record<string, string[]>);
  for (const [k, v] of pairs) {
    const list = Object.prototype.hasOwnProperty.call(out, k) ? out[k] : undefined;
    if (list) list.push(v);
    else out[k] = [v];
  }
  return out;
}
