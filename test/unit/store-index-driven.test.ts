import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import type { Resource } from '@medplum/fhirtypes';
import { createEmbeddedStore } from '../../server/src/store/embedded/embedded-store.js';
import type { SearchStats } from '../../server/src/store/embedded/embedded-search.js';
import { STRING_END, type PostingKey } from '../../server/src/store/embedded/postings.js';
import { tempDirs } from '../helpers/temp-dirs.js';
import type { IndexValues, ResourceStore, SearchQuery, WriteOp } from '../../server/src/store/resource-store.js';
import { matchesNow } from '../helpers/current-match.js';
import { DEFAULT_BASE_POLICY, parseBasePolicy } from '../../server/src/consent/base-policy.js';
import { consentClause } from '../../server/src/consent/consent-tokens.js';

/** The consent clause the server builds for a researcher of ResearchStudy/rs (frozen, as the gate shares it). */
const researchClause = () => consentClause(parseBasePolicy(DEFAULT_BASE_POLICY), 'research', ['ResearchStudy/rs']);

/**
 * The embedded engine answers selective searches from its postings: the documents it examines
 * grow with the result, not with the number of resources of the type.
 */
const DAY = 86_400_000;
const LOINC = 'http://loinc.org';
const CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const OBSERVATIONS = 3000;
const PATIENTS = 300;

function obsIndex(i: number): IndexValues {
  return {
    subject: [`Patient/p${i % PATIENTS}`],
    patient: [`Patient/p${i % PATIENTS}`],
    code: [{ s: LOINC, c: i % 3 === 0 ? 'common' : `c${i % 30}` }],
    category: [{ s: CATEGORY, c: i % 2 === 0 ? 'laboratory' : 'vital-signs' }],
    date: [{ lo: (i % 50) * DAY, hi: (i % 50) * DAY + 999 }],
    // Every other round of observations is open to research (a consent flip), as a research
    // opt-in marks about half of a population.
    ...(Math.floor(i / PATIENTS) % 2 === 0 ? { _consent: ['~*|research'] } : {}),
  };
}

function patientIndex(i: number): IndexValues {
  return { name: [['smith', 'jones', 'smithers', 'brown'][i % 4]!, `given${i}`], birthdate: [{ lo: (i % 365) * DAY, hi: (i % 365) * DAY + DAY - 1 }] };
}

const obsId = (i: number) => `obs-${String(i).padStart(5, '0')}`;

async function fill(store: ResourceStore): Promise<void> {
  for (let start = 0; start < OBSERVATIONS; start += 500) {
    const ops: WriteOp[] = [];
    for (let i = start; i < start + 500; i++) {
      const resource = { resourceType: 'Observation', id: obsId(i), status: 'final', code: { text: 'x' } } as Resource;
      ops.push({ kind: 'create', resourceType: 'Observation', id: obsId(i), resource, index: obsIndex(i) });
    }
    await store.commit({ ops, now: new Date(Date.UTC(2024, 0, 1)).toISOString() });
  }
  const patients: WriteOp[] = [];
  for (let i = 0; i < PATIENTS; i++) {
    patients.push({ kind: 'create', resourceType: 'Patient', id: `p${i}`, resource: { resourceType: 'Patient', id: `p${i}` }, index: patientIndex(i) });
  }
  await store.commit({ ops: patients, now: new Date(Date.UTC(2024, 0, 1)).toISOString() });
}

