import type { ResourceStore } from '../../store/resource-store.js';
import { FhirError } from '../outcomes.js';
import { normaliseString } from './normalise-string.js';
import { escapeRegex, splitEscaped, unescapeValue, type Doc } from './query-doc.js';
import { valueSetCodes } from './value-set-codes.js';

/**
 * Token parameters (R4 search, https://hl7.org/fhir/R4/search.html#token) over index entries
 * `{s?, c?, t?, ts?, tc?}` (see index-entries.ts). Each function returns the ORed alternatives
 * for one search value, as `$elemMatch` conditions on the parameter's field.
 */

/** `code`, `system|code`, `|code` (no system), `system|` (any code of the system). */
export function tokenConditions(raw: string): Doc[] {
  return [{ $elemMatch: tokenMatch(raw) }];
}

export function tokenMatch(raw: string): Doc {
  const parts = splitEscaped(raw, '|');
  if (parts.length === 1) return { c: unescapeValue(raw) };
  const system = unescapeValue(parts[0] as string);
  const code = unescapeValue(parts.slice(1).join('|'));
  if (system === '' && code === '') throw new FhirError('bad-request', `Invalid token '${raw}': give a code, system|code, |code or system|`);
  if (system === '') return { s: { $exists: false }, c: code };
  if (code === '') return { s: system };
  return { s: system, c: code };
}

/** `:text`: the display of a Coding or the text of a CodeableConcept starts with the value (case- and accent-insensitive). */
export function tokenTextConditions(raw: string): Doc[] {
  return [{ $elemMatch: { t: { $regex: `^${escapeRegex(normaliseString(unescapeValue(raw)))}` } } }];
}

/** `:of-type` (Identifier): `type-system|type-code|value`, all three required. */
export function ofTypeConditions(raw: string): Doc[] {
  const parts = splitEscaped(raw, '|').map(unescapeValue);
  if (parts.length !== 3 || parts.some((p) => p === '')) {
    throw new FhirError('bad-request', `Invalid :of-type value '${raw}': expected type-system|type-code|value`);
  }
  const [ts, tc, c] = parts as [string, string, string];
  return [{ $elemMatch: { ts, tc, c } }];
}

/** `:in` (and, negated by the caller, `:not-in`): a coding whose system and code are in the ValueSet. */
export async function inValueSetConditions(store: Pick<ResourceStore, 'search' | 'readCurrent'>, raw: string): Promise<Doc[]> {
  const codes = await valueSetCodes(store, unescapeValue(raw));
  const out: Doc[] = [];
  for (const [system, sel] of codes) {
    const s = system === '' ? { s: { $exists: false } } : { s: system };
    if (sel.all) out.push({ $elemMatch: { ...s, c: sel.except.size > 0 ? { $exists: true, $nin: [...sel.except].sort() } : { $exists: true } } });
    else if (sel.codes.size > 0) out.push({ $elemMatch: { ...s, c: { $in: [...sel.codes].sort() } } });
  }
  // An empty ValueSet contains nothing: a condition no entry satisfies keeps the shape servable.
  return out.length > 0 ? out : [{ $elemMatch: { c: { $in: [] } } }];
}
