import type { Resource } from '@medplum/fhirtypes';
import type { QueryParam } from './search-arbitraries.js';

/** The instant range [lo, hi] (ms, inclusive) a date/dateTime/instant covers at its precision, UTC when zoneless (R4 §3.1.1.4.3). */
export function dateRangeOf(v: string): [number, number] {
  let m: RegExpExecArray | null;
  if ((m = /^(\d{4})$/.exec(v))) return [Date.UTC(+m[1]!, 0, 1), Date.UTC(+m[1]! + 1, 0, 1) - 1];
  if ((m = /^(\d{4})-(\d{2})$/.exec(v))) return [Date.UTC(+m[1]!, +m[2]! - 1, 1), Date.UTC(+m[1]!, +m[2]!, 1) - 1];
  if ((m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v))) return [Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!), Date.UTC(+m[1]!, +m[2]! - 1, +m[3]! + 1) - 1];
  const lo = Date.parse(v);
  const frac = /\.(\d+)/.exec(v)?.[1];
  return [lo, lo + (frac ? 10 ** Math.max(0, 3 - frac.length) - 1 : 999)];
}

/** The target ranges of the (single-valued) date parameters the generators use. */
function targetRanges(r: Resource, code: string): Array<[number, number]> {
  const o = r as unknown as Record<string, any>;
  if (code === 'birthdate') return o.birthDate ? [dateRangeOf(o.birthDate)] : [];
  if (code !== 'date') return [];
  if (o.effectiveDateTime) return [dateRangeOf(o.effectiveDateTime)];
  if (o.effectiveInstant) return [dateRangeOf(o.effectiveInstant)];
  const p = o.effectivePeriod as { start?: string; end?: string } | undefined;
  if (!p) return [];
  return [[p.start ? dateRangeOf(p.start)[0] : -Infinity, p.end ? dateRangeOf(p.end)[1] : Infinity]];
}

/**
 * Why @medplum/core's matcher legitimately answers this resource/query pair differently from
 * R4, or undefined when it does not. medplum reads date eq/ne as "overlaps" and ge/le as "ends at
 * or after / starts at or before the search range"; R4 §3.1.1.4.2 defines eq as "the search range
 * fully contains the target" and ge as "the range above the search value overlaps the target, or
 * eq". They differ only when a target range partially overlaps the search range. medplum's ne
 * also matches a resource without a value, where R4 defines ne only against a target range
 * (unlike token :not, which R4 says includes resources without a value).
 */
export function medplumDivergence(r: Resource, params: QueryParam[]): string | undefined {
  for (const p of params) {
    if (p.key !== 'birthdate' && p.key !== 'date') continue;
    const prefix = /^(eq|ne|gt|lt|ge|le|sa|eb)?/.exec(p.value)![1] ?? 'eq';
    if (!['eq', 'ne', 'ge', 'le'].includes(prefix)) continue;
    const [a, b] = dateRangeOf(p.value.replace(/^(eq|ne|ge|le)/, ''));
    const targets = targetRanges(r, p.key);
    if (prefix === 'ne' && targets.length === 0) return `${p.key}=${p.value}: ne on a resource without a value`;
    for (const [s, e] of targets) {
      const contained = s >= a && e <= b;
      const overlap = s <= b && e >= a;
      const differs = prefix === 'ge' ? e >= a !== (e > b || contained) : prefix === 'le' ? s <= b !== (s < a || contained) : overlap && !contained;
      if (differs) return `${p.key}=${p.value}: target range partially overlaps the search range`;
    }
  }
  return undefined;
}

/** `Type?k=v&…` for messages. */
export function describeQuery(type: string, params: QueryParam[]): string {
  return `${type}?${params.map((p) => `${p.key}=${p.value}`).join('&')}`;
}
