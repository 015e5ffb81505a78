import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BASE } from './app-fixture.js';
import { get, linkOf, local, openApp, put, removeDir, tempDataDir, type OpenApp, type SearchBundle } from './search-fixture.js';

/**
 * `_include` / `_revinclude` (R4 §3.1.1.5.5): targets of the page's references, resources
 * referring to the page, `:iterate` to a fixed point, `*`, no duplicates, the current page only,
 * and a bound on how much may be added.
 */

function byMode(b: SearchBundle): { match: string[]; include: string[]; outcome: number } {
  const ids = (mode: string): string[] =>
    (b.entry ?? [])
      .filter((e) => e.search.mode === mode)
      .map((e) => `${e.resource.resourceType}/${e.resource.id}`)
      .sort();
  return { match: ids('match'), include: ids('include'), outcome: (b.entry ?? []).filter((e) => e.search.mode === 'outcome').length };
}

const obs = (id: string, subject: string, extra: Record<string, unknown> = {}): Record<string, unknown> & { id: string } => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
  subject: { reference: subject },
  ...extra,
});

describe('_include and _revinclude', () => {
  let dir: string;
  let t: OpenApp;
  before(async () => {
    dir = tempDataDir();
    t = await openApp(dir);
    const resources: Array<Record<string, unknown> & { id: string }> = [
      { resourceType: 'Organization', id: 'org0', name: 'Parent' },
      { resourceType: 'Organization', id: 'org1', name: 'Child', partOf: { reference: 'Organization/org0' } },
      { resourceType: 'Practitioner', id: 'pr1' },
      { resourceType: 'Patient', id: 'pa1', managingOrganization: { reference: 'Organization/org1' }, generalPractitioner: [{ reference: 'Practitioner/pr1' }] },
      { resourceType: 'Patient', id: 'pa2', managingOrganization: { reference: 'Organization/org1' } },
      { resourceType: 'Patient', id: 'pa3' },
      obs('o1', 'Patient/pa1', { performer: [{ reference: 'Practitioner/pr1' }] }),
      obs('o2', 'Patient/pa2'),
      obs('o3', 'Patient/pa1'),
      // An absolute reference to this server counts as local.
      obs('o4', `${BASE}/Patient/pa3`),
      // A versioned reference includes the current version.
      obs('o5', 'Patient/pa2/_history/1'),
      { resourceType: 'Provenance', id: 'prov1', target: [{ reference: 'Observation/o1' }], recorded: '2024-01-01T00:00:00Z', agent: [{ who: { reference: 'Practitioner/pr1' } }] },
      { resourceType: 'Provenance', id: 'prov2', target: [{ reference: 'Patient/pa1' }], recorded: '2024-01-01T00:00:00Z', agent: [{ who: { reference: 'Practitioner/pr1' } }] },
    ];
    for (const r of resources) await put(t.app, r);
  });
  after(async () => {
    await t.close();
    removeDir(dir);
  });

  const search = async (q: string, headers: Record<string, string> = {}): Promise<SearchBundle> => {
    const res = await get(t.app, `/fhir/${q}`, headers);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as SearchBundle;
  };

  const rows: Array<{ q: string; match: string[]; include: string[] }> = [
    { q: 'Observation?_id=o1,o2,o3&_include=Observation:subject', match: ['Observation/o1', 'Observation/o2', 'Observation/o3'], include: ['Patient/pa1', 'Patient/pa2'] },
    { q: 'Observation?_id=o1&_include=Observation:subject:Patient', match: ['Observation/o1'], include: ['Patient/pa1'] },
    { q: 'Observation?_id=o1&_include=Observation:subject:Group', match: ['Observation/o1'], include: [] },
    { q: 'Observation?_id=o4,o5&_include=Observation:subject', match: ['Observation/o4', 'Observation/o5'], include: ['Patient/pa2', 'Patient/pa3'] },
    // Not iterated: Patient:organization applies to matches only, and the matches are Observations.
    { q: 'Observation?_id=o1&_include=Observation:subject&_include=Patient:organization', match: ['Observation/o1'], include: ['Patient/pa1'] },
    {
      q: 'Observation?_id=o1&_include=Observation:subject&_include:iterate=Patient:organization',
      match: ['Observation/o1'],
      include: ['Organization/org1', 'Patient/pa1'],
    },
    {
      q: 'Observation?_id=o1&_include=Observation:subject&_include:iterate=Patient:organization&_include:iterate=Organization:partof',
      match: ['Observation/o1'],
      include: ['Organization/org0', 'Organization/org1', 'Patient/pa1'],
    },
    { q: 'Observation?_id=o1&_include=*', match: ['Observation/o1'], include: ['Patient/pa1', 'Practitioner/pr1'] },
    { q: 'Patient?_id=pa1&_include=Patient:*', match: ['Patient/pa1'], include: ['Organization/org1', 'Practitioner/pr1'] },
    { q: 'Patient?_id=pa1&_include:iterate=*', match: ['Patient/pa1'], include: ['Organization/org0', 'Organization/org1', 'Practitioner/pr1'] },
    { q: 'Patient?_id=pa1&_revinclude=Observation:subject', match: ['Patient/pa1'], include: ['Observation/o1', 'Observation/o3'] },
    { q: 'Patient?_id=pa3&_revinclude=Observation:subject', match: ['Patient/pa3'], include: ['Observation/o4'] },
    { q: 'Patient?_id=pa1&_revinclude=Provenance:target', match: ['Patient/pa1'], include: ['Provenance/prov2'] },
    { q: 'Patient?_id=pa1&_revinclude=Provenance:*', match: ['Patient/pa1'], include: ['Provenance/prov2'] },
    { q: 'Patient?_id=pa1&_revinclude=Provenance:target:Observation', match: ['Patient/pa1'], include: [] },
    {
      q: 'Patient?_id=pa1&_revinclude=Observation:subject&_revinclude:iterate=Provenance:target',
      match: ['Patient/pa1'],
      include: ['Observation/o1', 'Observation/o3', 'Provenance/prov1', 'Provenance/prov2'],
    },
    // A match reached again through an include stays a match, listed once.
    { q: 'Patient?_id=pa1,pa2&_include:iterate=*&_revinclude=Observation:subject', match: ['Patient/pa1', 'Patient/pa2'], include: ['Observation/o1', 'Observation/o2', 'Observation/o3', 'Observation/o5', 'Organization/org0', 'Organization/org1', 'Practitioner/pr1'] },
    // STU3 spelling of :iterate.
    { q: 'Observation?_id=o1&_include=Observation:subject&_include:recurse=Patient:organization', match: ['Observation/o1'], include: ['Organization/org1', 'Patient/pa1'] },
  ];
  for (const r of rows) {
    it(r.q, async () => {
      const got = byMode(await search(r.q));
      assert.deepEqual(got, { match: r.match, include: r.include, outcome: 0 });
    });
  }

  it('every entry appears once', async () => {
    const b = await search('Patient?_include:iterate=*&_revinclude:iterate=Observation:subject&_revinclude:iterate=Provenance:*');
    const keys = (b.entry ?? []).map((e) => `${e.resource.resourceType}/${e.resource.id}`);
    assert.equal(new Set(keys).size, keys.length);
    assert.ok(keys.includes('Provenance/prov1'), 'reached via pa1 → o1 → prov1');
  });

  it('includes only for the current page', async () => {
    const p1 = await search('Observation?_id=o1,o2&_sort=_id&_count=1&_include=Observation:subject');
    assert.deepEqual(byMode(p1), { match: ['Observation/o1'], include: ['Patient/pa1'], outcome: 0 });
    const p2 = await search(local(linkOf(p1, 'next') as string).replace(/^\/fhir\//, ''));
    assert.deepEqual(byMode(p2), { match: ['Observation/o2'], include: ['Patient/pa2'], outcome: 0 });
    assert.equal(p1.total, 2, 'includes are not counted in total');
  });

  it('included resources are shaped like matches by _elements', async () => {
    const b = await search('Observation?_id=o1&_include=Observation:subject&_elements=status');
    const pa1 = (b.entry ?? []).find((e) => e.resource.resourceType === 'Patient')?.resource;
    assert.ok(pa1);
    assert.equal(pa1.managingOrganization, undefined);
    assert.ok(pa1.meta.tag.some((tag: { code: string }) => tag.code === 'SUBSETTED'));
  });

  it('bad include values: malformed is always 400; unknown is 400 under strict, a warning otherwise', async () => {
    for (const q of ['Observation?_include=Observation', 'Observation?_include=a:b:c:d', 'Observation?_include=Observation:', 'Observation?_revinclude=:subject']) {
      const res = await get(t.app, `/fhir/${q}`);
      assert.equal(res.status, 400, q);
      assert.equal(res.body.resourceType, 'OperationOutcome');
    }
    for (const q of [
      'Observation?_include=Observation:nope',
      'Observation?_include=Observation:code',
      'Observation?_include=Nope:subject',
      'Observation?_include=Observation:subject:Nope',
      'Observation?_include=Observation:performer:Medication',
      'Observation?_revinclude=*',
      'Observation?_include:deep=Observation:subject',
    ]) {
      const strict = await get(t.app, `/fhir/${q}`, { Prefer: 'handling=strict' });
      assert.equal(strict.status, 400, `strict ${q}`);
      assert.equal(strict.body.issue[0].code, 'not-supported');
      const lenient = await search(q);
      assert.equal(byMode(lenient).outcome, 1, `lenient ${q}`);
      assert.deepEqual(byMode(lenient).include, []);
    }
  });

  it('MAX_INCLUDES bounds what one page may add, with a warning', async () => {
    const small = await openApp(tempDataDir(), { MAX_INCLUDES: '1' });
    try {
      for (const id of ['a', 'b']) await put(small.app, { resourceType: 'Patient', id });
      for (const [id, p] of [['x', 'a'], ['y', 'b']]) await put(small.app, obs(id as string, `Patient/${p}`));
      const res = await get(small.app, '/fhir/Observation?_include=Observation:subject');
      const got = byMode(res.body as SearchBundle);
      assert.equal(got.include.length, 1);
      assert.equal(got.outcome, 1);
      const warning = (res.body as SearchBundle).entry?.find((e) => e.search.mode === 'outcome')?.resource;
      assert.match(warning?.issue[0].details.text, /at most 1/);
    } finally {
      await small.close();
      removeDir(small.dataDir);
    }
  });
});
