import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { FHIR_JSON } from './app-fixture.js';
import {
  create,
  get,
  linkOf,
  local,
  matchIds,
  openApp,
  put,
  removeDir,
  tempDataDir,
  walk,
  type OpenApp,
  type SearchBundle,
} from './search-fixture.js';

/**
 * Keyset paging over HTTP (issue 3 item 4): every result exactly once and in order, for
 * several sort orders including multi-valued fields; previous links; stability under writes.
 * Expected orders are computed here from the data, with MongoDB's rules written out by hand
 * (missing lowest; an array sorts by its smallest value ascending, its largest descending;
 * ties by id ascending), not taken from the server.
 */

const GIVEN = ['ann', 'bob', 'cy', 'dee', 'eve', 'fay', 'gus', 'hal', 'ivy', 'jo'];
const FAMILY = ['stone', 'brook', 'stone', 'moss', 'brook', 'hill'];

interface P {
  id: string;
  given: string[];
  family: string;
  birthDate: string;
}
interface I {
  id: string;
  /** yyyy-mm-dd reaction dates, possibly none. */
  dates: string[];
}

/** Deterministic data: a small LCG, so the fixture is the same on every run. */
function fixture(): { patients: P[]; immunizations: I[] } {
  let s = 7;
  const rnd = (n: number): number => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % n;
  };
  const patients: P[] = [];
  for (let i = 0; i < 23; i++) {
    const given = Array.from({ length: rnd(3) }, () => GIVEN[rnd(GIVEN.length)] as string);
    patients.push({
      id: `p${String(i).padStart(2, '0')}`,
      given,
      family: FAMILY[rnd(FAMILY.length)] as string,
      birthDate: `19${50 + rnd(4)}-0${1 + rnd(3)}-1${rnd(3)}`,
    });
  }
  const immunizations: I[] = [];
  for (let i = 0; i < 17; i++) {
    const dates = Array.from({ length: rnd(4) }, () => `20${10 + rnd(6)}-0${1 + rnd(9)}-1${rnd(9)}`);
    immunizations.push({ id: `i${String(i).padStart(2, '0')}`, dates });
  }
  return { patients, immunizations };
}

type Key = string | undefined;
/** MongoDB order of one key: missing lowest, then by value. */
function cmpKey(a: Key, b: Key): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  return a < b ? -1 : 1;
}
function minOf(xs: string[]): Key {
  return xs.length === 0 ? undefined : [...xs].sort()[0];
}
function maxOf(xs: string[]): Key {
  return xs.length === 0 ? undefined : [...xs].sort().at(-1);
}
/** Sorts by keys with directions, then id ascending (the server's tie-break). */
function order<T extends { id: string }>(rows: T[], keys: Array<[(r: T) => Key, 1 | -1]>, type: string): string[] {
  return [...rows]
    .sort((a, b) => {
      for (const [k, dir] of keys) {
        const c = cmpKey(k(a), k(b));
        if (c !== 0) return c * dir;
      }
      return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
    })
    .map((r) => `${type}/${r.id}`);
}

