import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FhirError } from '../../server/src/fhir/outcomes.js';
import type { StoredDocument } from '../../server/src/store/resource-store.js';
import { TRANSACTIONS_REQUIRED, transactionSupport } from '../../server/src/store/mongo/mongo-capabilities.js';
import {
  collectionNames,
  currentToStoredDocument,
  currentToStoredVersion,
  historyId,
  historyToStoredVersion,
  lastWritePerId,
  resourceTypeOfCollection,
  toCurrentDoc,
  toHistoryDoc,
} from '../../server/src/store/mongo/mongo-documents.js';
import { classifyDriverError, toStoreError } from '../../server/src/store/mongo/mongo-errors.js';

describe('transactionSupport (hello reply → can we run transactions?)', () => {
  const cases: Array<[string, Record<string, unknown>, boolean]> = [
    ['replica set primary', { isWritablePrimary: true, setName: 'rs0', hosts: ['a:27017'] }, true],
    ['replica set secondary', { isWritablePrimary: false, secondary: true, setName: 'rs0' }, true],
    ['mongos of a sharded cluster', { isWritablePrimary: true, msg: 'isdbgrid' }, true],
    ['standalone mongod', { isWritablePrimary: true, maxWireVersion: 21 }, false],
    ['empty setName', { isWritablePrimary: true, setName: '' }, false],
    ['non-string setName', { setName: 42 }, false],
    ['other msg', { msg: 'hello' }, false],
  ];
  for (const [label, hello, supported] of cases) {
    it(`${label} → ${supported ? 'supported' : 'refused'}`, () => {
      assert.equal(transactionSupport(hello).supported, supported);
    });
  }

  it('names the topology when supported', () => {
    assert.deepEqual(transactionSupport({ setName: 'rs0' }), { supported: true, topology: 'replica-set' });
    assert.deepEqual(transactionSupport({ msg: 'isdbgrid' }), { supported: true, topology: 'sharded' });
  });

  it('explains the problem and the fix when refused', () => {
    const result = transactionSupport({ isWritablePrimary: true });
    assert.equal(result.supported, false);
    if (!result.supported) {
      assert.match(result.reason, /standalone/);
      assert.ok(result.reason.includes(TRANSACTIONS_REQUIRED));
    }
    assert.match(TRANSACTIONS_REQUIRED, /replica set or sharded cluster/);
    assert.match(TRANSACTIONS_REQUIRED, /--replSet/);
  });
});

describe('collection naming', () => {
  it('maps a resource type to its current and history collections', () => {
    assert.deepEqual(collectionNames('Patient'), { current: 'Patient', history: 'Patient_History' });
  });

  it('refuses names that are not FHIR resource types', () => {
    for (const bad of ['', 'patient', 'system.profile', 'Patient$', 'Pat ient', 'Patient_History', 'A'.repeat(65)]) {
      assert.throws(() => collectionNames(bad), (err: unknown) => err instanceof FhirError && err.code === 'unknown-type', bad);
    }
  });

  it('recognises its own collections and ignores others', () => {
    assert.equal(resourceTypeOfCollection('Observation'), 'Observation');
    assert.equal(resourceTypeOfCollection('Observation_History'), 'Observation');
    assert.equal(resourceTypeOfCollection('system.views'), undefined);
    assert.equal(resourceTypeOfCollection('_History'), undefined);
  });

  it('history ids join id and versionId with "/"', () => {
    assert.equal(historyId('p-1.a', '12'), 'p-1.a/12');
  });
});

