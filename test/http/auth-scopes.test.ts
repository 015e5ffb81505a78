import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { observation } from './app-fixture.js';
import { LAB, labObservation, refsOf, startAuthFixture, type AuthFixture } from './auth-fixture.js';

/**
 * Scope enforcement per interaction and type (issue 4, items 3 and 7): 403 when no scope grants
 * the interaction on the type, 404 for anything the scopes do not reach (the same answer as an
 * id that does not exist), searches, includes, chains and `_has` confined, granular scopes,
 * purpose of use, and batch/transaction entries checked one by one.
 */

const PATIENT_A = { scope: 'patient/*.rs', patient: 'A', fhirUser: 'Patient/A', roles: ['patient'], purpose_of_use: ['PATRQT'] };

describe('scopes and the patient compartment', () => {
  let f: AuthFixture;
  before(async () => {
    f = await startAuthFixture();
  });
  after(() => f.t.close());

  describe('403: no scope grants the interaction on the type', () => {
    it('read, search and create of a type the token does not name', async () => {
      const c = await f.as({ scope: 'patient/Observation.rs', patient: 'A' });
      for (const res of [await c.get('/fhir/Patient/A'), await c.get('/fhir/Patient'), await c.post('/fhir/Observation', observation('A'))]) {
        assert.equal(res.status, 403, JSON.stringify(res.body));
        assert.equal(res.body.resourceType, 'OperationOutcome');
        assert.equal(res.body.issue[0].code, 'forbidden');
      }
      const res = await c.get('/fhir/Patient/A');
      assert.match(res.headers['www-authenticate'] as string, /error="insufficient_scope"/);
    });

    it('v2 permissions are per interaction: r without s cannot search, s without r cannot read', async () => {
      const r = await f.as({ scope: 'user/Observation.r' });
      assert.equal((await r.get('/fhir/Observation/a-lab')).status, 200);
      assert.equal((await r.get('/fhir/Observation')).status, 403);
      const s = await f.as({ scope: 'user/Observation.s' });
      assert.equal((await s.get('/fhir/Observation')).status, 200);
      assert.equal((await s.get('/fhir/Observation/a-lab')).status, 403);
      assert.equal((await s.get('/fhir/Observation/_history')).status, 200, 'type history is a search');
      assert.equal((await s.get('/fhir/Observation/a-lab/_history')).status, 403, 'instance history is a read');
    });

    it('v1 scopes: .read reads and searches but cannot write; .write writes but cannot read', async () => {
      const read = await f.as({ scope: 'patient/*.read', patient: 'A' });
      assert.equal((await read.get('/fhir/Observation/a-lab')).status, 200);
      assert.equal((await read.get('/fhir/Observation')).status, 200);
      assert.equal((await read.post('/fhir/Observation', observation('A'))).status, 403);
      const write = await f.as({ scope: 'user/Observation.write' });
      assert.equal((await write.get('/fhir/Observation/a-lab')).status, 403);
      const created = await write.post('/fhir/Observation', observation('B'));
      assert.equal(created.status, 201, JSON.stringify(created.body));
    });

    it('patient/ scopes without a launch patient reach nothing', async () => {
      const c = await f.as({ scope: 'patient/*.rs' });
      assert.equal((await c.get('/fhir/Observation/a-lab')).status, 403);
      assert.equal((await c.get('/fhir/Observation')).status, 403);
    });

    it('a token without any resource scope (openid fhirUser only) gets 403 everywhere but metadata', async () => {
      const c = await f.as({ scope: 'openid fhirUser launch/patient', patient: 'A' });
      assert.equal((await c.get('/fhir/Patient/A')).status, 403);
      assert.equal((await c.get('/fhir?_type=Patient')).status, 403);
      assert.equal((await c.get('/fhir/metadata')).status, 200);
    });

    it('$validate needs some scope on the type', async () => {
      const none = await f.as({ scope: 'user/Patient.rs' });
      assert.equal((await none.post('/fhir/Observation/$validate', observation('A'))).status, 403);
      const some = await f.as({ scope: 'user/Observation.c' });
      assert.equal((await some.post('/fhir/Observation/$validate', observation('A'))).status, 200);
    });
  });

  describe('purpose of use', () => {
    it('a token without purpose_of_use gets 403 on data, not on metadata', async () => {
      const c = await f.as({ scope: 'system/*.rs', purpose_of_use: null });
      const res = await c.get('/fhir/Patient/A');
      assert.equal(res.status, 403);
      assert.match(res.body.issue[0].details.text, /purpose of use/);
      assert.equal((await c.get('/fhir/metadata')).status, 200);
    });

    it('X-Purpose-Of-Use narrows to one of the token’s purposes; another purpose → 403', async () => {
      const c = await f.as({ scope: 'system/*.rs', purpose_of_use: ['TREAT', 'HPAYMT'] });
      assert.equal((await c.get('/fhir/Patient/A', { 'X-Purpose-Of-Use': 'HPAYMT' })).status, 200);
      const res = await c.get('/fhir/Patient/A', { 'X-Purpose-Of-Use': 'HRESCH' });
      assert.equal(res.status, 403);
      assert.match(res.body.issue[0].details.text, /HRESCH/);
      // Through express (a body) as well as the fast path.
      const post = await request(f.t.rawApp)
        .post('/fhir/Patient/_search')
        .set('Authorization', `Bearer ${c.token}`)
        .set('X-Purpose-Of-Use', 'HRESCH')
        .set('Content-Type', 'application/x-www-form-urlencoded')
        .send('_id=A');
      assert.equal(post.status, 403);
    });
  });

  describe('404: what the scopes do not reach reads as absent', () => {
    it('another patient’s resources answer exactly like ids that do not exist', async () => {
      const c = await f.as(PATIENT_A);
      assert.equal((await c.get('/fhir/Observation/a-lab')).status, 200);
      const hidden = await c.get('/fhir/Observation/b-lab');
      const absent = await c.get('/fhir/Observation/no-such-id');
      assert.equal(hidden.status, 404);
      assert.equal(absent.status, 404);
      assert.equal(hidden.body.issue[0].code, absent.body.issue[0].code);
      assert.equal(hidden.body.issue[0].details.text.replace('b-lab', 'X'), absent.body.issue[0].details.text.replace('no-such-id', 'X'));
      assert.equal((await c.get('/fhir/Observation/b-lab/_history/1')).status, 404);
      assert.equal((await c.get('/fhir/Observation/b-lab/_history')).status, 404);
      assert.equal((await c.get('/fhir/Patient/B')).status, 404);
      assert.equal((await c.get('/fhir/Patient/A')).status, 200);
      assert.equal((await c.get('/fhir/Observation/a-abs')).status, 200, 'an absolute reference to Patient/A counts');
    });

    it('resources outside the Patient compartment are shared reference data: readable, not writable; Binary is not reachable', async () => {
      const c = await f.as(PATIENT_A);
      assert.equal((await c.get('/fhir/Organization/org')).status, 200);
      assert.equal((await c.get('/fhir/Practitioner/doc')).status, 200);
      assert.equal((await c.get('/fhir/Binary/bin')).status, 403);
      const w = await f.as({ ...PATIENT_A, scope: 'patient/*.cruds' });
      assert.equal((await w.post('/fhir/Organization', { resourceType: 'Organization', name: 'Mine' })).status, 403);
      assert.equal((await w.get('/fhir/Organization/org')).status, 200);
    });

    it('a deleted resource is 410 inside the compartment and 404 outside it', async () => {
      await request(f.t.app).put('/fhir/Observation/a-gone').set('Content-Type', 'application/fhir+json').send({ ...observation('A'), id: 'a-gone' }).expect(201);
      await request(f.t.app).put('/fhir/Observation/b-gone').set('Content-Type', 'application/fhir+json').send({ ...observation('B'), id: 'b-gone' }).expect(201);
      await request(f.t.app).delete('/fhir/Observation/a-gone').expect(200);
      await request(f.t.app).delete('/fhir/Observation/b-gone').expect(200);
      const c = await f.as(PATIENT_A);
      assert.equal((await c.get('/fhir/Observation/a-gone')).status, 410);
      assert.equal((await c.get('/fhir/Observation/b-gone')).status, 404);
      const hist = await c.get('/fhir/Observation/a-gone/_history');
      assert.equal(hist.status, 200);
      assert.equal(hist.body.total, 2);
    });
  });

  describe('searches see only what the token allows', () => {
    it('type search and its total are confined to the compartment', async () => {
      const c = await f.as(PATIENT_A);
      const res = await c.get('/fhir/Observation?_count=1');
      assert.equal(res.status, 200);
      const all = await c.get('/fhir/Observation?_count=100');
      const ids = refsOf(all.body);
      assert.ok(ids.includes('Observation/a-lab') && ids.includes('Observation/a-vital') && ids.includes('Observation/a-abs'));
      assert.ok(!ids.some((r) => r.startsWith('Observation/b-')), ids.join());
      assert.equal(res.body.total, all.body.total);
      assert.equal(all.body.total, ids.length);
      // Paging through the compartment never leaves it.
      const next = res.body.link.find((l: { relation: string }) => l.relation === 'next')?.url as string;
      const page2 = await c.get(new URL(next).pathname + new URL(next).search);
      assert.equal(page2.status, 200);
      assert.ok(refsOf(page2.body).every((r) => !r.startsWith('Observation/b-')));
      // Asking for B's data explicitly finds nothing.
      assert.equal((await c.get('/fhir/Observation?subject=Patient/B')).body.total, 0);
      assert.deepEqual(refsOf((await c.get('/fhir/Patient')).body), ['Patient/A']);
      assert.deepEqual(refsOf((await c.get('/fhir/Encounter')).body), ['Encounter/a-enc']);
    });

    it('type history and _summary=count are confined too', async () => {
      const c = await f.as(PATIENT_A);
      const hist = await c.get('/fhir/Encounter/_history');
      assert.equal(hist.status, 200);
      assert.deepEqual(hist.body.entry.map((e: { fullUrl: string }) => e.fullUrl.replace(/.*\/fhir\//, '')), ['Encounter/a-enc']);
      assert.equal(hist.body.total, 1);
      const count = await c.get('/fhir/Encounter?_summary=count');
      assert.equal(count.body.total, 1);
      const paged = await c.get('/fhir/Observation/_history?_count=1');
      const all = await request(f.t.app).get('/fhir/Observation/_history?_count=1000');
      const mine = all.body.entry.filter((e: { resource?: { subject?: { reference?: string } } }) => /Patient\/A$/.test(e.resource?.subject?.reference ?? ''));
      assert.ok(paged.body.total >= mine.length && paged.body.total < all.body.total, `${paged.body.total} of ${all.body.total}`);
      assert.equal(paged.body.entry.length, 1);
    });

    it('_include and _revinclude add only what the token may read', async () => {
      // No Patient scope: the included subject is left out.
      const obsOnly = await f.as({ scope: 'patient/Observation.rs', patient: 'A' });
      const inc = await obsOnly.get('/fhir/Observation?_id=a-lab&_include=Observation:subject&_include=Observation:performer');
      assert.equal(inc.status, 200);
      assert.deepEqual(refsOf(inc.body, 'include'), []);
      const both = await f.as(PATIENT_A);
      const inc2 = await both.get('/fhir/Observation?_id=a-lab&_include=Observation:subject&_include=Observation:performer');
      assert.deepEqual(refsOf(inc2.body, 'include'), ['Patient/A', 'Practitioner/doc']);
      // Granular: Patient A with only lab Observations.
      const labs = await f.as({ scope: `patient/Patient.rs patient/Observation.rs?category=${encodeURIComponent(LAB)}`, patient: 'A' });
      const rev = await labs.get('/fhir/Patient?_revinclude=Observation:subject');
      assert.deepEqual(refsOf(rev.body), ['Patient/A']);
      assert.deepEqual(refsOf(rev.body, 'include'), ['Observation/a-lab']);
      // A user-level clinician with lab Observations only, looking at B.
      const user = await f.as({ scope: `user/Patient.rs user/Observation.rs?category=${encodeURIComponent(LAB)}` });
      const revB = await user.get('/fhir/Patient?_id=B&_revinclude=Observation:subject');
      assert.deepEqual(refsOf(revB.body, 'include'), ['Observation/b-lab']);
    });

    it('chains and _has search through the same scopes', async () => {
      const c = await f.as(PATIENT_A);
      assert.equal((await c.get('/fhir/Observation?subject:Patient.family=Bravo')).body.total, 0);
      const mine = refsOf((await c.get('/fhir/Observation?subject:Patient.family=Alpha')).body);
      assert.ok(mine.includes('Observation/a-lab'));
      assert.deepEqual(mine, refsOf((await request(f.t.app).get('/fhir/Observation?subject:Patient.family=Alpha')).body));
      // B has a lab Observation, but a token limited to vital signs cannot use it to find B.
      const vitals = await f.as({ scope: 'user/Patient.rs user/Observation.rs?category=vital-signs' });
      assert.deepEqual(refsOf((await vitals.get('/fhir/Patient?_has:Observation:subject:code=2345-7')).body), []);
      const labs = await f.as({ scope: `user/Patient.rs user/Observation.rs?category=${encodeURIComponent(LAB)}` });
      assert.deepEqual(refsOf((await labs.get('/fhir/Patient?_has:Observation:subject:code=2345-7')).body), ['Patient/A', 'Patient/B']);
    });

    it('system search: named types need s; without _type only permitted types are searched', async () => {
      const c = await f.as({ scope: 'patient/Observation.rs patient/Patient.rs', patient: 'A' });
      const res = await c.get('/fhir?_type=Patient,Observation&_count=100');
      assert.equal(res.status, 200);
      assert.ok(refsOf(res.body).every((r) => r === 'Patient/A' || r.startsWith('Observation/a-')), refsOf(res.body).join());
      assert.equal((await c.get('/fhir?_type=Organization')).status, 403);
      const any = await c.get('/fhir?_count=100&_total=accurate');
      assert.equal(any.status, 200);
      assert.ok(refsOf(any.body).every((r) => r === 'Patient/A' || r.startsWith('Observation/a-')), refsOf(any.body).join());
    });

    it('granular scopes: only the category they name, for reads too', async () => {
      const fixture = '_id=a-lab,a-vital,a-abs,b-lab,b-vital';
      const c = await f.as({ scope: `user/Observation.rs?category=${encodeURIComponent(LAB)}` });
      assert.deepEqual(refsOf((await c.get(`/fhir/Observation?${fixture}`)).body), ['Observation/a-lab', 'Observation/b-lab']);
      assert.equal((await c.get('/fhir/Observation/a-lab')).status, 200);
      assert.equal((await c.get('/fhir/Observation/a-vital')).status, 404);
      // Two granular scopes add up.
      const two = await f.as({ scope: `user/Observation.rs?category=${encodeURIComponent(LAB)} user/Observation.rs?code=8867-4` });
      assert.deepEqual(refsOf((await two.get(`/fhir/Observation?${fixture}`)).body), ['Observation/a-lab', 'Observation/a-vital', 'Observation/b-lab', 'Observation/b-vital']);
      // A granular scope naming a parameter that does not exist reaches nothing.
      const bad = await f.as({ scope: 'user/Observation.rs?no-such-param=1' });
      assert.deepEqual(refsOf((await bad.get('/fhir/Observation')).body), []);
    });
  });

  describe('writes', () => {
    const W = { scope: 'patient/Observation.cruds patient/Patient.rs', patient: 'A' };

    it('a patient-scoped client writes inside its compartment only', async () => {
      const c = await f.as(W);
      assert.equal((await c.post('/fhir/Observation', observation('A'))).status, 201);
      const outside = await c.post('/fhir/Observation', observation('B'));
      assert.equal(outside.status, 403);
      // Moving its own Observation to another patient is refused too.
      assert.equal((await c.put('/fhir/Observation/a-vital', { ...observation('B'), id: 'a-vital' })).status, 403);
      // Another patient's resource: update refused, delete and patch read as absent.
      assert.equal((await c.put('/fhir/Observation/b-vital', { ...observation('B'), id: 'b-vital' })).status, 403);
      assert.equal((await c.delete('/fhir/Observation/b-vital')).status, 404);
      assert.equal((await c.patch('/fhir/Observation/b-vital', [{ op: 'replace', path: '/status', value: 'amended' }])).status, 404);
      const b = await request(f.t.app).get('/fhir/Observation/b-vital');
      assert.equal(b.body.meta.versionId, '1', 'B’s Observation is untouched');
      assert.equal((await c.patch('/fhir/Observation/a-vital', [{ op: 'replace', path: '/status', value: 'amended' }])).status, 200);
    });

    it('update-as-create needs c as well as u', async () => {
      const u = await f.as({ scope: 'patient/Observation.ru', patient: 'A' });
      assert.equal((await u.put('/fhir/Observation/a-new-by-put', { ...observation('A'), id: 'a-new-by-put' })).status, 403);
      assert.equal((await u.put('/fhir/Observation/a-lab', { ...labObservation('a-lab', 'A'), status: 'amended' })).status, 200);
      const cu = await f.as({ scope: 'patient/Observation.cru', patient: 'A' });
      assert.equal((await cu.put('/fhir/Observation/a-new-by-put', { ...observation('A'), id: 'a-new-by-put' })).status, 201);
    });

    it('conditional writes only see what the token reaches', async () => {
      const c = await f.as(W);
      // B's lab Observation matches the condition but is not visible: a conditional delete finds nothing.
      const del = await c.delete(`/fhir/Observation?code=2345-7&subject=Patient/B`);
      assert.equal(del.status, 200);
      assert.equal((await request(f.t.app).get('/fhir/Observation/b-lab')).status, 200);
    });

    it('transaction: every entry is checked; one entry outside the scopes refuses the whole transaction', async () => {
      const c = await f.as(W);
      const before = (await request(f.t.app).get('/fhir/Observation?_summary=count')).body.total as number;
      const tx = {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: 'urn:uuid:1', resource: observation('A'), request: { method: 'POST', url: 'Observation' } },
          { fullUrl: 'urn:uuid:2', resource: observation('B'), request: { method: 'POST', url: 'Observation' } },
        ],
      };
      const res = await c.post('/fhir', tx);
      assert.equal(res.status, 403, JSON.stringify(res.body));
      assert.equal((await request(f.t.app).get('/fhir/Observation?_summary=count')).body.total, before, 'nothing was committed');
      const ok = await c.post('/fhir', { ...tx, entry: [tx.entry[0]] });
      assert.equal(ok.status, 200);
      // Read entries in a transaction are confined like any read.
      const reads = await c.post('/fhir', {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { request: { method: 'GET', url: 'Observation/a-lab' } },
          { request: { method: 'GET', url: 'Observation/b-lab' } },
          { request: { method: 'GET', url: 'Organization/org' } },
        ],
      });
      assert.equal(reads.status, 200);
      assert.deepEqual(
        reads.body.entry.map((e: { response: { status: string } }) => e.response.status.slice(0, 3)),
        ['200', '404', '403'],
      );
    });

    it('batch: entries are answered one by one', async () => {
      const c = await f.as(W);
      const res = await c.post('/fhir', {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { resource: observation('A'), request: { method: 'POST', url: 'Observation' } },
          { resource: observation('B'), request: { method: 'POST', url: 'Observation' } },
          { request: { method: 'GET', url: 'Observation/b-lab' } },
          { request: { method: 'GET', url: 'Patient/A' } },
          { resource: labObservation('x-new', 'A'), request: { method: 'PUT', url: 'Observation/x-new' } },
        ],
      });
      assert.equal(res.status, 200);
      assert.deepEqual(
        res.body.entry.map((e: { response: { status: string } }) => e.response.status.slice(0, 3)),
        ['201', '403', '404', '200', '201'],
      );
    });
  });
});