describe('search paging with keyset cursors', () => {
  let dir: string;
  let t: OpenApp;
  const { patients, immunizations } = fixture();

  before(async () => {
    dir = tempDataDir();
    t = await openApp(dir);
    for (const p of patients) {
      await put(t.app, {
        resourceType: 'Patient',
        id: p.id,
        name: [{ family: p.family, ...(p.given.length > 0 ? { given: p.given } : {}) }],
        birthDate: p.birthDate,
      });
    }
    for (const i of immunizations) {
      await put(t.app, {
        resourceType: 'Immunization',
        id: i.id,
        status: 'completed',
        vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '140' }] },
        patient: { reference: 'Patient/p00' },
        occurrenceDateTime: '2020-01-01',
        ...(i.dates.length > 0 ? { reaction: i.dates.map((date) => ({ date })) } : {}),
      });
    }
  });
  after(async () => {
    await t.close();
    removeDir(dir);
  });

  const cases: Array<{ name: string; query: string; expected: () => string[] }> = [
    { name: 'default order (id)', query: 'Patient?', expected: () => order(patients, [], 'Patient') },
    { name: 'multi-valued string ascending (smallest given name)', query: 'Patient?_sort=given', expected: () => order(patients, [[(p) => minOf(p.given), 1]], 'Patient') },
    { name: 'multi-valued string descending (largest given name)', query: 'Patient?_sort=-given', expected: () => order(patients, [[(p) => maxOf(p.given), -1]], 'Patient') },
    {
      name: 'several keys, mixed directions',
      query: 'Patient?_sort=family,-birthdate',
      expected: () => order(patients, [[(p) => p.family, 1], [(p) => p.birthDate, -1]], 'Patient'),
    },
    { name: 'multi-valued date ascending (earliest reaction)', query: 'Immunization?_sort=reaction-date', expected: () => order(immunizations, [[(i) => minOf(i.dates), 1]], 'Immunization') },
    { name: 'multi-valued date descending (latest reaction)', query: 'Immunization?_sort=-reaction-date', expected: () => order(immunizations, [[(i) => maxOf(i.dates), -1]], 'Immunization') },
    { name: 'descending id', query: 'Immunization?_sort=-_id', expected: () => order(immunizations, [], 'Immunization').reverse() },
  ];

  for (const c of cases) {
    it(`walks every result once, in order, both ways: ${c.name}`, async () => {
      const expected = c.expected();
      const all = (await get(t.app, `/fhir/${c.query}&_count=1000`)).body as SearchBundle;
      assert.deepEqual(matchIds(all), expected, 'one page holding everything');

      const pages = await walk(t.app, `/fhir/${c.query}&_count=4`);
      assert.deepEqual(pages.flatMap(matchIds), expected, 'forward through next links');
      assert.equal(pages.length, Math.ceil(expected.length / 4));
      assert.equal(linkOf(pages[0] as SearchBundle, 'previous'), undefined, 'the first page has no previous link');
      for (const p of pages.slice(1)) assert.ok(linkOf(p, 'previous'), 'later pages have a previous link');
      for (const p of pages) assert.equal(p.total, expected.length);

      const lastSelf = linkOf(pages.at(-1) as SearchBundle, 'self') as string;
      const back = await walk(t.app, local(lastSelf), 'previous');
      assert.deepEqual(back.reverse().flatMap(matchIds), expected, 'backward through previous links');
    });
  }

  it('the previous link of page 2 is page 1, with the links of a first page', async () => {
    const p1 = (await get(t.app, '/fhir/Patient?_sort=family&_count=5')).body as SearchBundle;
    const p2 = (await get(t.app, local(linkOf(p1, 'next') as string))).body as SearchBundle;
    const back = (await get(t.app, local(linkOf(p2, 'previous') as string))).body as SearchBundle;
    assert.deepEqual(matchIds(back), matchIds(p1));
    assert.equal(linkOf(back, 'previous'), undefined);
    assert.equal(linkOf(back, 'self'), linkOf(p1, 'self'));
    assert.equal(linkOf(back, 'first'), linkOf(p1, 'first'));
  });

  it('links are opaque: sort values from the record do not appear in them', async () => {
    const p1 = (await get(t.app, '/fhir/Patient?_sort=family&_count=3')).body as SearchBundle;
    const next = linkOf(p1, 'next') as string;
    const cursor = new URL(next).searchParams.get('_cursor') as string;
    const decoded = Buffer.from(cursor.split('.')[0] as string, 'base64url').toString('latin1');
    for (const f of FAMILY) assert.ok(!decoded.includes(f), `cursor reveals '${f}'`);
    assert.ok(!decoded.includes('p0'), 'cursor reveals an id');
  });

  it('_count=0 returns the total only; _count above the maximum is capped', async () => {
    const zero = (await get(t.app, '/fhir/Patient?_count=0')).body as SearchBundle;
    assert.equal(zero.total, patients.length);
    assert.equal(zero.entry, undefined);
    assert.equal(linkOf(zero, 'next'), undefined);
    const capped = await openApp(tempDataDir(), { MAX_PAGE_SIZE: '5', DEFAULT_PAGE_SIZE: '2' });
    try {
      for (const p of patients.slice(0, 7)) await put(capped.app, { resourceType: 'Patient', id: p.id, birthDate: p.birthDate });
      assert.equal(((await get(capped.app, '/fhir/Patient')).body as SearchBundle).entry?.length, 2);
      const big = (await get(capped.app, '/fhir/Patient?_count=500')).body as SearchBundle;
      assert.equal(big.entry?.length, 5);
      assert.match(linkOf(big, 'next') as string, /_count=5/);
    } finally {
      await capped.close();
      removeDir(capped.dataDir);
    }
  });

  it('_offset is refused with a pointer to the links', async () => {
    const res = await get(t.app, '/fhir/Patient?_offset=10');
    assert.equal(res.status, 400);
    assert.equal(res.body.resourceType, 'OperationOutcome');
    assert.match(res.body.issue[0].details.text, /next\/previous links/);
  });
});