describe('embedded engine: index-driven search', () => {
  let dir: string;
  let store: ResourceStore;
  let last: SearchStats | undefined;

  const search = async (q: Partial<SearchQuery> & Pick<SearchQuery, 'filter'>) => {
    last = undefined;
    const result = await store.search({ resourceType: 'Observation', limit: 100, ...q });
    assert.ok(last, 'the store reports every search');
    return { result, stats: last as SearchStats };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'custodian-index-'));
    store = createEmbeddedStore({ path: dir, onSearch: (s) => (last = s) });
    await store.init();
    await fill(store);
  });

  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('patient + code examines the patient\'s few documents, not the type', async () => {
    const { result, stats } = await search({
      filter: { $and: [{ 'idx.patient': { $in: ['Patient/p7'] } }, { 'idx.code': { $elemMatch: { s: LOINC, c: 'c7' } } }] },
    });
    const expected = Array.from({ length: OBSERVATIONS }, (_, i) => i).filter((i) => i % PATIENTS === 7 && i % 3 !== 0 && i % 30 === 7);
    assert.deepEqual(result.resources.map((r) => r.id), expected.map(obsId));
    assert.ok(stats.documentsExamined <= OBSERVATIONS / PATIENTS, `examined ${stats.documentsExamined}`);
    assert.match(stats.plan, /^postings/);
  });

  it('patient + category + date range sorted by date examines the patient\'s documents only', async () => {
    const { result, stats } = await search({
      filter: {
        $and: [
          { 'idx.patient': { $in: ['Patient/p8'] } },
          { 'idx.category': { $elemMatch: { s: CATEGORY, c: 'laboratory' } } },
          { 'idx.date': { $elemMatch: { hi: { $gte: 10 * DAY } } } },
        ],
      },
      sort: [['idx.date.hi', -1]],
    });
    const expected = Array.from({ length: OBSERVATIONS }, (_, i) => i)
      .filter((i) => i % PATIENTS === 8 && i % 2 === 0 && i % 50 >= 10)
      .sort((a, b) => (b % 50) - (a % 50) || a - b);
    assert.deepEqual(result.resources.map((r) => r.id), expected.map(obsId));
    assert.ok(stats.documentsExamined <= OBSERVATIONS / PATIENTS, `examined ${stats.documentsExamined}`);
  });

  it('matchedOf over a long batch comes from the postings the search read whole; a short one, and long values, are read for the page', async () => {
    const batch = Array.from({ length: 40 }, (_, p) => `Patient/p${p}`);
    const many = await search({ filter: { 'idx.subject': { $in: batch } }, matchedOf: 'subject', limit: 50 });
    assert.equal(many.stats.matchedFromPostings, true);
    for (const r of many.result.resources) assert.deepEqual(r.matched, [`Patient/p${Number(r.id.slice(4)) % PATIENTS}`]);
    const few = await search({ filter: { 'idx.subject': { $in: batch.slice(0, 3) } }, matchedOf: 'subject', limit: 50 });
    assert.equal(few.stats.matchedFromPostings, false);
    assert.ok(few.result.resources.length > 0 && few.result.resources.every((r) => r.matched?.length === 1));
    const long = `https://${'very-long-host.'.repeat(10)}example.org/fhir/Patient/p1`;
    const truncated = await search({ filter: { 'idx.subject': { $in: [...batch, long] } }, matchedOf: 'subject', limit: 50 });
    assert.equal(truncated.stats.matchedFromPostings, false, 'a value longer than a posting key cannot be told apart by its postings');
    assert.deepEqual(truncated.result.resources.map((r) => r.matched), many.result.resources.map((r) => r.matched));
  });

  it('a consent-style clause (decided by postings) on a patient search reads the patient\'s postings only, and counts without decoding', async () => {
    const consent = { $or: [{ $and: [{ 'idx._consent': { $nin: ['N|CareTeam/x'] } }, { 'idx._consent': { $ne: '~*|treatment' } }] }, { $and: [{ 'idx._consent': 'N|CareTeam/x' }, { 'idx._consent': { $ne: '~CareTeam/x|treatment' } }] }] };
    for (const patient of [{ 'idx.patient': 'Patient/p9' }, { 'idx.patient': { $in: ['Patient/p9'] } }]) {
      const { result, stats } = await search({ filter: { $and: [patient, consent] }, total: true, limit: 5 });
      const all = Array.from({ length: OBSERVATIONS }, (_, i) => i).filter((i) => i % PATIENTS === 9);
      assert.equal(result.total, all.length);
      assert.deepEqual(result.resources.map((r) => r.id), all.slice(0, 5).map(obsId));
      // The page decodes its 5 documents; the count decodes none and probes a few keys per document.
      assert.ok(stats.documentsExamined <= 5, `examined ${stats.documentsExamined}`);
      assert.ok(stats.postingsRead <= all.length * 8, `read ${stats.postingsRead} postings for ${all.length} documents`);
    }
  });

  it('a positive consent clause (research opt-in) on a patient search does not leapfrog through the clause\'s large posting lists', async () => {
    // The clause the server sends for a researcher of the study (consent-tokens.ts).
    const research = researchClause();
    const { result, stats } = await search({ filter: { $and: [{ 'idx.patient': 'Patient/p10' }, research] }, total: true, limit: 5 });
    const all = Array.from({ length: OBSERVATIONS }, (_, i) => i).filter((i) => i % PATIENTS === 10);
    const open = all.filter((i) => Math.floor(i / PATIENTS) % 2 === 0);
    assert.equal(result.total, open.length);
    assert.deepEqual(result.resources.map((r) => r.id), open.slice(0, 5).map(obsId));
    // The patient's postings, then a few lookups per document for the clause (page and count);
    // leapfrogging through the clause's lists as well read 221 here.
    assert.equal(stats.plan, 'postings-stream patient');
    assert.ok(stats.postingsRead <= 10 * all.length, `read ${stats.postingsRead} postings for ${all.length} documents`);
  });

  it('a page walk over a common code costs one page per page', async () => {
    const filter = { 'idx.code': { $elemMatch: { s: LOINC, c: 'common' } } };
    const seen: string[] = [];
    let position: unknown[] | undefined;
    for (let page = 0; page < 20; page++) {
      const { result, stats } = await search({ filter, limit: 100, ...(position ? { after: position } : {}) });
      assert.ok(stats.documentsExamined <= 100, `page ${page} examined ${stats.documentsExamined}`);
      // Two posting lists (code, system) leapfrogged: a few keys per result, never the 1,000 matches.
      assert.ok(stats.postingsRead <= 500, `page ${page} read ${stats.postingsRead} postings`);
      assert.match(stats.plan, /^postings-stream .*code\.c/);
      seen.push(...result.resources.map((r) => r.id));
      if (result.resources.length < 100) break;
      position = result.resources.at(-1)!.sortValues;
    }
    assert.equal(seen.length, OBSERVATIONS / 3);
    assert.equal(new Set(seen).size, seen.length);
    assert.deepEqual(seen, [...seen].sort());
  });

  it('a long `$in` (an export\'s batch of patients) pages through exactly its documents, with few key reads per document', async () => {
    // 40 patients: past the lengths that are looked up per value or merged cursor by cursor.
    const patients = Array.from({ length: 40 }, (_, k) => 3 * k + 1);
    const refs = patients.map((p) => `Patient/p${p}`);
    const filter = { $and: [{ 'idx.patient': { $in: refs } }, { 'idx.category': { $elemMatch: { s: CATEGORY, c: 'laboratory' } } }] };
    const expected = Array.from({ length: OBSERVATIONS }, (_, i) => i).filter((i) => patients.includes(i % PATIENTS) && i % 2 === 0).map(obsId);
    const ids: string[] = [];
    let position: unknown[] | undefined;
    let reads = 0;
    for (;;) {
      const { result, stats } = await search({ filter, limit: 50, total: position === undefined, ...(position ? { after: position } : {}) });
      if (position === undefined) assert.equal(result.total, expected.length);
      reads += stats.postingsRead;
      ids.push(...result.resources.map((r) => r.id));
      if (result.resources.length < 50) break;
      position = result.resources.at(-1)!.sortValues;
    }
    assert.deepEqual(ids, expected);
    // The patients' postings once per page and for the count, and the category list beside
    // them (4,967 here); a lookup per listed value and document alone would be 40 per document.
    assert.ok(reads < 40 * expected.length, `read ${reads} postings for ${expected.length} documents`);
  });

  it('descending id pages stream backwards', async () => {
    const filter = { 'idx.code': { $elemMatch: { c: 'common' } } };
    const first = await search({ filter, sort: [['id', -1]], limit: 5 });
    assert.deepEqual(first.result.resources.map((r) => r.id), [2997, 2994, 2991, 2988, 2985].map(obsId));
    const second = await search({ filter, sort: [['id', -1]], limit: 2, after: first.result.resources.at(-1)!.sortValues });
    assert.deepEqual(second.result.resources.map((r) => r.id), [2982, 2979].map(obsId));
    assert.ok(second.stats.documentsExamined <= 2);
  });

  it('an unfiltered page walk reads one page of the type', async () => {
    const { result, stats } = await search({ filter: {}, limit: 10, after: [obsId(100)] });
    assert.deepEqual(result.resources.map((r) => r.id), Array.from({ length: 10 }, (_, i) => obsId(101 + i)));
    assert.equal(stats.plan, 'scan-stream');
    assert.equal(stats.documentsExamined, 10);
  });

  it('counts an exact single-value filter from the postings without examining documents', async () => {
    const { result, stats } = await search({ filter: { 'idx.code': { $elemMatch: { c: 'common' } } }, limit: 0, total: true });
    assert.equal(result.total, OBSERVATIONS / 3);
    assert.equal(stats.documentsExamined, 0);
  });

  it('counts a conjunction of exact filters (code and category), with or without a consent clause, without examining documents', async () => {
    const consent = { $or: [{ $and: [{ 'idx._consent': { $nin: ['N|CareTeam/x'] } }, { 'idx._consent': { $ne: '~*|treatment' } }] }, { 'idx._consent': 'N|CareTeam/x' }] };
    const codeAndCategory = [{ 'idx.code': { $elemMatch: { c: 'common' } } }, { 'idx.category': { $elemMatch: { c: 'laboratory' } } }];
    const expected = Array.from({ length: OBSERVATIONS }, (_, i) => i).filter((i) => i % 3 === 0 && i % 2 === 0).length;
    for (const filter of [{ $and: codeAndCategory }, { $and: [...codeAndCategory, consent] }]) {
      const { result, stats } = await search({ filter, limit: 0, total: true });
      assert.equal(result.total, expected);
      assert.equal(stats.documentsExamined, 0);
    }
    // An `_id` list among the conjuncts: ids that are not stored are not counted.
    const withIds = { $and: [{ id: { $in: [obsId(0), obsId(6), 'no-such-id'] } }, ...codeAndCategory] };
    const { result } = await search({ filter: withIds, limit: 0, total: true });
    assert.equal(result.total, 2);
    // The same when the `_id` list drives alone and only posting-decided clauses are left.
    const idsAndConsent = { $and: [{ id: { $in: [obsId(0), obsId(6), 'no-such-id'] } }, consent] };
    const counted = await search({ filter: idsAndConsent, limit: 10, total: true });
    assert.equal(counted.result.total, 2);
    assert.deepEqual(counted.result.resources.map((r) => r.id).sort(), [obsId(0), obsId(6)].sort());
  });

  it('a page driven by one exact candidate reads resources without decoding search documents, and still skips missing ids', async () => {
    const { result, stats } = await search({ filter: { id: { $in: [obsId(3), 'no-such-id', obsId(9)] } }, limit: 10 });
    assert.deepEqual(result.resources.map((r) => r.id), [obsId(3), obsId(9)].sort());
    assert.equal(stats.documentsExamined, 2);
    assert.ok(result.resources.every((r) => r.resource?.resourceType === 'Observation'));
  });

  it('name prefix + birthdate uses the closed date range', async () => {
    last = undefined;
    const result = await store.search({
      resourceType: 'Patient',
      filter: { $and: [{ 'idx.name': { $regex: '^smith' } }, { 'idx.birthdate': { $elemMatch: { lo: { $gte: 12 * DAY }, hi: { $lte: 13 * DAY - 1 } } } }] },
      limit: 10,
    });
    const expected = Array.from({ length: PATIENTS }, (_, i) => i).filter((i) => i % 365 === 12 && (i % 4 === 0 || i % 4 === 2));
    assert.deepEqual(result.resources.map((r) => r.id), expected.map((i) => `p${i}`));
    const stats = last as SearchStats | undefined;
    assert.ok(stats && stats.documentsExamined <= 1, `examined ${stats?.documentsExamined}`);
    assert.match(stats.plan, /birthdate\.(lo|hi)/);
  });

  it('falls back to scanning the type when nothing is index-servable, still correctly', async () => {
    const { result, stats } = await search({ filter: { $nor: [{ 'idx.code': { $elemMatch: { c: { $regex: '^c\\d' } } } }] }, limit: 5, total: true });
    assert.match(stats.plan, /^scan/);
    // The page streams until it has 5 matches (13 documents); the total evaluates every document.
    assert.equal(stats.documentsExamined, OBSERVATIONS + 13);
    assert.equal(result.total, OBSERVATIONS / 3);
    assert.deepEqual(result.resources.map((r) => r.id), [0, 3, 6, 9, 12].map(obsId));
  });
});

