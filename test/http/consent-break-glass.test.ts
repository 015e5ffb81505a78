import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { AuditEvent, Bundle, Resource } from '@medplum/fhirtypes';
import { ACT_CODE_SYSTEM } from '../../server/src/consent/data-categories.js';
import { patient, startTestApp, type TestApp } from './app-fixture.js';
import { labObservation, refsOf } from './auth-fixture.js';
import { actor, category, consent } from '../helpers/consent-cases.js';
import type { TokenOptions } from '../helpers/test-auth.js';

/**
 * Break-the-glass (issue 5 §6): HIV results of Patient/p are restricted by her Consent to her
 * care team. A clinician outside it does not see them for treatment; with purpose ETREAT and a
 * role allowed to break the glass they are shown, marked BTG, and the access is recorded as an
 * AuditEvent that `AuditEvent/$break-glass-report` lists. Other roles, or a server configured
 * with CONSENT_BREAK_GLASS_ROLES=none, get no such access.
 */

const BTG = `${ACT_CODE_SYSTEM}|BTG`;
const REPORT = '/fhir/AuditEvent/$break-glass-report';

const DOCTOR: TokenOptions = { scope: 'user/*.rs', fhirUser: 'Practitioner/doc', roles: ['clinician'], purpose_of_use: ['TREAT', 'ETREAT'] };
const MEMBER: TokenOptions = { scope: 'user/*.rs', fhirUser: 'Practitioner/member', roles: ['clinician'], purpose_of_use: ['TREAT'] };
const INSURER: TokenOptions = { scope: 'user/*.rs', fhirUser: 'Organization/insurer', roles: ['insurer'], purpose_of_use: ['ETREAT'] };
const EMERGENCY = { 'X-Purpose-Of-Use': 'ETREAT' };

interface Client {
  get(path: string, headers?: Record<string, string>): request.Test;
}

async function client(t: TestApp, opts: TokenOptions): Promise<Client> {
  const auth = `Bearer ${await t.auth.token(opts)}`;
  return {
    get: (path, headers = {}) => {
      let r = request(t.rawApp).get(path).set('Authorization', auth);
      for (const [k, v] of Object.entries(headers)) r = r.set(k, v);
      return r;
    },
  };
}

async function seed(t: TestApp): Promise<void> {
  const put = async (r: Record<string, unknown>): Promise<void> => {
    const res = await request(t.app).put(`/fhir/${r.resourceType as string}/${r.id as string}`).set('Content-Type', 'application/fhir+json').send(r);
    assert.ok(res.status === 200 || res.status === 201, `${r.resourceType as string}/${r.id as string}: ${res.status} ${JSON.stringify(res.body)}`);
  };
  await put({ ...patient('Pat'), id: 'p' });
  await put({ resourceType: 'Practitioner', id: 'doc', name: [{ family: 'Outside' }] });
  await put({ resourceType: 'Practitioner', id: 'member', name: [{ family: 'Inside' }] });
  await put({ resourceType: 'Organization', id: 'insurer', name: 'Insurer' });
  await put({ resourceType: 'CareTeam', id: 'ct', status: 'active', subject: { reference: 'Patient/p' }, participant: [{ member: { reference: 'Practitioner/member' } }] });
  await put({
    resourceType: 'Observation',
    id: 'hiv',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '75622-1', display: 'HIV 1 and 2 tests - Meaningful Use set' }] },
    subject: { reference: 'Patient/p' },
    effectiveDateTime: '2024-03-01T10:00:00Z',
    valueString: 'negative',
  });
  await put(labObservation('lab', 'p'));
  await put({
    ...consent({
      id: 'hiv-care-team',
      patient: { reference: 'Patient/p' },
      provision: {
        type: 'permit',
        provision: [{ type: 'deny', class: [category('hiv-and-infectious-disease')], provision: [{ type: 'permit', actor: [actor('CareTeam/ct')] }] }],
      },
    }),
    meta: undefined,
  });
}

