import type { Resource } from '@medplum/fhirtypes';
import { codingKey, type CodingKey } from './data-categories.js';

/**
 * Every Coding anywhere in a resource's content — top level to the deepest backbone element,
 * contained resources included — except under `meta` (labels and tags are the server's and the
 * client's statements about the resource, not its content). R4 Consent's provision.code "if
 * this code is found in an instance, the rule applies" is tested against this set, and the
 * labeler maps it to categories.
 */
export function collectCodings(resource: Resource): Set<CodingKey> {
  const out = new Set<CodingKey>();
  walk(resource, out, true);
  return out;
}

function walk(value: unknown, out: Set<CodingKey>, top: boolean): void {
  if (Array.isArray(value)) {
    for (const v of value) walk(v, out, false);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const o = value as Record<string, unknown>;
  if (typeof o.code === 'string' && (typeof o.system === 'string' || o.system === undefined) && o.code !== '' && !('resourceType' in o && top)) {
    // A Coding (or Quantity/ContactPoint-like element with a code); system may be absent.
    if (typeof o.system === 'string' || hasCodingShape(o)) out.add(codingKey(o.system as string | undefined, o.code));
  }
  for (const [k, v] of Object.entries(o)) {
    if (top && (k === 'meta' || k === 'text')) continue;
    if (v !== null && typeof v === 'object') walk(v, out, false);
  }
}

/** A bare `{code, display}` without system is still a Coding. */
function hasCodingShape(o: Record<string, unknown>): boolean {
  return Object.keys(o).every((k) => k === 'code' || k === 'display' || k === 'version' || k === 'userSelected' || k === 'extension' || k === 'id');
}