describe('embedded engine: index-driven search with the consent field held in memory', () => {
  const tempDir = tempDirs('index-memory');
  const research = researchClause();

  it('a researcher\'s walk over one code beside a dense opt-in list in memory reads only what its pages step through', async () => {
    let last: SearchStats | undefined;
    const store = createEmbeddedStore({ path: tempDir(), memoryPaths: ['_consent'], onSearch: (s) => (last = s) });
    await store.init();
    try {
      await fill(store);
      const filter = { $and: [{ 'idx.code': { $elemMatch: { c: 'common' } } }, research] };
      const codeIds = Array.from({ length: OBSERVATIONS }, (_, i) => i).filter((i) => i % 3 === 0).map(obsId);
      const expected = Array.from({ length: OBSERVATIONS }, (_, i) => i).filter((i) => i % 3 === 0 && Math.floor(i / PATIENTS) % 2 === 0).map(obsId);
      const seen: string[] = [];
      let position: unknown[] | undefined;
      for (;;) {
        last = undefined;
        const result = await store.search({ resourceType: 'Observation', filter, limit: 5, ...(position ? { after: position } : {}) });
        const stats = last as SearchStats | undefined;
        assert.ok(stats);
        // The code's list drives alone (the opt-ins are checked in memory per document), and it is
        // not sized first: sizing it read SMALL_SET (128) of its postings on every page.
        assert.equal(stats.plan, 'postings-stream code.c');
        const ids = result.resources.map((r) => r.id);
        // The code's postings from the position to the page's last match (or to its end).
        const stepped = codeIds.filter((id) => (position === undefined || id > (position[0] as string)) && (ids.length < 5 || id <= ids.at(-1)!)).length;
        assert.ok(stats.postingsRead <= stepped + 2, `read ${stats.postingsRead} postings, stepping through ${stepped} of the code's`);
        seen.push(...ids);
        if (result.resources.length < 5) break;
        position = result.resources.at(-1)!.sortValues;
      }
      assert.deepEqual(seen, expected);
    } finally {
      await store.close();
    }
  });
});