describe('document mapping', () => {
  const live: StoredDocument = {
    resourceType: 'Patient',
    id: 'p1',
    versionId: '10',
    lastUpdated: '2024-01-15T09:30:00.000Z',
    lastUpdatedMs: Date.parse('2024-01-15T09:30:00.000Z'),
    deleted: false,
    resource: { resourceType: 'Patient', id: 'p1', meta: { versionId: '10', lastUpdated: '2024-01-15T09:30:00.000Z' } },
    idx: { family: ['doe'] },
  };
  const tombstone: StoredDocument = { ...live, versionId: '11', deleted: true, resource: undefined, idx: {} };
  delete tombstone.resource;

  it('a current document is the StoredDocument keyed by id, and maps back unchanged', () => {
    const doc = toCurrentDoc(live);
    assert.equal(doc._id, 'p1');
    assert.deepEqual(currentToStoredDocument(doc), live);
  });

  it('a current document maps to a StoredVersion without idx or _id', () => {
    assert.deepEqual(currentToStoredVersion(toCurrentDoc(live)), {
      resourceType: 'Patient',
      id: 'p1',
      versionId: '10',
      lastUpdated: live.lastUpdated,
      deleted: false,
      resource: live.resource,
    });
  });

  it('a history document carries a numeric version for ordering and no idx', () => {
    const h = toHistoryDoc(live);
    assert.deepEqual(h, {
      _id: 'p1/10',
      id: 'p1',
      versionId: '10',
      versionNo: 10,
      lastUpdated: live.lastUpdated,
      lastUpdatedMs: live.lastUpdatedMs,
      deleted: false,
      resource: live.resource,
    });
    assert.deepEqual(historyToStoredVersion('Patient', h), currentToStoredVersion(toCurrentDoc(live)));
  });

  it('tombstones have no resource key at all (so none is stored as null)', () => {
    assert.equal('resource' in toHistoryDoc(tombstone), false);
    assert.equal('resource' in currentToStoredVersion(toCurrentDoc(tombstone)), false);
    assert.equal('resource' in historyToStoredVersion('Patient', toHistoryDoc(tombstone)), false);
  });

  it('a current document read without idx still maps to a StoredDocument', () => {
    const { idx: _omit, ...withoutIdx } = toCurrentDoc(live);
    assert.deepEqual(currentToStoredDocument(withoutIdx as never).idx, {});
  });

  it('only the last write per id reaches the current collection', () => {
    const v11 = { ...live, versionId: '11' };
    const other = { ...live, id: 'p2' };
    assert.deepEqual(lastWritePerId([live, other, v11]), [v11, other]);
  });
});


describe('driver error mapping', () => {
  const driverError = (fields: { name?: string; code?: number; labels?: string[] }) => ({
    name: fields.name ?? 'MongoServerError',
    code: fields.code,
    message: 'secret driver detail: host db-7.internal',
    hasErrorLabel: (l: string) => (fields.labels ?? []).includes(l),
  });

  const cases: Array<[string, unknown, string]> = [
    ['network error', driverError({ name: 'MongoNetworkError' }), 'unavailable'],
    ['network timeout', driverError({ name: 'MongoNetworkTimeoutError' }), 'unavailable'],
    ['server selection timeout', driverError({ name: 'MongoServerSelectionError' }), 'unavailable'],
    ['transient transaction error', driverError({ labels: ['TransientTransactionError'] }), 'unavailable'],
    ['unknown commit result', driverError({ labels: ['UnknownTransactionCommitResult'] }), 'unavailable'],
    ['primary stepped down', driverError({ code: 189 }), 'unavailable'],
    ['not writable primary', driverError({ code: 10107 }), 'unavailable'],
    ['write conflict left after retries', driverError({ code: 112 }), 'unavailable'],
    ['duplicate key', driverError({ name: 'MongoBulkWriteError', code: 11000 }), 'duplicate-key'],
    ['other server error', driverError({ code: 2 }), 'driver'],
    ['a FhirError', new FhirError('conflict', 'x'), 'not-driver'],
    ['a plain Error', new Error('bug'), 'not-driver'],
    ['a string', 'oops', 'not-driver'],
  ];
  for (const [label, err, kind] of cases) {
    it(`${label} → ${kind}`, () => assert.equal(classifyDriverError(err), kind));
  }

  it('unavailable errors become FhirError("unavailable") without the driver message', () => {
    const original = driverError({ name: 'MongoNetworkError' });
    const mapped = toStoreError(original);
    assert.ok(mapped instanceof FhirError);
    assert.equal(mapped.code, 'unavailable');
    assert.equal(mapped.message, 'Database unavailable');
    assert.equal(mapped.status, 503);
    assert.equal(mapped.cause, original);
    assert.doesNotMatch(JSON.stringify(mapped.toOutcome()), /secret|db-7/);
  });

  it('other driver errors become FhirError("internal") without the driver message', () => {
    const mapped = toStoreError(driverError({ code: 2 }));
    assert.ok(mapped instanceof FhirError);
    assert.equal(mapped.code, 'internal');
    assert.doesNotMatch(JSON.stringify(mapped.toOutcome()), /secret|db-7/);
  });

  it('a duplicate key that escapes the commit retries becomes a conflict', () => {
    const mapped = toStoreError(driverError({ code: 11000 }));
    assert.ok(mapped instanceof FhirError);
    assert.equal(mapped.code, 'conflict');
  });

  it('FhirErrors and non-driver errors pass through unchanged', () => {
    const fhir = new FhirError('precondition-failed', 'x');
    const bug = new TypeError('bug');
    assert.equal(toStoreError(fhir), fhir);
    assert.equal(toStoreError(bug), bug);
  });
});
