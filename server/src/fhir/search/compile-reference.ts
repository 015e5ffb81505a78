import type { SearchParameter } from '@medplum/fhirtypes';
import { unescapeValue, type Doc } from './query-doc.js';

/**
 * Reference parameters (R4 search, https://hl7.org/fhir/R4/search.html#reference) over the
 * references as written (`Type/id`, absolute URL, canonical, see index-entries.ts). One search
 * value stands for several stored forms:
 *   `Type/id`          itself (a `/_history/v` suffix is dropped)
 *   bare `id`          `T/id` for each target type T of the parameter (only `Type/id` with `:Type`)
 *   absolute URL       itself and, when it ends in `Type/id`, that local form too: the compiler
 *                      does not know this server's base URL, so a URL naming a resource type and
 *                      id is also taken as a reference to the resource here
 *   anything else      itself (canonical URLs, urn:uuid:)
 */
export function referenceCandidates(param: SearchParameter, raw: string, isResourceType: (t: string) => boolean, typeModifier?: string): string[] {
  const v = unescapeValue(raw).replace(/\/_history\/[^/]*$/, '');
  if (/^[a-z][a-z0-9+.-]*:/i.test(v)) {
    const m = /\/([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(v);
    return m && isResourceType(m[1] as string) ? [v, `${m[1]}/${m[2]}`] : [v];
  }
  if (v.includes('/')) return [v];
  if (typeModifier) return [`${typeModifier}/${v}`];
  const targets = param.target ?? [];
  return targets.length > 0 ? targets.map((t) => `${t}/${v}`) : [v];
}

export function referenceConditions(param: SearchParameter, raw: string, isResourceType: (t: string) => boolean): Doc[] {
  return [{ $in: referenceCandidates(param, raw, isResourceType) }];
}