describe('paging stays stable while others write', () => {
  let dir: string;
  let t: OpenApp;
  before(async () => {
    dir = tempDataDir();
    t = await openApp(dir);
  });
  after(async () => {
    await t.close();
    removeDir(dir);
  });

  it('creates before, inside and after the cursor neither duplicate nor skip an original row', async () => {
    const originals: string[] = [];
    for (let i = 0; i < 20; i++) {
      const family = `m${String(i).padStart(2, '0')}`;
      originals.push((await create(t.app, { resourceType: 'Patient', name: [{ family }] })).id as string);
    }
    const seen: string[] = [];
    let url: string | undefined = '/fhir/Patient?_sort=family&_count=3';
    let round = 0;
    while (url) {
      const page = (await get(t.app, url)).body as SearchBundle;
      assert.ok(page.entry, JSON.stringify(page));
      seen.push(...(page.entry ?? []).map((e) => e.resource.id as string));
      // Between pages: rows sorting before the cursor, between originals, and at the end.
      await create(t.app, { resourceType: 'Patient', name: [{ family: `a${round}` }] });
      await create(t.app, { resourceType: 'Patient', name: [{ family: `m10x${round}` }] });
      await create(t.app, { resourceType: 'Patient', name: [{ family: `z${round}` }] });
      round++;
      const next = linkOf(page, 'next');
      url = next ? local(next) : undefined;
    }
    const originalsSeen = seen.filter((id) => originals.includes(id));
    assert.deepEqual(originalsSeen, originals, 'each original exactly once, in family order');
    assert.equal(new Set(seen).size, seen.length, 'no row twice');
    // Nothing that sorts before the position of the page it was created after can appear.
    const page1 = (await get(t.app, '/fhir/Patient?_sort=family&_count=3&family=a')).body as SearchBundle;
    const early = new Set((page1.entry ?? []).map((e) => e.resource.id as string));
    assert.ok(![...early].some((id) => seen.includes(id)), 'a row created before the cursor was served');
  });

  it('a deleted row vanishes from later pages without shifting them', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 9; i++) ids.push((await create(t.app, { resourceType: 'Group', type: 'person', actual: true, name: `g${i}` })).id as string);
    const sorted = [...ids].sort();
    const p1 = (await get(t.app, '/fhir/Group?_count=3')).body as SearchBundle;
    assert.deepEqual(matchIds(p1), sorted.slice(0, 3).map((id) => `Group/${id}`));
    // Delete one row already served and one not yet served.
    await request(t.app).delete(`/fhir/Group/${sorted[1]}`);
    await request(t.app).delete(`/fhir/Group/${sorted[4]}`);
    const rest = await walk(t.app, local(linkOf(p1, 'next') as string));
    assert.deepEqual(rest.flatMap(matchIds), [sorted[3], ...sorted.slice(5)].map((id) => `Group/${id}`));
  });
});

