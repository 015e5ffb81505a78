import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { localReference, parseLocalReference } from '../../server/src/fhir/local-reference.js';

const BASE = 'https://fhir.example.org/fhir';
const ID64 = 'a'.repeat(64);

describe('parseLocalReference', () => {
  it('reads relative Type/id', () => {
    assert.deepEqual(parseLocalReference('Patient/p-1.x'), { type: 'Patient', id: 'p-1.x' });
    assert.deepEqual(parseLocalReference(`Observation/${ID64}`), { type: 'Observation', id: ID64 });
  });

  it('reads a versioned reference and returns the version', () => {
    assert.deepEqual(parseLocalReference('Patient/p1/_history/3'), { type: 'Patient', id: 'p1', versionId: '3' });
    assert.deepEqual(parseLocalReference(`Patient/p1/_history/${ID64}`), { type: 'Patient', id: 'p1', versionId: ID64 });
  });

  it("reads this server's absolute URL only when given the base", () => {
    assert.deepEqual(parseLocalReference(`${BASE}/Patient/p1`, BASE), { type: 'Patient', id: 'p1' });
    assert.deepEqual(parseLocalReference(`${BASE}/Patient/p1/_history/2`, BASE), { type: 'Patient', id: 'p1', versionId: '2' });
    assert.equal(parseLocalReference(`${BASE}/Patient/p1`), undefined);
    // The base is stripped once, not repeatedly.
    assert.equal(parseLocalReference(`${BASE}/${BASE}/Patient/p1`, BASE), undefined);
  });

  it("rejects another server's URL, including one that shares a prefix with the base", () => {
    assert.equal(parseLocalReference('https://elsewhere.example.org/fhir/Patient/p1', BASE), undefined);
    assert.equal(parseLocalReference(`${BASE}2/Patient/p1`, BASE), undefined);
    assert.equal(parseLocalReference(`${BASE}Patient/p1`, BASE), undefined);
    assert.equal(parseLocalReference('/Patient/p1', BASE), undefined);
  });

  it('rejects a type that is not a resource type name', () => {
    for (const ref of ['patient/p1', 'P/p1', 'Pa-tient/p1', 'Patient1/p1', '_history/p1', '/p1', 'Patient']) {
      assert.equal(parseLocalReference(ref), undefined, ref);
    }
  });

  it('rejects an id or version that is not an R4 id', () => {
    assert.equal(parseLocalReference(`Patient/${ID64}a`), undefined);
    assert.equal(parseLocalReference(`Patient/p1/_history/${ID64}a`), undefined);
    for (const ref of ['Patient/', 'Patient/p_1', 'Patient/p 1', 'Patient/p%201', 'Patient/p1/_history/', 'Patient/p1/_history/a b', 'Patient/p1/_history/v/x']) {
      assert.equal(parseLocalReference(ref), undefined, ref);
    }
  });

  it('rejects the empty string, with or without a base', () => {
    assert.equal(parseLocalReference(''), undefined);
    assert.equal(parseLocalReference('', BASE), undefined);
    assert.equal(parseLocalReference(`${BASE}/`, BASE), undefined);
  });

  it('rejects urn:uuid:, urn:oid: and contained references', () => {
    assert.equal(parseLocalReference('urn:uuid:0b4c8f1e-7a3b-4c2d-9e8f-1a2b3c4d5e6f'), undefined);
    assert.equal(parseLocalReference('urn:oid:1.2.3.4'), undefined);
    assert.equal(parseLocalReference('#contained'), undefined);
  });

  it('rejects a trailing slash', () => {
    assert.equal(parseLocalReference('Patient/p1/'), undefined);
    assert.equal(parseLocalReference('Patient/p1/_history/2/'), undefined);
    assert.equal(parseLocalReference(`${BASE}/Patient/p1/`, BASE), undefined);
  });

  it('rejects query strings and conditional references', () => {
    for (const ref of ['Patient?identifier=x|1', 'Patient/p1?_format=json', 'Patient/p1/_history/2?x=y', 'Patient/p1#frag']) {
      assert.equal(parseLocalReference(ref), undefined, ref);
    }
    assert.equal(parseLocalReference(`${BASE}/Patient/p1?x=y`, BASE), undefined);
  });

  it('rejects other paths below a resource', () => {
    for (const ref of ['Patient/p1/_history', 'Patient/p1/$everything', 'Patient/p1/Observation/o1', 'Patient/p1/_history/2/_history/3']) {
      assert.equal(parseLocalReference(ref), undefined, ref);
    }
  });

  it('with anyVersion, accepts any non-slash version and nothing else more', () => {
    const opts = { anyVersion: true };
    assert.deepEqual(parseLocalReference('Patient/p1/_history/a b?c', undefined, opts), { type: 'Patient', id: 'p1', versionId: 'a b?c' });
    assert.deepEqual(parseLocalReference(`${BASE}/Patient/p1/_history/${ID64}a`, BASE, opts), { type: 'Patient', id: 'p1', versionId: `${ID64}a` });
    for (const ref of ['Patient/p1/_history/', 'Patient/p1/_history/v/x', 'Patient/p1?x=y', 'patient/p1', `Patient/${ID64}a`, '']) {
      assert.equal(parseLocalReference(ref, undefined, opts), undefined, ref);
    }
  });

  it('with anyBase, takes any prefix ending in / for the base, and ignores baseUrl', () => {
    const opts = { anyBase: true };
    assert.deepEqual(parseLocalReference('Group/g1', undefined, opts), { type: 'Group', id: 'g1' });
    assert.deepEqual(parseLocalReference(`${BASE}/Group/g1`, undefined, opts), { type: 'Group', id: 'g1' });
    assert.deepEqual(parseLocalReference('https://elsewhere.example.org/fhir/Group/g1', BASE, opts), { type: 'Group', id: 'g1' });
    assert.deepEqual(parseLocalReference('/Group/g1', undefined, opts), { type: 'Group', id: 'g1' });
    assert.deepEqual(parseLocalReference('a\nb/Group/g1', undefined, opts), { type: 'Group', id: 'g1' });
    assert.deepEqual(parseLocalReference('Patient/Group/g1', undefined, opts), { type: 'Group', id: 'g1' });
    assert.deepEqual(parseLocalReference('x/Group/g1/_history/2', undefined, opts), { type: 'Group', id: 'g1', versionId: '2' });
  });

  it('with anyBase, the part after the base is as strict as ever', () => {
    const opts = { anyBase: true };
    // The base must end in '/': a type glued to what precedes it is another type, or none.
    for (const ref of ['xGroup/g1', 'urn:uuid:Group/g1', 'https://elsewhere.example.org/fhirGroup/g1', `x/Group/${ID64}a`, 'x/group/g1', 'x/Group/g1/', 'x/Group/g1?x=y', 'x/Group/g1/_history/a b', '#g1', 'urn:uuid:0b4c8f1e-7a3b-4c2d-9e8f-1a2b3c4d5e6f', 'Group?name=x', '', '/']) {
      assert.equal(parseLocalReference(ref, undefined, opts), undefined, ref);
    }
    assert.deepEqual(parseLocalReference('XGroup/g1', undefined, opts), { type: 'XGroup', id: 'g1' });
  });

  it('with anyBase, reads the one resource at the end, whatever the prefix holds', () => {
    const opts = { anyBase: true, anyVersion: true };
    assert.deepEqual(parseLocalReference('Group/g0/_history/1/Group/g1', undefined, opts), { type: 'Group', id: 'g1' });
    assert.deepEqual(parseLocalReference('Group/g1/_history/Group', undefined, opts), { type: 'Group', id: 'g1', versionId: 'Group' });
    assert.deepEqual(parseLocalReference('x/Group/g1/_history/a b', undefined, opts), { type: 'Group', id: 'g1', versionId: 'a b' });
    assert.equal(parseLocalReference('x/Group/g1/_history/', undefined, opts), undefined);
  });
});

describe('localReference (include, consent)', () => {
  it('keeps its behaviour: any version segment, versions dropped, base stripped', () => {
    assert.deepEqual(localReference('Patient/p1', BASE), { type: 'Patient', id: 'p1' });
    assert.deepEqual(localReference('Patient/p1/_history/2', BASE), { type: 'Patient', id: 'p1' });
    assert.deepEqual(localReference('Patient/p1/_history/a b', BASE), { type: 'Patient', id: 'p1' });
    assert.deepEqual(localReference(`${BASE}/Patient/p1/_history/2`, BASE), { type: 'Patient', id: 'p1' });
    assert.equal(localReference('https://elsewhere.example.org/fhir/Patient/p1', BASE), undefined);
    assert.equal(localReference('urn:uuid:0b4c8f1e-7a3b-4c2d-9e8f-1a2b3c4d5e6f', BASE), undefined);
  });
});
