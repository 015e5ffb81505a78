import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { get, linkOf, local, matchIds, openApp, put, removeDir, tempDataDir, walk, type OpenApp, type SearchBundle } from './search-fixture.js';

/**
 * System-level search (`GET [base]?_type=…`, `POST [base]/_search`) merged across types with
 * one cursor, and `POST [type]/_search` with form-encoded parameters (R4 §3.1.1, §3.1.0.10).
 */

interface Row {
  type: string;
  id: string;
  ms: number;
  tag: string;
}

describe('system search', () => {
  let dir: string;
  let t: OpenApp;
  const rows: Row[] = [];
  before(async () => {
    dir = tempDataDir();
    t = await openApp(dir);
    // Ids repeat across types on purpose: the merge must tell Patient/x from Group/x.
    const make = (type: string, id: string, i: number): Record<string, unknown> & { id: string } =>
      type === 'Patient'
        ? { resourceType: type, id, gender: i % 2 ? 'male' : 'female', meta: { tag: [{ system: 'urn:t', code: i % 3 === 0 ? 'red' : 'blue' }] } }
        : type === 'Group'
          ? { resourceType: type, id, type: 'person', actual: true, meta: { tag: [{ system: 'urn:t', code: i % 3 === 0 ? 'red' : 'blue' }] } }
          : { resourceType: type, id, name: `org ${id}`, meta: { tag: [{ system: 'urn:t', code: 'blue' }] } };
    let i = 0;
    for (const id of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) {
      for (const type of ['Patient', 'Group', 'Organization']) {
        if (type === 'Organization' && id > 'c') continue;
        const created = await put(t.app, make(type, id, i++));
        rows.push({ type, id, ms: Date.parse(created.meta.lastUpdated as string), tag: created.meta.tag.find((x: { system?: string }) => x.system === 'urn:t').code as string });
      }
    }
  });
  after(async () => {
    await t.close();
    removeDir(dir);
  });

  const cmp = (a: string | number, b: string | number): number => (a < b ? -1 : a > b ? 1 : 0);
  const expected = (types: string[], by: (a: Row, b: Row) => number): string[] =>
    rows
      .filter((r) => types.includes(r.type))
      .sort(by)
      .map((r) => `${r.type}/${r.id}`);

  const orders: Array<{ q: string; types: string[]; by: (a: Row, b: Row) => number }> = [
    // Merged order: the sort values (the id tie-break included), then the type.
    { q: '_type=Patient,Group', types: ['Patient', 'Group'], by: (a, b) => cmp(a.id, b.id) || cmp(a.type, b.type) },
    { q: '_type=Patient,Group,Organization&_sort=_lastUpdated', types: ['Patient', 'Group', 'Organization'], by: (a, b) => cmp(a.ms, b.ms) || cmp(a.id, b.id) || cmp(a.type, b.type) },
    { q: '_type=Organization,Patient,Group&_sort=-_lastUpdated', types: ['Patient', 'Group', 'Organization'], by: (a, b) => cmp(b.ms, a.ms) || cmp(a.id, b.id) || cmp(a.type, b.type) },
    { q: '_type=Patient,Group,Organization&_sort=-_id', types: ['Patient', 'Group', 'Organization'], by: (a, b) => cmp(b.id, a.id) || cmp(a.type, b.type) },
    // Types the server adds no data-category tag to (Patients get one, issue 5).
    { q: '_type=Organization,Group&_sort=_tag', types: ['Organization', 'Group'], by: (a, b) => cmp(a.tag, b.tag) || cmp(a.id, b.id) || cmp(a.type, b.type) },
  ];
  for (const o of orders) {
    it(`pages through ${o.q} in one merged order, both ways`, async () => {
      const all = (await get(t.app, `/fhir?${o.q}&_count=100`)).body as SearchBundle;
      const want = expected(o.types, o.by);
      assert.equal(all.total, want.length);
      assert.deepEqual(matchIds(all), want);
      const pages = await walk(t.app, `/fhir?${o.q}&_count=4`);
      assert.deepEqual(pages.flatMap(matchIds), want, 'next links');
      const back = await walk(t.app, local(linkOf(pages.at(-1) as SearchBundle, 'self') as string), 'previous');
      assert.deepEqual(back.reverse().flatMap(matchIds), want, 'previous links');
    });
  }

  it('filters on common parameters across the types', async () => {
    const red = (await get(t.app, '/fhir?_type=Patient,Group,Organization&_tag=urn:t|red&_count=100')).body as SearchBundle;
    const want = rows
      .filter((r) => r.tag === 'red')
      .sort((a, b) => cmp(a.id, b.id) || cmp(a.type, b.type))
      .map((r) => `${r.type}/${r.id}`);
    assert.ok(want.length > 0);
    assert.deepEqual(matchIds(red), want);
    const byId = (await get(t.app, '/fhir?_type=Patient,Organization&_id=a,c')).body as SearchBundle;
    assert.deepEqual(matchIds(byId), ['Organization/a', 'Patient/a', 'Organization/c', 'Patient/c']);
  });

  it('without _type every type is searched, and the total is given only when asked', async () => {
    const res = (await get(t.app, '/fhir?_id=b')).body as SearchBundle;
    assert.deepEqual(matchIds(res), ['Group/b', 'Organization/b', 'Patient/b']);
    assert.equal(res.total, undefined);
    const counted = (await get(t.app, '/fhir?_id=b&_total=accurate')).body as SearchBundle;
    assert.equal(counted.total, 3);
    // Every request adds its AuditEvents, newest last: pages large enough to outrun them.
    const pages = await walk(t.app, '/fhir?_count=200&_sort=_lastUpdated');
    const all = pages.flatMap(matchIds);
    assert.ok(all.filter((r) => !r.startsWith('AuditEvent/')).length >= rows.length);
    assert.ok(all.some((r) => r.startsWith('AuditEvent/')), 'the audit trail is searched too');
  });

  it('a parameter not common to every type: 400 under strict, ignored with a warning otherwise', async () => {
    const strict = await get(t.app, '/fhir?_type=Patient,Group&gender=male', { Prefer: 'handling=strict' });
    assert.equal(strict.status, 400);
    const lenient = (await get(t.app, '/fhir?_type=Patient,Group&gender=male&_count=100')).body as SearchBundle;
    assert.equal(matchIds(lenient).length, rows.filter((r) => r.type !== 'Organization').length, 'not applied to some types only');
    assert.equal((lenient.entry ?? []).filter((e) => e.search.mode === 'outcome').length, 1);
    // Common to the listed types, so it applies.
    const patientsOnly = (await get(t.app, '/fhir?_type=Patient&gender=male')).body as SearchBundle;
    assert.ok(matchIds(patientsOnly).length > 0);
    for (const e of patientsOnly.entry ?? []) assert.equal(e.resource.gender, 'male');
    assert.equal((await get(t.app, '/fhir?_type=Patient,Group&_sort=gender', { Prefer: 'handling=strict' })).status, 400);
  });

  it('an unknown _type is a 400', async () => {
    assert.equal((await get(t.app, '/fhir?_type=Patient,Nope')).status, 400);
    assert.equal((await get(t.app, '/fhir?_type=,')).status, 400);
  });

  it('_include works across the merged page', async () => {
    await put(t.app, { resourceType: 'Patient', id: 'withorg', managingOrganization: { reference: 'Organization/a' } });
    const res = (await get(t.app, '/fhir?_type=Patient,Group&_id=withorg,a&_include=Patient:organization')).body as SearchBundle;
    assert.deepEqual(matchIds(res), ['Group/a', 'Patient/a', 'Patient/withorg']);
    assert.equal(res.total, 3);
    assert.deepEqual((res.entry ?? []).filter((e) => e.search.mode === 'include').map((e) => `${e.resource.resourceType}/${e.resource.id}`), ['Organization/a']);
  });

  it('POST [base]/_search takes form-encoded parameters and pages with GET links', async () => {
    const res = await request(t.app).post('/fhir/_search').type('form').send({ _type: 'Patient,Group', _id: 'a,b,c', _count: '2' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(matchIds(res.body as SearchBundle), ['Group/a', 'Patient/a']);
    const rest = await walk(t.app, local(linkOf(res.body as SearchBundle, 'next') as string));
    assert.deepEqual(rest.flatMap(matchIds), ['Group/b', 'Patient/b', 'Group/c', 'Patient/c']);
    const empty = await request(t.app).post('/fhir/_search').query({ _type: 'Organization' });
    assert.equal(empty.status, 200);
    assert.equal(empty.body.total, 3);
  });

  it('POST [type]/_search merges URL and body parameters', async () => {
    const res = await request(t.app).post('/fhir/Patient/_search?gender=female').type('form').send({ _id: 'a,b,c,d' });
    assert.equal(res.status, 200);
    const want = rows.filter((r) => r.type === 'Patient' && ['a', 'b', 'c', 'd'].includes(r.id)).map((r) => r.id);
    for (const e of res.body.entry ?? []) {
      assert.equal(e.resource.gender, 'female');
      assert.ok(want.includes(e.resource.id));
    }
    assert.ok((res.body.entry ?? []).length > 0);
    const next = new URL(res.body.link[0].url);
    assert.equal(next.pathname, '/fhir/Patient');
    assert.equal(next.searchParams.get('gender'), 'female');
    assert.equal(next.searchParams.get('_id'), 'a,b,c,d');
  });

  it('a form body is refused anywhere but _search', async () => {
    const res = await request(t.app).post('/fhir/Patient').type('form').send({ gender: 'male' });
    assert.equal(res.status, 415);
  });

  it('the CapabilityStatement advertises system search and includes', async () => {
    const cs = (await get(t.app, '/fhir/metadata')).body;
    const rest = cs.rest[0];
    assert.ok(rest.interaction.some((i: { code: string }) => i.code === 'search-system'));
    assert.ok(rest.searchParam.some((p: { name: string }) => p.name === '_lastUpdated'));
    const obs = rest.resource.find((r: { type: string }) => r.type === 'Observation');
    assert.ok(obs.searchInclude.includes('Observation:subject'));
    assert.ok(obs.searchInclude.includes('*'));
    const patient = rest.resource.find((r: { type: string }) => r.type === 'Patient');
    assert.ok(patient.searchRevInclude.includes('Observation:subject'));
    assert.ok(!patient.interaction.some((i: { code: string }) => i.code === 'search-system'));
  });
});
