import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { FhirError } from './outcomes.js';

/**
 * The `parameter` entries of an operation's POST body, checked for shape: a Parameters
 * resource whose `parameter` (when present) is an array of objects. Operations read the entries'
 * values themselves; this only makes sure a malformed body is a 400, never a TypeError (500).
 */
export function parameterEntries(body: unknown, operation: string): ParametersParameter[] {
  const b = body as Partial<Parameters> | null;
  if (b === null || typeof b !== 'object' || Array.isArray(b) || b.resourceType !== 'Parameters') {
    throw new FhirError('bad-request', `The body of a POST ${operation} must be a Parameters resource`);
  }
  const list: unknown = b.parameter ?? [];
  if (!Array.isArray(list)) throw new FhirError('bad-request', 'Parameters.parameter must be an array', 'Parameters.parameter');
  list.forEach((p, i) => {
    if (p === null || typeof p !== 'object' || Array.isArray(p)) throw new FhirError('bad-request', `Parameters.parameter[${i}] must be an object`, `Parameters.parameter[${i}]`);
  });
  return list as ParametersParameter[];
}
