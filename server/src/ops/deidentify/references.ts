import type { Definitions } from '../../fhir/definitions.js';
import { parseLocalReference } from '../../fhir/local-reference.js';
import type { Pseudonyms } from './pseudonyms.js';

const URN_UUID = /^urn:uuid:([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$/;

/**
 * The pseudonymised form of a Reference.reference, or undefined to drop it.
 * - `Type/id` and `Type/id/_history/v` → `Type/<pseudonym>` (the version would link back).
 * - `<baseUrl>/Type/id…` → the same, relative: the export's own references are relative.
 * - `urn:uuid:u` → `urn:uuid:<uuid pseudonym>`, consistent with other `urn:uuid:u` references.
 * - `#local` (a contained resource) is kept: it names nothing outside the resource.
 * - Anything else (another server's URL, conditional references with search parameters,
 *   `urn:oid:`) is dropped: it can hold identifiers and cannot be pseudonymised consistently.
 */
export function rewriteReference(reference: string, defs: Definitions, pseudonyms: Pseudonyms, baseUrl: string | undefined): string | undefined {
  if (reference.startsWith('#')) return reference;
  const literal = parseLocalReference(reference, baseUrl);
  if (literal) return defs.isResourceType(literal.type) ? `${literal.type}/${pseudonyms.id(literal.type, literal.id)}` : undefined;
  const urn = URN_UUID.exec(reference);
  return urn ? `urn:uuid:${pseudonyms.uuid(urn[1] as string)}` : undefined;
}