describe('embedded engine: AuditEvent searches on values left out of its postings', () => {
  // postings.ts UNPOSTED: an AuditEvent is not posted under type, site, _profile … Searches on
  // them must still find exactly the matching events, through other postings or a scan.
  const newDir = tempDirs('audit-postings');
  const auditOps = (): WriteOp[] => {
    const ops: WriteOp[] = [];
    for (let i = 0; i < 60; i++) {
      const id = `ae-${String(i).padStart(3, '0')}`;
      const index: IndexValues = {
        type: [{ s: 'http://terminology.hl7.org/CodeSystem/audit-event-type', c: i % 10 === 0 ? 'export' : 'rest' }],
        site: [{ c: i % 2 === 0 ? 'https://a.example' : 'https://b.example' }],
        patient: [`Patient/p${i % 6}`],
        _profile: ['prof-a'],
      };
      ops.push({ kind: 'create', resourceType: 'AuditEvent', id, resource: { resourceType: 'AuditEvent', id } as Resource, index });
    }
    return ops;
  };
  const NOW = new Date(Date.UTC(2024, 0, 1)).toISOString();
  const postedPaths = (dir: string, type: string): string[] => {
    const raw = open({ path: dir, compression: false, maxDbs: 8, readOnly: true });
    const keys = [...raw.openDB<null, PostingKey>({ name: 'postings' }).getKeys({ start: [type], end: [type, STRING_END] })];
    void raw.close();
    return [...new Set(keys.map((k) => k[1]))].sort();
  };

  it('answers exactly, with and without a posted clause beside them, and $ne does not pass unposted values', async () => {
    const dir = newDir();
    let last: SearchStats | undefined;
    const store = createEmbeddedStore({ path: dir, onSearch: (s) => (last = s) });
    await store.init();
    try {
      await store.commit({ ops: auditOps(), now: NOW });
      const ids = async (filter: Record<string, unknown>) => {
        const r = await store.search({ resourceType: 'AuditEvent', filter, limit: 100, total: true });
        assert.equal(r.total, r.resources.length);
        return r.resources.map((x) => Number(x.id.slice(3)));
      };
      const upTo60 = [...Array(60).keys()];
      assert.deepEqual(await ids({ 'idx.type': { $elemMatch: { c: 'export' } } }), upTo60.filter((i) => i % 10 === 0));
      assert.match(last!.plan, /^scan/);
      assert.deepEqual(
        await ids({ 'idx.patient': 'Patient/p0', 'idx.site': { $elemMatch: { c: 'https://b.example' } } }),
        upTo60.filter((i) => i % 6 === 0 && i % 2 === 1),
      );
      assert.equal(await ids({ 'idx.patient': 'Patient/p3', 'idx.site': { $elemMatch: { c: 'https://b.example' } } }).then((x) => x.length), 10);
      assert.match(last!.plan, /^postings.*patient/);
      assert.equal(last!.documentsExamined, 10 + 10, 'the patient\'s ten events, for the page and the total');
      // A posting-decided `$ne` on an unposted path would pass every event: it must be evaluated.
      assert.deepEqual(await ids({ 'idx.patient': 'Patient/p0', 'idx._profile': { $ne: 'prof-a' } }), []);
      assert.deepEqual(await ids({ 'idx.patient': 'Patient/p0', 'idx._profile': { $nin: ['prof-a', 'prof-b'] } }), []);
      assert.deepEqual(await ids({ 'idx.patient': 'Patient/p0', 'idx._profile': 'prof-a' }), upTo60.filter((i) => i % 6 === 0));
      assert.equal(await matchesNow(store, 'AuditEvent', 'ae-001', { 'idx._profile': { $ne: 'prof-a' } }), false);
      assert.equal(await matchesNow(store, 'AuditEvent', 'ae-001', { 'idx.site': { $elemMatch: { c: 'https://b.example' } } }), true);
      assert.equal(await matchesNow(store, 'AuditEvent', 'ae-001', { 'idx.site': { $elemMatch: { c: 'https://a.example' } } }), false);
      // matchedOf on an unposted path reads the documents' index values, not empty postings.
      const page = await store.search({ resourceType: 'AuditEvent', filter: { 'idx._profile': { $in: ['prof-a', 'prof-b'] } }, matchedOf: '_profile', limit: 3 });
      assert.deepEqual(page.resources.map((r) => r.matched), [['prof-a'], ['prof-a'], ['prof-a']]);
    } finally {
      await store.close();
    }
    // Nothing was written under the unposted paths.
    assert.deepEqual(postedPaths(dir, 'AuditEvent'), ['@lastUpdatedMs', 'patient']);
  });

  it('a store of postings format 1 (AuditEvents posted under every value) has its AuditEvent postings rebuilt on open, the others kept', async () => {
    const dir = newDir();
    const first = createEmbeddedStore({ path: dir });
    await first.init();
    await first.commit({ ops: auditOps(), now: NOW });
    await first.commit({ ops: [{ kind: 'create', resourceType: 'Observation', id: 'o1', resource: { resourceType: 'Observation', id: 'o1' } as Resource, index: obsIndex(1) }], now: NOW });
    await first.close();
    const observationPaths = postedPaths(dir, 'Observation');

    // What format 1 wrote: postings under the values now left out, and its format number.
    const raw = open({ path: dir, compression: false, maxDbs: 8 });
    const postings = raw.openDB<null, PostingKey>({ name: 'postings' });
    await postings.put(['AuditEvent', 'type.c', 'rest', 'ae-001'], null);
    await postings.put(['AuditEvent', '_profile', 'prof-a', 'ae-001'], null);
    await raw.openDB({ name: 'meta' }).put('postings', 1);
    await raw.close();

    const logged: string[] = [];
    const reopened = createEmbeddedStore({ path: dir, logger: { info: (m) => logged.push(m) } });
    await reopened.init();
    await reopened.close();
    assert.ok(logged.some((m) => /building the search postings of AuditEvent/.test(m)), logged.join('\n'));
    assert.deepEqual(postedPaths(dir, 'AuditEvent'), ['@lastUpdatedMs', 'patient']);
    assert.deepEqual(postedPaths(dir, 'Observation'), observationPaths);
  });
});

