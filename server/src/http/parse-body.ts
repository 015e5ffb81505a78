import { FhirError } from '../fhir/outcomes.js';

const JSON_TYPES = ['application/fhir+json', 'application/json', 'application/json-patch+json'];

/**
 * Parses the raw body by media type. FHIR JSON (and plain JSON, and JSON Patch) or, for
 * POST _search, form encoding. Anything else with a body is 415; broken JSON is 400.
 */
export function parseBody(raw: Buffer | undefined, contentType: string | undefined): { json?: unknown; form?: URLSearchParams } {
  const empty = !raw || !Buffer.isBuffer(raw) || raw.length === 0;
  // POST _search legitimately has no body; handlers that need one say so.
  if (empty) return {};
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'application/x-www-form-urlencoded') {
    return { form: new URLSearchParams(raw.toString('utf8')) };
  }
  if (!JSON_TYPES.includes(type)) {
    throw new FhirError('unsupported-media-type', `Content-Type '${contentType ?? '(none)'}' is not supported; send application/fhir+json`);
  }
  const text = raw.toString('utf8');
  try {
    return { json: JSON.parse(text) };
  } catch (err) {
    throw new FhirError('invalid-json', `Malformed JSON: ${(err as Error).message}`);
  }
}
