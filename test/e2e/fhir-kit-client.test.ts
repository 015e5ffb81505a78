import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Client, type FhirResource } from 'fhir-kit-client';
import type { Bundle, BundleEntry, CapabilityStatement, Observation, OperationOutcome, Patient, Resource } from '@medplum/fhirtypes';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { createTestAuth } from '../helpers/test-auth.js';

/**
 * End-to-end: the real server process driven by a third-party FHIR client (fhir-kit-client),
 * so what is checked is what a client on the wire sees, not what our own code believes.
 */

const SYNTHEA_DIR = fileURLToPath(new URL('../../../shared/data/synthea-r4', import.meta.url));

/** fhir-kit-client rejects non-2xx with an Error carrying `response: { status, data }`. */
async function httpError(p: Promise<unknown>): Promise<{ status: number; data: OperationOutcome }> {
  try {
    await p;
  } catch (err) {
    const res = (err as { response?: { status: number; data: OperationOutcome } }).response;
    if (res) return res;
    throw err;
  }
  return assert.fail('expected the server to answer with an HTTP error');
}

function statusOf(r: FhirResource): number | undefined {
  return Client.httpFor(r).response?.status;
}

function headerOf(r: FhirResource, name: string): string | null | undefined {
  return Client.httpFor(r).response?.headers.get(name);
}

const as = <T>(r: FhirResource): T => r as unknown as T;
const wire = (r: Resource): FhirResource => r as unknown as FhirResource;

function ids(bundle: Bundle): string[] {
  return (bundle.entry ?? []).filter((e) => e.search?.mode !== 'outcome').map((e) => e.resource?.id as string).sort();
}

/** `Type/id` from a response location such as http://host/fhir/Type/id/_history/1 */
function locationId(location: string | undefined, type: string): string {
  const m = new RegExp(`/${type}/([^/]+)/_history/\\d+$`).exec(location ?? '');
  assert.ok(m, `location '${location}' should be ${type}/<id>/_history/<vid>`);
  return m[1] as string;
}