const labelled = (r: Resource | undefined): boolean => (r?.meta?.security ?? []).some((s) => `${s.system}|${s.code}` === BTG);

describe('break-the-glass', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
    await seed(t);
  });
  after(() => t.close());

  const breakGlassEvents = async (): Promise<AuditEvent[]> => {
    const res = await request(t.app).get(`/fhir/AuditEvent?_security=${encodeURIComponent(BTG)}&_sort=-date`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return ((res.body as Bundle).entry ?? []).map((e) => e.resource as AuditEvent);
  };

  it('for treatment, a clinician outside the care team does not see the HIV result: 404, and search omits it', async () => {
    const doc = await client(t, DOCTOR);
    for (const headers of [{}, { 'X-Purpose-Of-Use': 'TREAT' }] as Array<Record<string, string>>) {
      const read = await doc.get('/fhir/Observation/hiv', headers);
      assert.equal(read.status, 404, JSON.stringify(read.body));
      const search = await doc.get('/fhir/Observation?subject=Patient/p', headers);
      assert.equal(search.status, 200);
      assert.deepEqual(refsOf(search.body), ['Observation/lab']);
      assert.equal(search.body.total, 1);
      assert.equal(search.headers['x-break-the-glass'], undefined);
    }
    assert.deepEqual(await breakGlassEvents(), []);
  });

  it('a care-team member sees it for treatment, unmarked', async () => {
    const member = await client(t, MEMBER);
    const read = await member.get('/fhir/Observation/hiv');
    assert.equal(read.status, 200, JSON.stringify(read.body));
    assert.equal(labelled(read.body), false);
    assert.equal(read.headers['x-break-the-glass'], undefined);
  });

  it('with ETREAT the clinician breaks the glass: 200, marked BTG, X-Break-The-Glass, recorded; the report lists it', async () => {
    const doc = await client(t, DOCTOR);
    const read = await doc.get('/fhir/Observation/hiv', EMERGENCY);
    assert.equal(read.status, 200, JSON.stringify(read.body));
    assert.ok(labelled(read.body), JSON.stringify(read.body.meta));
    assert.equal(read.headers['x-break-the-glass'], '1');

    const events = await breakGlassEvents();
    assert.equal(events.length, 1);
    const event = events[0] as AuditEvent;
    assert.deepEqual(
      event.entity?.flatMap((e) => (e.what?.reference ? [e.what.reference] : [])),
      ['Patient/p', 'Observation/hiv/_history/1'],
    );
    assert.equal(event.agent?.[0]?.who?.reference, 'Practitioner/doc');
    assert.deepEqual(event.purposeOfEvent?.map((p) => p.coding?.[0]?.code), ['ETREAT']);
    assert.equal(event.subtype?.[0]?.code, 'read');

    // Search: what consent permits is shown as is, what it denies is shown marked.
    const search = await doc.get('/fhir/Observation?subject=Patient/p', EMERGENCY);
    assert.equal(search.status, 200);
    assert.deepEqual(refsOf(search.body), ['Observation/hiv', 'Observation/lab']);
    const byId = new Map(((search.body as Bundle).entry ?? []).map((e) => [e.resource?.id, e.resource]));
    assert.equal(labelled(byId.get('hiv')), true);
    assert.equal(labelled(byId.get('lab')), false);
    assert.equal(search.headers['x-break-the-glass'], '1');

    const report = await request(t.app).get(REPORT);
    assert.equal(report.status, 200, JSON.stringify(report.body));
    assert.equal(report.body.resourceType, 'Bundle');
    assert.equal(report.body.type, 'searchset');
    assert.equal(report.body.total, 2);
    const listed = ((report.body as Bundle).entry ?? []).map((e) => e.resource as AuditEvent);
    assert.deepEqual(
      listed.map((e) => e.subtype?.[0]?.code),
      ['search-type', 'read'],
      'newest first',
    );
    assert.ok(listed.every((e) => (e.meta?.security ?? []).some((s) => s.code === 'BTG')));
  });

  it('the report filters by patient and time, pages, and is for admins only', async () => {
    const ids = async (query: string): Promise<string[]> => {
      const res = await request(t.app).get(`${REPORT}${query}`);
      assert.equal(res.status, 200, `${query}: ${JSON.stringify(res.body)}`);
      return ((res.body as Bundle).entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource?.id as string);
    };
    const all = await ids('');
    assert.equal(all.length, 2);
    assert.deepEqual(await ids('?patient=Patient/p'), all);
    assert.deepEqual(await ids('?patient=Patient/other'), []);
    assert.deepEqual(await ids('?since=2000-01-01T00:00:00Z'), all);
    assert.deepEqual(await ids(`?since=${new Date(Date.now() + 3_600_000).toISOString()}`), []);

    const first = await request(t.app).get(`${REPORT}?_count=1`);
    assert.equal(first.body.entry.length, 1);
    assert.equal(first.body.entry[0].resource.id, all[0]);
    const next = (first.body as Bundle).link?.find((l) => l.relation === 'next')?.url as string;
    assert.ok(next, 'a next link');
    const second = await request(t.app).get(new URL(next).pathname + new URL(next).search);
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.equal(second.body.entry[0].resource.id, all[1]);

    for (const query of ['?patient=Observation/hiv', '?since=yesterday', '?colour=blue']) {
      const res = await request(t.app).get(`${REPORT}${query}`);
      assert.equal(res.status, 400, `${query}: ${JSON.stringify(res.body)}`);
    }
    const doc = await client(t, DOCTOR);
    assert.equal((await doc.get(REPORT)).status, 403);
    assert.equal((await request(t.app).get('/fhir/Observation/$break-glass-report')).status, 404);
  });

  it("the report's route refuses a non-admin (403) and still applies the scope check to admins", async () => {
    // DOCTOR's user/*.rs reaches AuditEvent: the refusal is the role's.
    const refused = await (await client(t, DOCTOR)).get(`${REPORT}?patient=Patient/p`);
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    assert.equal(refused.body.resourceType, 'OperationOutcome');
    assert.equal(refused.body.issue[0].details.text, '$break-glass-report is open to principals with role admin');
    // A non-admin on another type gets the handler's answer about the type, as before.
    assert.equal((await (await client(t, DOCTOR)).get('/fhir/Observation/$break-glass-report')).status, 404);
    const narrow = await client(t, { scope: 'user/Observation.rs', fhirUser: 'Practitioner/doc', roles: ['admin'], purpose_of_use: ['HSYSADMIN'] });
    const unscoped = await narrow.get(REPORT);
    assert.equal(unscoped.status, 403, JSON.stringify(unscoped.body));
    assert.match(unscoped.body.issue[0].details.text, /grants nothing on AuditEvent/);
  });

  it('ETREAT without a break-the-glass role gives no access', async () => {
    const insurer = await client(t, INSURER);
    const read = await insurer.get('/fhir/Observation/hiv', EMERGENCY);
    assert.equal(read.status, 404, JSON.stringify(read.body));
    const search = await insurer.get('/fhir/Observation?subject=Patient/p', EMERGENCY);
    assert.deepEqual(refsOf(search.body), ['Observation/lab']);
    assert.equal(search.headers['x-break-the-glass'], undefined);
  });
});

describe('break-the-glass with CONSENT_BREAK_GLASS_ROLES=none', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ CONSENT_BREAK_GLASS_ROLES: 'none' });
    await seed(t);
  });
  after(() => t.close());

  it('not even a clinician with ETREAT sees the HIV result, and nothing is recorded', async () => {
    const doc = await client(t, DOCTOR);
    const read = await doc.get('/fhir/Observation/hiv', EMERGENCY);
    assert.equal(read.status, 404, JSON.stringify(read.body));
    assert.equal(read.headers['x-break-the-glass'], undefined);
    const report = await request(t.app).get(REPORT);
    assert.equal(report.status, 200);
    assert.equal(report.body.total, 0);
  });
});