describe('cursors survive restarts and refuse tampering', () => {
  it('a next link still works after the app restarts on the same DATA_DIR', async () => {
    const dir = tempDataDir();
    try {
      let t = await openApp(dir);
      for (let i = 0; i < 7; i++) await put(t.app, { resourceType: 'Patient', id: `r${i}`, name: [{ family: `f${6 - i}` }] });
      const p1 = (await get(t.app, '/fhir/Patient?_sort=family&_count=3')).body as SearchBundle;
      const next = local(linkOf(p1, 'next') as string);
      const expected = matchIds((await get(t.app, next)).body as SearchBundle);
      await t.close();
      t = await openApp(dir);
      try {
        const res = await get(t.app, next);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.deepEqual(matchIds(res.body as SearchBundle), expected);
        assert.deepEqual(expected, ['Patient/r3', 'Patient/r2', 'Patient/r1']);
      } finally {
        await t.close();
      }
    } finally {
      removeDir(dir);
    }
  });

  it('with CURSOR_SECRET, another process on another DATA_DIR accepts the cursor; another secret does not', async () => {
    const secret = 'a-shared-secret-of-at-least-32-characters';
    const [d1, d2, d3] = [tempDataDir(), tempDataDir(), tempDataDir()];
    const a = await openApp(d1, { CURSOR_SECRET: secret });
    const b = await openApp(d2, { CURSOR_SECRET: secret });
    const c = await openApp(d3, { CURSOR_SECRET: `${secret}-but-another` });
    try {
      for (const app of [a, b, c]) for (let i = 0; i < 4; i++) await put(app.app, { resourceType: 'Patient', id: `s${i}` });
      const next = local(linkOf((await get(a.app, '/fhir/Patient?_count=2')).body as SearchBundle, 'next') as string);
      const onB = await get(b.app, next);
      assert.equal(onB.status, 200);
      assert.deepEqual(matchIds(onB.body as SearchBundle), ['Patient/s2', 'Patient/s3']);
      assert.equal((await get(c.app, next)).status, 400);
    } finally {
      for (const app of [a, b, c]) await app.close();
      for (const d of [d1, d2, d3]) removeDir(d);
    }
  });

  describe('tampering', () => {
    let dir: string;
    let t: OpenApp;
    let next: string;
    before(async () => {
      dir = tempDataDir();
      t = await openApp(dir);
      for (let i = 0; i < 6; i++) await put(t.app, { resourceType: 'Patient', id: `t${i}`, gender: i % 2 ? 'male' : 'female', name: [{ family: `x${i}` }] });
      next = linkOf((await get(t.app, '/fhir/Patient?gender=female&_count=1')).body as SearchBundle, 'next') as string;
    });
    after(async () => {
      await t.close();
      removeDir(dir);
    });
    const cursorOf = (url: string): string => new URL(url).searchParams.get('_cursor') as string;
    const withCursor = (path: string, cursor: string): string => `${path}${path.includes('?') ? '&' : '?'}_cursor=${encodeURIComponent(cursor)}`;
    const expect400 = async (path: string): Promise<void> => {
      const res = await get(t.app, path);
      assert.equal(res.status, 400, `${path} → ${res.status}`);
      assert.equal(res.body.resourceType, 'OperationOutcome');
      assert.deepEqual(res.body.issue[0].expression, ['_cursor']);
    };

    it('the untouched cursor works', async () => {
      assert.equal((await get(t.app, local(next))).status, 200);
    });

    it('changing any single character of the cursor is a 400', async () => {
      const cursor = cursorOf(next);
      for (let i = 0; i < cursor.length; i++) {
        const ch = cursor[i] as string;
        const swapped = ch === 'A' ? 'B' : ch === '.' ? '-' : 'A';
        await expect400(withCursor('/fhir/Patient?gender=female&_count=1', cursor.slice(0, i) + swapped + cursor.slice(i + 1)));
      }
    });

    it('moving the cursor onto another query or type is a 400', async () => {
      const cursor = cursorOf(next);
      await expect400(withCursor('/fhir/Patient?gender=male&_count=1', cursor));
      await expect400(withCursor('/fhir/Patient?_count=1', cursor));
      await expect400(withCursor('/fhir/Patient?gender=female&_sort=family&_count=1', cursor));
      await expect400(withCursor('/fhir/Practitioner?gender=female&_count=1', cursor));
      await expect400(withCursor('/fhir?_type=Patient&gender=female&_count=1', cursor));
    });

    it('a page size change keeps the cursor valid (it does not change which rows follow)', async () => {
      const res = await get(t.app, withCursor('/fhir/Patient?gender=female&_count=5', cursorOf(next)));
      assert.equal(res.status, 200);
      assert.deepEqual(matchIds(res.body as SearchBundle), ['Patient/t2', 'Patient/t4']);
    });

    it('forged cursors are a 400, whatever they look like', async () => {
      const payload = Buffer.from(JSON.stringify({ v: 1, d: 'n', t: 'Patient', k: ['t0'] })).toString('base64url');
      for (const forged of [`${payload}.AAAAAAAAAAAAAAAAAAAAAA`, payload, 'garbage', '', '.', '..', 'a.b.c', 'x'.repeat(5000), `${cursorOf(next)}x`]) {
        await expect400(withCursor('/fhir/Patient?gender=female&_count=1', forged));
      }
    });

    it('a cursor given in a POST form body is checked the same way', async () => {
      const res = await request(t.app).post('/fhir/Patient/_search').type('form').send({ gender: 'male', _count: '1', _cursor: cursorOf(next) });
      assert.equal(res.status, 400);
      const ok = await request(t.app).post('/fhir/Patient/_search').set('Content-Type', 'application/x-www-form-urlencoded').send(`gender=female&_count=1&_cursor=${encodeURIComponent(cursorOf(next))}`);
      assert.equal(ok.status, 200);
      assert.deepEqual(matchIds(ok.body as SearchBundle), ['Patient/t2']);
      assert.equal(ok.headers['content-type'], `${FHIR_JSON}; charset=utf-8`);
    });
  });
});