describe('embedded engine: stores written before postings existed', () => {
  it('builds the postings on open, once, and searches them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'custodian-upgrade-'));
    try {
      const first = createEmbeddedStore({ path: dir });
      await first.init();
      await fill(first);
      await first.close();

      // Turn the directory into what the engine wrote before postings: no postings, no marker.
      const raw = open({ path: dir, compression: false, maxDbs: 8 });
      await raw.openDB({ name: 'postings' }).drop();
      await raw.openDB({ name: 'meta' }).remove('postings');
      await raw.close();

      const logged: string[] = [];
      let stats: SearchStats | undefined;
      const reopened = createEmbeddedStore({ path: dir, logger: { info: (m) => logged.push(m) }, onSearch: (s) => (stats = s) });
      await reopened.init();
      const result = await reopened.search({ resourceType: 'Observation', filter: { 'idx.patient': 'Patient/p5' }, limit: 100, total: true });
      assert.equal(result.total, OBSERVATIONS / PATIENTS);
      assert.ok(stats!.documentsExamined <= OBSERVATIONS / PATIENTS);
      assert.equal(logged.filter((m) => /building/.test(m)).length, 1);
      await reopened.close();

      const again = createEmbeddedStore({ path: dir, logger: { info: (m) => logged.push(m) } });
      await again.init();
      await again.close();
      assert.equal(logged.filter((m) => /building/.test(m)).length, 1, 'built once, not on every open');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
