import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { PATIENT, STUDY_COHORT, recordIds } from '../../fixtures/consent-scenarios/scenarios.js';
import { FILE_SHA256_EXTENSION, INTEGRITY_EXTENSION } from '../../server/src/ops/export/export-manifest.js';
import type { TokenOptions } from '../helpers/test-auth.js';
import { RESEARCH, refs, startConsentFixture, type ConsentFixture } from './consent-fixture.js';

/**
 * Bulk Data $export over HTTP against the consent scenarios: kick-off and its 4xx, polling,
 * the manifest, downloads, cancel, other clients, consent filtering (the export holds exactly
 * what the same client's searches return), de-identification and the job's audit/integrity.
 */

const ASYNC = { Prefer: 'respond-async' };
const OTHER_BACKEND: TokenOptions = { ...RESEARCH, sub: 'other-backend', client_id: 'other-backend' };

let f: ConsentFixture;
let research: string;

function pathOf(url: string): string {
  const u = new URL(url);
  return u.pathname + u.search;
}

async function get(path: string, auth: string, headers: Record<string, string> = {}): Promise<request.Response> {
  let r = request(f.t.rawApp).get(path).set('Authorization', auth);
  for (const [k, v] of Object.entries(headers)) r = r.set(k, v);
  // NDJSON is not parsed by supertest: keep the bytes.
  return r.buffer(true).parse((res, cb) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => cb(null, Buffer.concat(chunks)));
  });
}

const json = (res: request.Response): any => JSON.parse((res.body as Buffer).toString('utf8'));
const lines = (res: request.Response): any[] =>
  (res.body as Buffer)
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));

/** Kicks off, runs the worker to idle, and returns the finished manifest. */
async function exportAll(path: string, auth = research): Promise<{ status: string; manifest: any }> {
  const kick = await get(path, auth, ASYNC);
  assert.equal(kick.status, 202, (kick.body as Buffer).toString());
  const status = pathOf(kick.headers['content-location'] as string);
  f.t.deps.exports.start();
  await f.t.deps.exports.idle();
  const done = await get(status, auth);
  assert.equal(done.status, 200, (done.body as Buffer).toString());
  return { status, manifest: json(done) };
}

async function download(manifest: any, type: string, auth = research): Promise<{ res: request.Response; items: any[] }> {
  const entry = manifest.output.find((o: any) => o.type === type);
  if (!entry) return { res: undefined as unknown as request.Response, items: [] };
  const res = await get(pathOf(entry.url), auth);
  assert.equal(res.status, 200);
  return { res, items: lines(res) };
}

