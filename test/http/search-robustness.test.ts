import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { Prng } from '../../fixtures/population/prng.js';
import { compileSearch } from '../../server/src/fhir/search/compile-search.js';
import { parseSearchQuery } from '../../server/src/fhir/search/parse-search-query.js';
import { FHIR_JSON, startTestApp, type TestApp } from './app-fixture.js';
import { local, matchIds, walk, type SearchBundle } from './search-fixture.js';

/**
 * Seeded random search requests (GET type and system searches, POST _search form bodies) with
 * random parameter names, modifiers, prefixes, chains, _has, result parameters, cursors and
 * hostile values: every answer is below 500, a 200 is a searchset Bundle and an error is an
 * OperationOutcome. Requests that succeed are also walked page by page and compared with one
 * big page. Deterministic (fixed seed) so a failure reproduces; SEARCH_FUZZ_N runs more.
 */
const RESULT_KEYS = new Set(['_count', '_include', '_revinclude', '_summary', '_elements', '_total', '_cursor', '_type', '_offset', '_format', '_pretty', '_contained', '_score']);
const N = Number(process.env.SEARCH_FUZZ_N ?? 250);
const SEED = Number(process.env.SEARCH_FUZZ_SEED ?? 20261205);

describe('search robustness: random search requests never cause a 5xx', () => {
  let t: TestApp;
  const cursors: string[] = [];

  before(async () => {
    t = await startTestApp({ MAX_PAGE_SIZE: '50' });
    const put = async (r: Record<string, unknown>): Promise<void> => {
      const res = await request(t.app).put(`/fhir/${r.resourceType as string}/${r.id as string}`).set('Content-Type', FHIR_JSON).send(r);
      assert.ok(res.status < 300, `${res.status} ${res.text}`);
    };
    await put({ resourceType: 'Organization', id: 'org1', name: 'Acme Hospital', partOf: { reference: 'Organization/org2' } });
    await put({ resourceType: 'Organization', id: 'org2', name: 'Acme Group', partOf: { reference: 'Organization/org1' } });
    const families = ['Chalmers', 'Ünïcode', 'O\'Brien', 'Smith', 'smith', 'Ωmega', 'a.b*c', 'Müller', 'Zhang 张'];
    for (let i = 0; i < 18; i++) {
      await put({
        resourceType: 'Patient',
        id: `p${i}`,
        meta: { tag: [{ system: 'http://t', code: i % 2 ? 'odd' : 'even' }], profile: ['http://p/x'] },
        identifier: [{ system: 'urn:mrn', value: `MRN-${i}`, type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] } }],
        name: [{ family: families[i % families.length], given: [`G${i}`, 'Peter'] }],
        gender: ['male', 'female', 'other'][i % 3],
        ...(i % 4 ? { birthDate: `19${50 + i}-0${1 + (i % 9)}-1${i % 10}` } : {}),
        managingOrganization: { reference: i % 2 ? 'Organization/org1' : 'Organization/org2' },
        ...(i % 5 === 0 ? { text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">Patient &amp; number ${i}</div>` } } : {}),
      });
    }
    for (let i = 0; i < 40; i++) {
      await put({
        resourceType: 'Observation',
        id: `o${i}`,
        status: i % 7 ? 'final' : 'preliminary',
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: i % 3 ? 'vital-signs' : 'laboratory' }] }],
        code: { coding: [{ system: 'http://loinc.org', code: ['8867-4', '8480-6', '2339-0'][i % 3], display: 'Heart rate' }], text: 'HR' },
        subject: { reference: `Patient/p${i % 18}` },
        ...(i % 6 === 0
          ? { effectivePeriod: { start: `2023-0${1 + (i % 9)}-01`, ...(i % 12 ? { end: '2024-01-01T10:00:00Z' } : {}) } }
          : { effectiveDateTime: `202${i % 5}-0${1 + (i % 9)}-0${1 + (i % 8)}T10:00:00Z` }),
        ...(i % 4 === 0
          ? { component: [{ code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 100 + i, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } }] }
          : { valueQuantity: { value: 50 + i * 1.5, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' } }),
      });
    }
    await put({
      resourceType: 'ValueSet',
      id: 'vs1',
      url: 'http://example.org/vs',
      status: 'active',
      compose: { include: [{ system: 'http://loinc.org', concept: [{ code: '8867-4' }] }] },
    });
    await put({ resourceType: 'ValueSet', id: 'vs2', url: 'http://example.org/vs-loop', status: 'active', compose: { include: [{ valueSet: ['http://example.org/vs-loop'] }] } });
    await put({ resourceType: 'List', id: 'l1', status: 'current', mode: 'working', entry: [{ item: { reference: 'Patient/p1' } }, { item: { reference: 'Patient/p3' } }] });
    const res = await request(t.app).get('/fhir/Observation?_count=3&_sort=date');
    const next = (res.body as SearchBundle).link.find((l) => l.relation === 'next');
    if (next) cursors.push(new URL(next.url).searchParams.get('_cursor') as string);
    const res2 = await request(t.app).get('/fhir/Patient?_count=2');
    const next2 = (res2.body as SearchBundle).link.find((l) => l.relation === 'next');
    if (next2) cursors.push(new URL(next2.url).searchParams.get('_cursor') as string);
  });
  after(async () => {
    await t?.close();
  });

  const rng = new Prng(SEED);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(0, xs.length - 1)] as T;

  const TYPES = ['Patient', 'Observation', 'Organization', 'List', 'ValueSet', 'Encounter'];
  const PARAMS: Record<string, string[]> = {
    Patient: ['name', 'family', 'given', 'birthdate', 'gender', 'identifier', 'organization', 'general-practitioner', 'active', 'telecom', 'address', 'phonetic', 'deceased', 'link'],
    Observation: ['code', 'subject', 'patient', 'date', 'category', 'value-quantity', 'component-code', 'code-value-quantity', 'combo-code-value-quantity', 'status', 'encounter', 'performer', 'value-string', 'component-value-quantity', 'value-concept', 'based-on'],
    Organization: ['name', 'partof', 'identifier', 'address', 'type'],
    List: ['code', 'item', 'subject', 'status'],
    ValueSet: ['url', 'version', 'name', 'code', 'reference'],
    Encounter: ['subject', 'patient', 'date', 'class', 'status', 'length'],
  };
  const COMMON = ['_id', '_lastUpdated', '_tag', '_profile', '_security', '_source', '_text', '_list', '_content', '_query', '_filter', '_has'];
  const MODIFIERS = ['', '', '', ':exact', ':contains', ':missing', ':not', ':text', ':of-type', ':in', ':not-in', ':below', ':above', ':Patient', ':Organization', ':iterate', ':bogus', ':', '::', ':identifier', ':code-text'];
  const WEIRD = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', '$where', '$regex', '$gt', 'valueOf', 'prototype', '', '.', '..', ':', 'ünïcode', '😀', 'a'.repeat(2000)];
  const PREFIXES = ['', '', 'eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap', 'xx', 'EQ', 'e'];
  const DATES = ['2023', '2023-02', '2023-02-01', '2023-02-30', '2023-13', '2023-02-01T10:00', '2023-02-01T10:00:00Z', '2023-02-01T10:00:00.1234+05:30', '2023-02-01T25:00', '0000', '9999-12-31T23:59:59.999Z', '275760-09-13', '-0001', '1e309'];
  const NUMS = ['100', '100.00', '-5', '1e3', '1e309', '1e-400', '.5', '5.', 'NaN', 'Infinity', '0x10', '9'.repeat(400), '1e-30'];

  const value = (): string => {
    const r = rng.int(0, 14);
    switch (r) {
      case 0:
        return pick(PREFIXES) + pick(DATES);
      case 1:
        return pick(PREFIXES) + pick(NUMS) + pick(['', '', '|http://unitsofmeasure.org|/min', '||mm[Hg]', '|', '||', '|a|b|c']);
      case 2:
        return pick(['http://loinc.org|8867-4', '|8867-4', 'http://loinc.org|', '|', '||', 'a|b|c', '8867-4', 'http://terminology.hl7.org/CodeSystem/v2-0203|MR|MRN-1', 'urn:mrn|MRN-1']);
      case 3:
        return pick(['Patient/p1', 'p1', 'http://localhost:8080/fhir/Patient/p2', 'Organization/org1', 'Patient/p1/_history/1', 'urn:uuid:1234', 'http://x/Nope/1', 'Patient/', '/', 'Patient/../p1']);
      case 4:
        return pick(['ValueSet/vs1', 'http://example.org/vs', 'http://example.org/vs|1.0', 'ValueSet/vs2', 'http://example.org/vs-loop', 'ValueSet/nope', 'l1', 'List/l1', '$current-allergies']);
      case 5:
        return pick(['http://loinc.org|8480-6$gt100', 'http://loinc.org|8480-6$100||mm[Hg]', '8480-6$lt', 'a$b$c', '$', '\\$', 'x$ge1e309']);
      case 6:
        return pick(['.*', '(a+)+$', '^', '[', '\\', '\\\\', '\\,', 'a\\,b', 'a,b,,c', ',', ',,,', '%00', '\u0000', '\ud800', '{"$ne":null}', '[object Object]']);
      case 7:
        return pick(['true', 'false', 'TRUE', '1', '']);
      case 8:
        return pick(['smi', 'Smith', 'ünï', 'UNI', 'muller', 'MÜLLER', 'zhang 张', 'a.b*c', "o'b", 'peter', 'Ωm']);
      case 9:
        return 'x'.repeat(rng.int(100, 5000));
      case 10:
        return Array.from({ length: rng.int(2, 60) }, () => pick(['p1', 'p2', 'Patient/p3', '8867-4', 'smi'])).join(',');
      case 11:
        return pick(WEIRD);
      case 12:
        return pick(['odd', 'even', 'http://t|odd', 'http://p/x', 'http://p', 'http://p/']);
      default:
        return pick([pick(PREFIXES) + pick(DATES), pick(NUMS), 'p1', 'final']);
    }
  };

  const chain = (type: string, depth: number): string => {
    const r = rng.int(0, 9);
    if (depth > 3 || r < 4) return pick([...(PARAMS[type] ?? []), ...COMMON]) + pick(MODIFIERS);
    if (r < 7) {
      const ref = pick(['subject', 'patient', 'organization', 'partof', 'general-practitioner', 'item', 'name', 'code', 'link', 'bogus']);
      const target = pick(['', ':Patient', ':Organization', ':Observation', ':Nope', ':Patient:x']);
      const nextType = target === ':Organization' || ref === 'organization' || ref === 'partof' ? 'Organization' : 'Patient';
      return `${ref}${target}.${chain(nextType, depth + 1)}`;
    }
    const src = pick(['Observation', 'Patient', 'Organization', 'Nope', 'List', '']);
    const ref = pick(['subject', 'patient', 'organization', 'partof', 'item', 'code', '']);
    return `_has:${src}:${ref}:${chain(src === '' || src === 'Nope' ? 'Observation' : src, depth + 1)}`;
  };

  const resultParam = (): [string, string] => {
    const r = rng.int(0, 8);
    switch (r) {
      case 0:
        return ['_sort', Array.from({ length: rng.int(1, 4) }, () => pick(['', '-']) + pick(['_id', '_lastUpdated', 'date', 'birthdate', 'name', 'code', 'value-quantity', 'subject', 'status', 'family', 'bogus', '__proto__', 'identifier', 'code-value-quantity', ''])).join(',')];
      case 1:
        return ['_count', pick(['0', '1', '2', '3', '7', '1000000', '99999999999999999999999', '-1', '1.5', '', 'abc'])];
      case 2:
        return [pick(['_include', '_include:iterate', '_revinclude', '_revinclude:iterate', '_include:recurse', '_include:bogus']), pick(['*', 'Observation:subject', 'Observation:patient:Patient', 'Patient:organization', 'Organization:partof', 'Observation:*', 'Patient:*', 'Nope:x', 'Observation:code', 'Observation', ':', '*:*', 'Observation:subject:Nope', 'List:item', 'Patient:link'])];
      case 3:
        return ['_summary', pick(['true', 'false', 'text', 'data', 'count', 'bogus'])];
      case 4:
        return ['_elements', pick(['name', 'id,meta', 'name.family', '', '*', 'bogus', 'subject,code', '__proto__', 'constructor'])];
      case 5:
        return ['_total', pick(['none', 'estimate', 'accurate', 'bogus'])];
      case 6:
        return ['_cursor', pick([...cursors, ...cursors.map((c) => c.slice(0, -1) + (c.endsWith('A') ? 'B' : 'A')), 'abc.def', '.', '', 'x'.repeat(5000), 'AAAA.AAAA', cursors[0] ? cursors[0].split('.').reverse().join('.') : 'a.b'])];
      case 7:
        return ['_type', pick(['Patient', 'Patient,Observation', 'Nope', '', ',', 'Patient,Patient'])];
      default:
        return [pick(['_offset', '_format', '_pretty', '_contained', '_score', '_count:x', '_sort:y']), pick(['1', 'json', 'true'])];
    }
  };

  const buildQuery = (type: string): Array<[string, string]> => {
    const params: Array<[string, string]> = [];
    for (let i = rng.int(0, 5); i > 0; i--) {
      if (rng.chance(0.35)) params.push(resultParam());
      else if (rng.chance(0.1)) params.push([pick(WEIRD) + pick(MODIFIERS), value()]);
      else params.push([chain(type, 0), value()]);
    }
    if (rng.chance(0.1) && params.length > 0) params.push(params[0] as [string, string]);
    return params;
  };

  for (let i = 0; i < N; i++) {
    const system = rng.chance(0.15);
    const type = pick(TYPES);
    const params = buildQuery(type);
    const post = rng.chance(0.25);
    const strict = rng.chance(0.3);
    const qs = new URLSearchParams(params).toString();
    const path = system ? (post ? '/fhir/_search' : '/fhir') : post ? `/fhir/${type}/_search` : `/fhir/${type}`;
    it(`#${i} ${post ? 'POST' : 'GET'} ${path}?${qs.slice(0, 120)}${strict ? ' (strict)' : ''}`, async () => {
      let req = post ? request(t.app).post(path).set('Content-Type', 'application/x-www-form-urlencoded').send(qs) : request(t.app).get(qs ? `${path}?${qs}` : path);
      if (strict) req = req.set('Prefer', 'handling=strict');
      const res = await req;
      assert.ok(res.status < 500, `status ${res.status}: ${(res.text ?? '').slice(0, 400)}`);
      if (res.status >= 400) {
        assert.equal(res.body.resourceType, 'OperationOutcome', (res.text ?? '').slice(0, 200));
        return;
      }
      assert.equal(res.status, 200);
      const b = res.body as SearchBundle;
      assert.equal(b.resourceType, 'Bundle');
      assert.equal(b.type, 'searchset');
      // Paging agrees with one page: walk with _count=2 from a fresh search (no cursor given).
      if (post || params.some(([k]) => k === '_cursor' || k.startsWith('_count') || k === '_summary' || k === '_total' || k === '_type')) return;
      if (!system) {
        // The embedded planner agrees with a plain evaluation of the same compiled filter: an
        // `$or` branch no posting can serve makes the engine scan the type and test every document.
        const query = Object.create(null) as Record<string, string[]>;
        for (const [k, v] of params) if (!RESULT_KEYS.has(k.split(':')[0] as string)) (query[k] ??= []).push(v);
        const compiled = await compileSearch(t.deps.defs, parseSearchQuery(type, query), { strict: false, store: t.deps.store });
        const run = async (filter: Record<string, unknown>): Promise<string[]> =>
          (await t.deps.store.search({ resourceType: type, filter, sort: compiled.sort, limit: 1000, idsOnly: true })).resources.map((r) => r.id);
        assert.deepEqual(await run(compiled.filter), await run({ $or: [compiled.filter, { 'idx.__scan__': { $exists: true } }] }), `planner differs from a scan for ${JSON.stringify(compiled.filter).slice(0, 300)}`);
        // The same search at the system level, for this type only, finds the same matches.
        const sys = await request(t.app).get(`/fhir?${new URLSearchParams([...params, ['_type', type]]).toString()}`);
        if (sys.status === 200) assert.deepEqual(matchIds(sys.body as SearchBundle), matchIds(b), `system search differs: ${JSON.stringify((sys.body as SearchBundle).entry?.filter((e) => e.search.mode === "outcome"))} vs ${JSON.stringify(b.entry?.filter((e) => e.search.mode === "outcome"))}`);
      }
      const big = await request(t.app).get(`${path}?${new URLSearchParams([...params, ['_count', '50']]).toString()}`);
      if (big.status !== 200 || big.body.link.some((l: { relation: string }) => l.relation === 'next')) return;
      const pages = await walk(t.app, `${path}?${new URLSearchParams([...params, ['_count', '2']]).toString()}`);
      const walked = pages.flatMap((p) => matchIds(p));
      assert.deepEqual(walked, matchIds(big.body as SearchBundle), 'walking _count=2 pages differs from one page');
      // …and backwards from the last page.
      const last = pages[pages.length - 1] as SearchBundle;
      const self = last.link.find((l) => l.relation === 'self');
      if (pages.length > 1 && self) {
        const back = await walk(t.app, local(self.url), 'previous');
        // The first page reached backwards is served full, so it may repeat rows of the next one.
        assert.deepEqual([...new Set(back.reverse().flatMap((p) => matchIds(p)))], walked, 'walking previous links differs');
      }
    });
  }
});
