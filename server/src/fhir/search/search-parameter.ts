import type { SearchParameter } from '@medplum/fhirtypes';
import type { Definitions } from '../definitions.js';

/**
 * The SearchParameter `code` names for a type, or undefined. Codes come from clients, so only
 * the map's own keys count: `__proto__` or `constructor` must not find Object's members.
 */
export function searchParameter(defs: Definitions, resourceType: string, code: string): SearchParameter | undefined {
  const params = defs.searchParameters(resourceType);
  return Object.hasOwn(params, code) ? params[code] : undefined;
}
