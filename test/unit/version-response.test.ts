import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Resource } from '@medplum/fhirtypes';
import { versionHeaders, versionResponse } from '../../server/src/fhir/resource-response.js';
import type { StoredVersion } from '../../server/src/store/resource-store.js';

/** A stored version whose resource is parsed from its JSON on access, counting the parses. */
function stored(json: string): { v: StoredVersion; parses: () => number } {
  let n = 0;
  const v = { resourceType: 'Observation', id: 'o1', versionId: '3', lastUpdated: '2024-01-15T09:30:00.000Z', deleted: false, json } as StoredVersion;
  Object.defineProperty(v, 'resource', { get: () => (n++, JSON.parse(json) as Resource), enumerable: true });
  return { v, parses: () => n };
}

describe('versionResponse', () => {
  const json = '{"resourceType":"Observation","id":"o1","status":"final"}';

  it('sends the stored JSON without parsing it', () => {
    const { v, parses } = stored(json);
    const res = versionResponse(v, versionHeaders(v));
    assert.equal(res.status, 200);
    assert.equal(res.json, json);
    assert.equal(res.headers?.ETag, 'W/"3"');
    assert.equal(parses(), 0);
  });

  it('still has the resource for whoever reads body (a batch entry, a spread)', () => {
    const { v, parses } = stored(json);
    const res = versionResponse(v, {});
    assert.deepEqual(res.body, JSON.parse(json));
    assert.equal(parses(), 1);
    assert.deepEqual({ ...res }.body, JSON.parse(json));
  });

  it('a version without stored JSON carries its resource as body', () => {
    const resource = { resourceType: 'Patient', id: 'p1' } as Resource;
    const v: StoredVersion = { resourceType: 'Patient', id: 'p1', versionId: '1', lastUpdated: '2024-01-15T09:30:00.000Z', deleted: false, resource };
    const res = versionResponse(v, {});
    assert.equal(res.body, resource);
    assert.equal(res.json, undefined);
  });
});