describe('Bulk Data $export', () => {
  before(async () => {
    f = await startConsentFixture();
    research = `Bearer ${await f.t.auth.token(RESEARCH)}`;
  });
  after(async () => {
    await f?.t.close();
  });

  it('refuses bad kick-offs with 400 OperationOutcomes naming the problem', async () => {
    const cases: [string, Record<string, string>, RegExp][] = [
      ['/fhir/Patient/$export', {}, /Prefer: respond-async/],
      ['/fhir/Patient/$export?_outputFormat=application/fhir%2Bjson', ASYNC, /_outputFormat/],
      ['/fhir/Patient/$export?_elements=id', ASYNC, /not supported/],
      ['/fhir/Patient/$export?patient=Patient/x', ASYNC, /not supported/],
      ['/fhir/Patient/$export?includeAssociatedData=LatestProvenanceResources', ASYNC, /not supported/],
      ['/fhir/Patient/$export?_type=Nonsense', ASYNC, /not a resource type/],
      ['/fhir/Patient/$export?_type=Organization', ASYNC, /Patient compartment/],
      ['/fhir/Patient/$export?_since=yesterday', ASYNC, /instant/],
      ['/fhir/Patient/$export?_typeFilter=Observation%3Fnot-a-param%3D1', ASYNC, /_typeFilter/],
      ['/fhir/Patient/$export?_typeFilter=Observation%3Fdate%3Dnot-a-date', ASYNC, /_typeFilter/],
      ['/fhir/Patient/$export?_type=Patient&_typeFilter=Observation%3Fcode%3D1', ASYNC, /_type does not list/],
      ['/fhir/Patient/$export?_deidentify=maybe', ASYNC, /_deidentify/],
      ['/fhir/Patient/$export?_count=10', ASYNC, /not a \$export parameter/],
    ];
    for (const [path, headers, text] of cases) {
      const res = await get(path, research, headers);
      assert.equal(res.status, 400, `${path}: ${res.status}`);
      const body = json(res);
      assert.equal(body.resourceType, 'OperationOutcome');
      assert.match(JSON.stringify(body.issue), text, path);
    }
    const badType = await get('/fhir/Observation/$export', research, ASYNC);
    assert.equal(badType.status, 404);
  });

  it('is for backend services clients only: patient and user tokens get 403', async () => {
    const patient = `Bearer ${await f.t.auth.token({ scope: 'patient/*.rs', patient: PATIENT.alice, fhirUser: `Patient/${PATIENT.alice}`, purpose_of_use: ['PATRQT'] })}`;
    const user = `Bearer ${await f.t.auth.token({ scope: 'user/*.rs', fhirUser: 'Practitioner/pract-1', roles: ['clinician'] })}`;
    for (const auth of [patient, user]) {
      const res = await get('/fhir/$export', auth, ASYNC);
      assert.equal(res.status, 403);
      assert.equal(json(res).resourceType, 'OperationOutcome');
    }
  });

  it('reports progress while queued, limits unfinished jobs per client (429), and lets only the owner see a job', async () => {
    const a = await get('/fhir/Patient/$export?_type=Patient', research, ASYNC);
    const b = await get('/fhir/Patient/$export?_type=Patient', research, ASYNC);
    assert.equal(a.status, 202);
    assert.equal(b.status, 202);
    assert.match(a.headers['content-location'] as string, /^http:\/\/localhost:8080\/fhir\/\$export-status\/[0-9a-f-]{36}$/);
    const third = await get('/fhir/Patient/$export?_type=Patient', research, ASYNC);
    assert.equal(third.status, 429);
    assert.ok(Number(third.headers['retry-after']) > 0);

    const status = pathOf(a.headers['content-location'] as string);
    const queued = await get(status, research);
    assert.equal(queued.status, 202);
    assert.match(queued.headers['x-progress'] as string, /queued/);
    assert.ok(Number(queued.headers['retry-after']) > 0);

    const other = `Bearer ${await f.t.auth.token(OTHER_BACKEND)}`;
    assert.equal((await get(status, other)).status, 404);
    assert.equal((await request(f.t.rawApp).delete(status).set('Authorization', other)).status, 404);

    f.t.deps.exports.start();
    await f.t.deps.exports.idle();
    const done = await get(status, research);
    assert.equal(done.status, 200);
    const manifest = json(done);
    const file = manifest.output[0].url as string;
    assert.equal((await get(pathOf(file), other)).status, 404, "another client cannot download the owner's file");
    assert.equal((await get(pathOf(file), research)).status, 200);
    assert.equal((await request(f.t.rawApp).get(pathOf(file))).status, 401, 'files need an access token');
    assert.equal((await get(pathOf(b.headers['content-location'] as string), research)).status, 200, 'the second queued job ran too');
  });

  it('exports exactly what the same client may search: consent decides every resource, counts are exact', async () => {
    const { manifest } = await exportAll('/fhir/Patient/$export?_type=Patient,Observation,DiagnosticReport');
    assert.equal(manifest.requiresAccessToken, true);
    assert.match(manifest.transactionTime, /^\d{4}-\d{2}-\d{2}T/);
    assert.equal(manifest.request, 'http://localhost:8080/fhir/Patient/$export?_type=Patient%2CObservation%2CDiagnosticReport');
    const client = await f.as(RESEARCH);
    for (const type of ['Patient', 'Observation', 'DiagnosticReport']) {
      const { res, items } = await download(manifest, type);
      const searched = (await client.pages(`/fhir/${type}?_count=1000`)).flatMap((b) => refs(b));
      assert.deepEqual(items.map((r) => `${r.resourceType}/${r.id}`).sort(), searched.sort(), `${type}: the export equals the search`);
      const entry = manifest.output.find((o: any) => o.type === type);
      if (items.length > 0) {
        assert.equal(entry.count, items.length, `${type}: the manifest's count is exact`);
        assert.match(res.headers['content-type'] as string, /^application\/fhir\+ndjson/);
      } else assert.equal(entry, undefined, `${type}: no file for no resources`);
    }
    const exported = new Set(
      (await Promise.all(['Observation', 'DiagnosticReport'].map((t) => download(manifest, t)))).flatMap((d) => d.items.map((r: any) => `${r.resourceType}/${r.id}`)),
    );
    const alice = recordIds('alice');
    assert.ok(exported.has(`Observation/${alice.heartRate}`), 'Alice opted in to research');
    assert.ok(!exported.has(`DiagnosticReport/${alice.geneticReport}`), "Alice's opt-in leaves genetic data out");
    assert.ok(!exported.has(`Observation/${recordIds('carol').heartRate}`), 'Carol revoked her opt-in');
    assert.ok(!exported.has(`Observation/${recordIds('bruno').heartRate}`), 'Bruno never opted in');
    assert.ok(![...exported].some((r) => r.includes(PATIENT.dan)), 'Dan never opted in');
  });

  it('Group/[id]/$export exports the cohort, through the same gate; an unknown or unreadable Group is a 404 at kick-off', async () => {
    const { manifest } = await exportAll(`/fhir/Group/${STUDY_COHORT}/$export?_type=Patient,Observation`);
    const { items } = await download(manifest, 'Observation');
    const subjects = new Set(items.map((o) => o.subject.reference));
    assert.ok(subjects.has(`Patient/${PATIENT.alice}`), 'Alice opted in to the study');
    assert.ok(!subjects.has(`Patient/${PATIENT.carol}`) && !subjects.has(`Patient/${PATIENT.bruno}`), 'no one who did not opt in');
    const client = await f.as(RESEARCH);
    const cohort = Object.values(PATIENT).join(',');
    const searched = (await client.pages(`/fhir/Observation?subject=${cohort}&_count=1000`)).flatMap((b) => refs(b));
    assert.deepEqual(items.map((o) => `Observation/${o.id}`).sort(), searched.sort(), 'exactly what the same client may search for the cohort');
    assert.equal((await get('/fhir/Group/no-such-group/$export', research, ASYNC)).status, 404);
    const insurer = `Bearer ${await f.t.auth.token({ ...RESEARCH, client_id: 'ins', sub: 'ins', scope: 'system/Patient.rs system/Observation.rs' })}`;
    assert.equal((await get(`/fhir/Group/${STUDY_COHORT}/$export`, insurer, ASYNC)).status, 404, 'a Group the scopes do not reach reads as absent');
  });

  it('applies _typeFilter and _since; under handling=lenient an unsupported filter parameter goes to the error file', async () => {
    const { manifest } = await exportAll('/fhir/Patient/$export?_type=Observation&_typeFilter=Observation%3Fcode%3Dhttp://loinc.org%7C8867-4');
    const { items } = await download(manifest, 'Observation');
    assert.ok(items.length > 0);
    assert.ok(items.every((o) => o.code.coding.some((c: any) => c.code === '8867-4')));
    assert.deepEqual(manifest.error, []);

    const future = await exportAll('/fhir/Patient/$export?_type=Observation&_since=2999-01-01T00:00:00Z');
    assert.deepEqual(future.manifest.output, []);

    const kick = await get('/fhir/Patient/$export?_type=Observation&_typeFilter=Observation%3Fcode%3Dhttp://loinc.org%7C8867-4%26not-a-param%3D1', research, {
      Prefer: 'respond-async, handling=lenient',
    });
    assert.equal(kick.status, 202);
    await f.t.deps.exports.idle();
    const lenient = json(await get(pathOf(kick.headers['content-location'] as string), research));
    assert.equal(lenient.error.length, 1);
    const errors = lines(await get(pathOf(lenient.error[0].url), research));
    assert.equal(errors[0].resourceType, 'OperationOutcome');
    assert.match(JSON.stringify(errors[0]), /not-a-param/);
  });

  it('POST kick-off takes a Parameters body', async () => {
    const res = await request(f.t.rawApp)
      .post('/fhir/Patient/$export')
      .set('Authorization', research)
      .set('Prefer', 'respond-async')
      .set('Content-Type', 'application/fhir+json')
      .send({ resourceType: 'Parameters', parameter: [{ name: '_type', valueString: 'Patient' }, { name: '_outputFormat', valueString: 'ndjson' }] });
    assert.equal(res.status, 202);
    await f.t.deps.exports.idle();
    const manifest = json(await get(pathOf(res.headers['content-location'] as string), research));
    assert.deepEqual(
      manifest.output.map((o: any) => o.type),
      ['Patient'],
    );
    // Malformed bodies are 400 OperationOutcomes, never a 500.
    for (const body of [{ resourceType: 'Parameters', parameter: {} }, { resourceType: 'Parameters', parameter: [null] }, { resourceType: 'Parameters', parameter: ['x'] }, [1], { resourceType: 'Patient' }]) {
      const bad = await request(f.t.rawApp)
        .post('/fhir/Patient/$export')
        .set('Authorization', research)
        .set('Prefer', 'respond-async')
        .set('Content-Type', 'application/fhir+json')
        .send(body);
      assert.equal(bad.status, 400, JSON.stringify(body));
      assert.equal((bad.body as { resourceType?: string }).resourceType, 'OperationOutcome');
    }
  });

  it('DELETE cancels a job and removes it: its status is 404 afterwards', async () => {
    const kick = await get('/fhir/Patient/$export?_type=Patient', research, ASYNC);
    const status = pathOf(kick.headers['content-location'] as string);
    const done = await exportAll('/fhir/Patient/$export?_type=Patient');
    const file = pathOf(done.manifest.output[0].url);
    for (const s of [status, done.status]) {
      const del = await request(f.t.rawApp).delete(s).set('Authorization', research);
      assert.equal(del.status, 202);
      assert.equal((await get(s, research)).status, 404);
    }
    assert.equal((await get(file, research)).status, 404, 'the files went with the job');
  });

  it('stores the manifest and every file SHA-256 as a ledgered DocumentReference, linked from the manifest, and audits the job per patient', async () => {
    const { manifest } = await exportAll('/fhir/Patient/$export?_type=Patient,Observation');
    const link = manifest.extension[INTEGRITY_EXTENSION];
    assert.match(link.documentReference, /^DocumentReference\/export-[0-9a-f-]+\/_history\/1$/);
    const doc = (await request(f.t.app).get(`/fhir/${link.documentReference}`)).body;
    for (const o of manifest.output) {
      const { res } = await download(manifest, o.type);
      const att = doc.content.find((c: any) => c.attachment.url === o.url).attachment;
      const sha = att.extension.find((e: any) => e.url === FILE_SHA256_EXTENSION).valueString;
      assert.equal(sha, createHash('sha256').update(res.body as Buffer).digest('hex'), `${o.type}: the recorded hash is the downloaded file's`);
      assert.equal(att.size, (res.body as Buffer).length);
    }
    const stored = JSON.parse(Buffer.from(doc.content[0].attachment.data, 'base64').toString('utf8'));
    const { extension: _e, ...withoutLink } = manifest;
    assert.deepEqual(stored, withoutLink, 'the stored manifest is the served one without its link');
    const verify = await request(f.t.app).get(`/fhir/${link.documentReference}/$verify`);
    assert.equal(verify.status, 200);
    assert.ok(['verified', 'pending-anchor'].includes(verify.body.parameter.find((p: any) => p.name === 'verdict').valueCode));

    const events = await request(f.t.app).get(`/fhir/AuditEvent?patient=Patient/${PATIENT.alice}&entity=${link.documentReference.replace(/\/_history\/.*/, '')}`);
    assert.equal(events.status, 200);
    const jobEvents = (events.body.entry ?? []).map((e: any) => e.resource);
    assert.equal(jobEvents.length, 1, 'one event of the job is about Alice');
    const ev = jobEvents[0];
    assert.ok(ev.entity.some((en: any) => en.what?.reference === `Patient/${PATIENT.alice}`));
    const bruno = await request(f.t.app).get(`/fhir/AuditEvent?patient=Patient/${PATIENT.bruno}&entity=${link.documentReference.replace(/\/_history\/.*/, '')}`);
    assert.equal(bruno.body.total, 0, 'a patient whose data did not leave gets no event of the job');
    assert.ok(ev.entity.some((en: any) => en.what?.reference === link.documentReference));
  });

  it('de-identifies on request (_deidentify=true)', async () => {
    const plain = await exportAll('/fhir/Patient/$export?_type=Patient');
    const deid = await exportAll('/fhir/Patient/$export?_type=Patient&_deidentify=true');
    const before = (await download(plain.manifest, 'Patient')).items;
    const after_ = (await download(deid.manifest, 'Patient')).items;
    assert.equal(after_.length, before.length, 'the same patients, de-identified');
    const ids = new Set(before.map((p) => p.id));
    for (const p of after_) {
      assert.ok(!ids.has(p.id), 'ids are pseudonyms');
      assert.equal(p.name, undefined, 'names are removed');
      assert.equal(p.identifier, undefined, 'identifiers are removed');
    }
  });
});
