/**
 * A deep copy of a JSON value (a FHIR resource). Several times faster than structuredClone on
 * resource-shaped objects, and it is the copy a resource gets anyway once serialised: members
 * whose value is undefined are dropped.
 */
export function cloneJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
