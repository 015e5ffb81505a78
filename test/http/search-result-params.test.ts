import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { get, openApp, put, removeDir, tempDataDir, type OpenApp, type SearchBundle } from './search-fixture.js';

/** `_summary`, `_elements`, `_total`, `_count` and bad result parameters (R4 §3.1.1.5). */

const SUBSETTED = (r: Record<string, any>): boolean => (r.meta?.tag ?? []).some((t: { system: string; code: string }) => t.code === 'SUBSETTED' && t.system === 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue');
const outcomes = (b: SearchBundle): Array<Record<string, any>> => (b.entry ?? []).filter((e) => e.search.mode === 'outcome').map((e) => e.resource);

describe('search result parameters', () => {
  let dir: string;
  let t: OpenApp;
  before(async () => {
    dir = tempDataDir();
    t = await openApp(dir);
    await put(t.app, {
      resourceType: 'Patient',
      id: 'pa',
      text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Pat</div>' },
      identifier: [{ system: 'urn:mrn', value: '1' }],
      name: [{ family: 'Shape', given: ['Ada'] }],
      gender: 'female',
      photo: [{ contentType: 'image/png', data: 'AA==' }],
      deceasedBoolean: false,
      contact: [{ name: { family: 'Kin' } }],
    });
    await put(t.app, {
      resourceType: 'Observation',
      id: 'ob',
      text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Obs</div>' },
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      subject: { reference: 'Patient/pa' },
      valueQuantity: { value: 72, unit: '/min' },
      note: [{ text: 'calm' }],
    });
  });
  after(async () => {
    await t.close();
    removeDir(dir);
  });

  const one = async (q: string): Promise<Record<string, any>> => {
    const res = await get(t.app, `/fhir/${q}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const matches = ((res.body as SearchBundle).entry ?? []).filter((e) => e.search.mode === 'match');
    assert.equal(matches.length, 1, q);
    return (matches[0] as { resource: Record<string, any> }).resource;
  };

  it('_summary=true keeps summary and mandatory elements, tagged SUBSETTED', async () => {
    const p = await one('Patient?_summary=true');
    assert.deepEqual(Object.keys(p).sort(), ['deceasedBoolean', 'gender', 'id', 'identifier', 'meta', 'name', 'resourceType']);
    assert.ok(SUBSETTED(p));
    const o = await one('Observation?_summary=true');
    assert.equal(o.note, undefined);
    assert.deepEqual(o.valueQuantity, { value: 72, unit: '/min' }, 'value[x] is a summary element');
  });

  it('_summary=text keeps text, id, meta and mandatory elements', async () => {
    const o = await one('Observation?_summary=text');
    assert.deepEqual(Object.keys(o).sort(), ['code', 'id', 'meta', 'resourceType', 'status', 'text']);
    assert.ok(SUBSETTED(o));
  });

  it('_summary=data drops only text', async () => {
    const p = await one('Patient?_summary=data');
    assert.equal(p.text, undefined);
    assert.deepEqual(p.contact, [{ name: { family: 'Kin' } }]);
    assert.ok(SUBSETTED(p));
  });

  it('_summary=false and no _summary return the whole resource untagged', async () => {
    for (const q of ['Patient?_summary=false', 'Patient']) {
      const p = await one(q);
      assert.ok(p.photo && p.text && p.contact);
      assert.ok(!SUBSETTED(p));
    }
  });

  it('_summary=count returns the total and no entries', async () => {
    const res = await get(t.app, '/fhir/Patient?_summary=count');
    assert.equal(res.body.total, 1);
    assert.equal(res.body.entry, undefined);
  });

  it('_elements keeps the named elements, choice stems and mandatory ones', async () => {
    const p = await one('Patient?_elements=identifier');
    assert.deepEqual(Object.keys(p).sort(), ['id', 'identifier', 'meta', 'resourceType']);
    assert.ok(SUBSETTED(p));
    const o = await one('Observation?_elements=value,subject');
    assert.deepEqual(Object.keys(o).sort(), ['code', 'id', 'meta', 'resourceType', 'status', 'subject', 'valueQuantity']);
    const typed = await one('Patient?_elements=Patient.gender,deceased');
    assert.deepEqual(Object.keys(typed).sort(), ['deceasedBoolean', 'gender', 'id', 'meta', 'resourceType']);
    const repeated = await one('Patient?_elements=gender&_elements=name');
    assert.deepEqual(Object.keys(repeated).sort(), ['gender', 'id', 'meta', 'name', 'resourceType']);
  });

  it('_total: none omits the total; estimate and accurate give it', async () => {
    assert.equal((await get(t.app, '/fhir/Patient?_total=none')).body.total, undefined);
    assert.equal((await get(t.app, '/fhir/Patient?_total=estimate')).body.total, 1);
    assert.equal((await get(t.app, '/fhir/Patient?_total=accurate')).body.total, 1);
    assert.equal((await get(t.app, '/fhir/Patient')).body.total, 1);
  });

  it('malformed result parameter values are a 400 whatever the handling', async () => {
    for (const q of ['_summary=bogus', '_total=all', '_count=-1', '_count=abc', '_elements=9x', '_elements=a.b.c', '_summary=true&_summary=false', '_offset=3']) {
      for (const prefer of [{}, { Prefer: 'handling=strict' }, { Prefer: 'handling=lenient' }] as Array<Record<string, string>>) {
        const res = await get(t.app, `/fhir/Patient?${q}`, prefer);
        assert.equal(res.status, 400, `${q} ${JSON.stringify(prefer)}`);
        assert.equal(res.body.resourceType, 'OperationOutcome');
      }
    }
  });

  it('parameters the server does not honour: 400 under strict, a warning entry otherwise', async () => {
    const cases = ['nope=1', '_elements=nope', '_contained=true', '_sort=nope', '_count:exact=3', '_type=Patient', '_fields=name', '_containedType=contained'];
    for (const q of cases) {
      const strict = await get(t.app, `/fhir/Patient?${q}`, { Prefer: 'handling=strict' });
      assert.equal(strict.status, 400, `strict ${q}`);
      assert.equal(strict.body.resourceType, 'OperationOutcome');
      assert.ok(strict.body.issue[0].details.text, 'says what was wrong');
      for (const prefer of [{}, { Prefer: 'handling=lenient' }] as Array<Record<string, string>>) {
        const lenient = await get(t.app, `/fhir/Patient?${q}`, prefer);
        assert.equal(lenient.status, 200, `lenient ${q}`);
        const out = outcomes(lenient.body as SearchBundle);
        assert.equal(out.length, 1, `one outcome entry for ${q}`);
        assert.equal(out[0]?.issue[0].severity, 'warning');
        assert.equal((lenient.body as SearchBundle).entry?.filter((e) => e.search.mode === 'match').length, 1, 'the search still ran');
      }
    }
  });

  it('a warning entry does not appear when everything was understood', async () => {
    assert.deepEqual(outcomes((await get(t.app, '/fhir/Patient?gender=female&_sort=-_lastUpdated&_elements=name')).body as SearchBundle), []);
  });
});