describe('fhir-kit-client against the real server', () => {
  let server: ServerProcess;
  let client: Client;
  const run = `e2e-${Date.now().toString(36)}`;

  before(async () => {
    // The server trusts a test issuer as its external identity provider; the client is an admin backend.
    server = await startServer({ issuer: await createTestAuth({ audience: 'http://localhost/fhir' }) });
    client = new Client({ baseUrl: server.baseUrl, bearerToken: (server.authorization as string).slice('Bearer '.length) });
  });
  after(async () => {
    await server?.dispose();
  });

  it('create, read, search by subject/patient, versioned update, history, delete', async () => {
    // create
    const body: Patient = {
      resourceType: 'Patient',
      identifier: [{ system: 'urn:custodian:e2e', value: `${run}-p1` }],
      name: [{ family: `Kit${run}`, given: ['Ada'] }],
      gender: 'female',
      birthDate: '1980-02-03',
    };
    const created = await client.create({ resourceType: 'Patient', body: wire(body) });
    assert.equal(statusOf(created), 201);
    const patient = as<Patient>(created);
    assert.match(patient.id ?? '', /^[A-Za-z0-9\-.]{1,64}$/);
    assert.equal(patient.meta?.versionId, '1');
    assert.deepEqual(patient.name, body.name);
    assert.equal(headerOf(created, 'etag'), 'W/"1"');
    assert.equal(headerOf(created, 'location'), `${server.baseUrl}/Patient/${patient.id}/_history/1`);
    const pid = patient.id as string;

    // read
    const read = as<Patient>(await client.read({ resourceType: 'Patient', id: pid }));
    assert.equal(read.id, pid);
    assert.equal(read.meta?.versionId, '1');
    assert.deepEqual(read.identifier, body.identifier);
    assert.equal(read.birthDate, '1980-02-03');

    // observations about this patient, and one about someone else
    const other = as<Patient>(await client.create({ resourceType: 'Patient', body: { resourceType: 'Patient', name: [{ family: `Other${run}` }] } }));
    const obs = (subject: string, value: number): FhirResource =>
      wire({
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
        subject: { reference: subject },
        valueQuantity: { value, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
      } satisfies Observation);
    const mine: string[] = [];
    for (const v of [61, 72, 83]) {
      const o = as<Observation>(await client.create({ resourceType: 'Observation', body: obs(`Patient/${pid}`, v) }));
      assert.equal(o.subject?.reference, `Patient/${pid}`);
      mine.push(o.id as string);
    }
    const theirs = as<Observation>(await client.create({ resourceType: 'Observation', body: obs(`Patient/${other.id}`, 99) }));
    mine.sort();

    const bySubject = as<Bundle>(await client.search({ resourceType: 'Observation', searchParams: { subject: `Patient/${pid}` } }));
    assert.equal(bySubject.type, 'searchset');
    assert.deepEqual(ids(bySubject), mine);
    assert.equal(bySubject.total, 3);
    const byPatient = as<Bundle>(await client.search({ resourceType: 'Observation', searchParams: { patient: pid } }));
    assert.deepEqual(ids(byPatient), mine);
    const byOther = as<Bundle>(await client.search({ resourceType: 'Observation', searchParams: { subject: `Patient/${other.id}` } }));
    assert.deepEqual(ids(byOther), [theirs.id]);

    // update with If-Match, then a stale If-Match
    const v2body = { ...read, name: [{ family: `Kit${run}`, given: ['Ada', 'Augusta'] }] } as Patient;
    const updated = await client.update({
      resourceType: 'Patient',
      id: pid,
      body: wire(v2body),
      options: { headers: { 'If-Match': 'W/"1"' } },
    });
    assert.equal(statusOf(updated), 200);
    assert.equal(as<Patient>(updated).meta?.versionId, '2');
    assert.deepEqual(as<Patient>(updated).name?.[0]?.given, ['Ada', 'Augusta']);
    assert.equal(headerOf(updated, 'etag'), 'W/"2"');

    const stale = await httpError(
      client.update({
        resourceType: 'Patient',
        id: pid,
        body: wire({ ...v2body, gender: 'male' }),
        options: { headers: { 'If-Match': 'W/"1"' } },
      }),
    );
    assert.equal(stale.status, 412);
    assert.equal(stale.data.resourceType, 'OperationOutcome');
    assert.equal(stale.data.issue?.[0]?.code, 'conflict');
    const afterStale = as<Patient>(await client.read({ resourceType: 'Patient', id: pid }));
    assert.equal(afterStale.meta?.versionId, '2', 'a refused update must not create a version');
    assert.equal(afterStale.gender, 'female');

    // instance history: two versions, newest first
    const hist = as<Bundle<Patient>>(await client.resourceHistory({ resourceType: 'Patient', id: pid }));
    assert.equal(hist.type, 'history');
    assert.equal(hist.total, 2);
    assert.deepEqual(
      hist.entry?.map((e) => e.resource?.meta?.versionId),
      ['2', '1'],
    );
    assert.deepEqual(hist.entry?.map((e) => e.request?.method), ['PUT', 'POST']);
    assert.deepEqual(hist.entry?.[1]?.resource?.name, body.name);

    // type history with _count: the page holds _count entries, total counts every version
    // (Patient: p1 v1, p1 v2, other v1), newest first, with a next link.
    const typeHist = as<Bundle<Patient>>(await client.request('Patient/_history?_count=2'));
    assert.equal(typeHist.type, 'history');
    assert.equal(typeHist.total, 3);
    assert.equal(typeHist.entry?.length, 2);
    assert.deepEqual(
      typeHist.entry?.map((e) => `${e.resource?.id}/${e.resource?.meta?.versionId}`),
      [`${pid}/2`, `${other.id}/1`],
    );
    const next = typeHist.link?.find((l) => l.relation === 'next')?.url;
    assert.ok(next, 'type history page 1 of 2 has a next link');
    const page2 = as<Bundle<Patient>>(await client.request(next));
    assert.deepEqual(
      page2.entry?.map((e) => `${e.resource?.id}/${e.resource?.meta?.versionId}`),
      [`${pid}/1`],
    );

    // delete: read is 410 Gone, old versions are still readable
    const del = await client.delete({ resourceType: 'Patient', id: pid });
    assert.equal(statusOf(del), 200);
    const gone = await httpError(client.read({ resourceType: 'Patient', id: pid }));
    assert.equal(gone.status, 410);
    assert.equal(gone.data.resourceType, 'OperationOutcome');
    const v1 = as<Patient>(await client.vread({ resourceType: 'Patient', id: pid, version: '1' }));
    assert.equal(v1.meta?.versionId, '1');
    assert.deepEqual(v1.name, body.name);
    const v2 = as<Patient>(await client.vread({ resourceType: 'Patient', id: pid, version: '2' }));
    assert.deepEqual(v2.name?.[0]?.given, ['Ada', 'Augusta']);
    const histAfterDelete = as<Bundle>(await client.resourceHistory({ resourceType: 'Patient', id: pid }));
    assert.equal(histAfterDelete.total, 3);
    assert.equal(histAfterDelete.entry?.[0]?.request?.method, 'DELETE');
    const searchAfterDelete = as<Bundle>(await client.search({ resourceType: 'Patient', searchParams: { family: `Kit${run}` } }));
    assert.deepEqual(ids(searchAfterDelete), []);
  });

  it('transaction with urn:uuid fullUrls rewrites references to the assigned ids', async () => {
    const pUrn = 'urn:uuid:6f1d3c1e-0000-4000-8000-000000000001';
    const eUrn = 'urn:uuid:6f1d3c1e-0000-4000-8000-000000000002';
    const oUrn = 'urn:uuid:6f1d3c1e-0000-4000-8000-000000000003';
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        // The Observation comes first and points forward to entries defined later.
        {
          fullUrl: oUrn,
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { text: `tx-${run}` },
            subject: { reference: pUrn },
            encounter: { reference: eUrn },
            valueString: 'forward reference',
          },
          request: { method: 'POST', url: 'Observation' },
        },
        {
          fullUrl: pUrn,
          resource: { resourceType: 'Patient', name: [{ family: `Tx${run}` }] },
          request: { method: 'POST', url: 'Patient' },
        },
        {
          fullUrl: eUrn,
          resource: { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: pUrn } },
          request: { method: 'POST', url: 'Encounter' },
        },
      ],
    };
    const res = as<Bundle>(await client.transaction({ body: wire(bundle) }));
    assert.equal(res.type, 'transaction-response');
    assert.equal(res.entry?.length, 3);
    for (const e of res.entry ?? []) assert.equal(e.response?.status, '201 Created');
    const oid = locationId(res.entry?.[0]?.response?.location, 'Observation');
    const pid = locationId(res.entry?.[1]?.response?.location, 'Patient');
    const eid = locationId(res.entry?.[2]?.response?.location, 'Encounter');
    assert.equal(res.entry?.[1]?.fullUrl, `${server.baseUrl}/Patient/${pid}`);

    const o = as<Observation>(await client.read({ resourceType: 'Observation', id: oid }));
    assert.equal(o.subject?.reference, `Patient/${pid}`);
    assert.equal(o.encounter?.reference, `Encounter/${eid}`);
    const enc = await client.read({ resourceType: 'Encounter', id: eid });
    assert.equal((enc.subject as { reference: string }).reference, `Patient/${pid}`);
    assert.equal(JSON.stringify(res).includes('urn:uuid:'), false, 'no urn:uuid survives in the response');
    const bySubject = as<Bundle>(await client.search({ resourceType: 'Observation', searchParams: { subject: `Patient/${pid}` } }));
    assert.deepEqual(ids(bySubject), [oid]);
  });

  it('a transaction with one invalid entry leaves nothing behind', async () => {
    const count = async (type: string): Promise<number> => {
      const b = as<Bundle>(await client.search({ resourceType: type, searchParams: { _summary: 'count' } }));
      assert.equal(typeof b.total, 'number');
      return b.total as number;
    };
    const before = { Patient: await count('Patient'), Observation: await count('Observation') };
    const pUrn = 'urn:uuid:6f1d3c1e-0000-4000-8000-0000000000a1';
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: pUrn,
          resource: { resourceType: 'Patient', name: [{ family: `Atomic${run}` }] },
          request: { method: 'POST', url: 'Patient' },
        },
        {
          resource: { resourceType: 'Observation', status: 'final', code: { text: 'ok' }, subject: { reference: pUrn } },
          request: { method: 'POST', url: 'Observation' },
        },
        {
          // Observation.code is 1..1: this entry is invalid.
          resource: { resourceType: 'Observation', status: 'final', subject: { reference: pUrn } } as unknown as Observation,
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    };
    const err = await httpError(client.transaction({ body: wire(bundle) }));
    assert.equal(err.status, 400);
    assert.equal(err.data.resourceType, 'OperationOutcome');
    assert.equal(err.data.issue?.[0]?.severity, 'error');
    assert.deepEqual(err.data.issue?.[0]?.expression, ['Bundle.entry[2].resource.code'], 'the outcome names the offending entry');

    assert.deepEqual({ Patient: await count('Patient'), Observation: await count('Observation') }, before);
    const leftovers = as<Bundle>(await client.search({ resourceType: 'Patient', searchParams: { family: `Atomic${run}` } }));
    assert.deepEqual(ids(leftovers), []);
  });

  it('GET /metadata is a CapabilityStatement listing Patient with its interactions', async () => {
    const cs = as<CapabilityStatement>(await client.capabilityStatement());
    assert.equal(cs.resourceType, 'CapabilityStatement');
    assert.equal(cs.fhirVersion, '4.0.1');
    assert.equal(cs.kind, 'instance');
    const rest = cs.rest?.find((r) => r.mode === 'server');
    assert.ok(rest, 'rest[mode=server]');
    const patient = rest.resource?.find((r) => r.type === 'Patient');
    assert.ok(patient, 'Patient is listed');
    const codes = new Set(patient.interaction?.map((i) => i.code));
    for (const code of ['read', 'vread', 'create', 'update', 'delete', 'search-type', 'history-instance', 'history-type'] as const) {
      assert.ok(codes.has(code), `Patient interaction '${code}' is listed (have: ${[...codes].join(', ')})`);
    }
    assert.ok(rest.interaction?.some((i) => i.code === 'transaction'), 'system interaction transaction');
    const params = new Set(patient.searchParam?.map((p) => p.name));
    for (const p of ['family', 'identifier', 'birthdate', '_id']) assert.ok(params.has(p), `Patient search param ${p}`);
  });

  const syntheaFile = (() => {
    if (!existsSync(SYNTHEA_DIR)) return undefined;
    const patients = readdirSync(SYNTHEA_DIR)
      .filter((f) => f.endsWith('.json') && !/^(hospital|practitioner)Information/.test(f))
      .map((f) => join(SYNTHEA_DIR, f));
    // The smallest patient bundle keeps the test quick.
    return patients.sort((a, b) => statSync(a).size - statSync(b).size)[0];
  })();
  const skipReason = syntheaFile ? false : `no Synthea patient bundles at ${SYNTHEA_DIR}`;
  if (skipReason) console.log(`# skipping Synthea import: ${skipReason}`);

  it('imports a Synthea patient bundle unchanged as a transaction', { skip: skipReason }, async () => {
    const bundle = JSON.parse(readFileSync(syntheaFile as string, 'utf8')) as Bundle;
    assert.equal(bundle.type, 'transaction');
    const entries = bundle.entry ?? [];
    const patientEntry = entries.find((e) => e.resource?.resourceType === 'Patient') as BundleEntry;
    const expectedObs = entries.filter(
      (e) => e.resource?.resourceType === 'Observation' && (e.resource as Observation).subject?.reference === patientEntry.fullUrl,
    ).length;
    assert.ok(expectedObs > 0, 'the bundle has Observations about its patient');

    const res = as<Bundle>(await client.transaction({ body: wire(bundle) }));
    assert.equal(res.type, 'transaction-response');
    assert.equal(res.entry?.length, entries.length);
    const statuses = new Map<string, number>();
    for (const e of res.entry ?? []) statuses.set(e.response?.status ?? '(none)', (statuses.get(e.response?.status ?? '(none)') ?? 0) + 1);
    assert.deepEqual([...statuses], [['201 Created', entries.length]]);

    const pIndex = entries.indexOf(patientEntry);
    const pid = locationId(res.entry?.[pIndex]?.response?.location, 'Patient');
    const patient = as<Patient>(await client.read({ resourceType: 'Patient', id: pid }));
    assert.deepEqual(patient.name, (patientEntry.resource as Patient).name);

    const found = as<Bundle>(
      await client.search({ resourceType: 'Observation', searchParams: { subject: `Patient/${pid}`, _count: 1000 } }),
    );
    assert.equal(found.total, expectedObs);
    assert.equal(ids(found).length, expectedObs);
    const byPatient = as<Bundle>(await client.search({ resourceType: 'Observation', searchParams: { patient: pid, _summary: 'count' } }));
    assert.equal(byPatient.total, expectedObs);
  });
});
