import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Bundle, CodeSystem, Coding, Resource, ValueSet } from '@medplum/fhirtypes';
import { deepFreeze } from '../../server/src/fhir/clone-json.js';
import { SERVER_PRINCIPAL } from '../../server/src/auth/principal.js';
import {
  ACT_CODE_SYSTEM,
  CATEGORY_SYSTEM,
  CONFIDENTIALITY_SYSTEM,
  DATA_CATEGORIES,
  RESOURCE_TYPES_SYSTEM,
  SENSITIVE_LABEL,
  type DataCategory,
} from '../../server/src/consent/data-categories.js';
import type { Labeler } from '../../server/src/consent/labeler.js';
import { LABEL_FILES, loadLabeler } from '../../server/src/consent/load-labeler.js';
import { LABELS_FINGERPRINT_SETTING, relabelIfMappingsChanged } from '../../server/src/consent/relabel.js';
import { loadDefinitions } from '../../server/src/fhir/definitions.js';
import type { FhirContext } from '../../server/src/fhir/fhir-context.js';
import { actingAsServer, FhirService } from '../../server/src/fhir/fhir-service.js';
import { KeyedLock } from '../../server/src/fhir/keyed-lock.js';
import { computeIndex } from '../../server/src/fhir/search/index-values.js';
import { CursorCodec } from '../../server/src/fhir/search-results/cursor.js';
import { validate } from '../../server/src/fhir/validation.js';
import { createEmbeddedStore } from '../../server/src/store/embedded/embedded-store.js';
import type { ResourceStore } from '../../server/src/store/resource-store.js';
import { tempDirs } from '../helpers/temp-dirs.js';

const PROFILES = resolve(fileURLToPath(new URL('../../fhir-profiles', import.meta.url)));
const defs = loadDefinitions(PROFILES);
const labeler = loadLabeler(PROFILES);

const LOINC = 'http://loinc.org';
const SNOMED = 'http://snomed.info/sct';
const OBS_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

const tempDir = tempDirs('labels');

/** fhir-profiles copied to a temp dir, to edit. */
function profilesCopy(): string {
  const dir = tempDir();
  cpSync(PROFILES, dir, { recursive: true });
  return dir;
}

const readJson = <T>(dir: string, name: string): T => JSON.parse(readFileSync(join(dir, name), 'utf8')) as T;

function observation(code: Coding, category?: string, extra: Partial<Resource> = {}): Resource {
  return {
    resourceType: 'Observation',
    status: 'final',
    ...(category ? { category: [{ coding: [{ system: OBS_CATEGORY, code: category }] }] } : {}),
    code: { coding: [code] },
    subject: { reference: 'Patient/p1' },
    ...extra,
  } as Resource;
}

const keys = (codings: readonly Coding[] | undefined): string[] => (codings ?? []).map((c) => `${c.system}|${c.code}`);
const sorted = (s: ReadonlySet<string>): string[] => [...s].sort();

describe('labeling: the conformance resources', () => {
  it('the CodeSystem has exactly the DATA_CATEGORIES, in order', () => {
    const cs = readJson<CodeSystem>(PROFILES, LABEL_FILES.codeSystem);
    assert.equal(cs.url, CATEGORY_SYSTEM);
    assert.deepEqual(
      cs.concept?.map((c) => c.code),
      [...DATA_CATEGORIES],
    );
    for (const c of cs.concept ?? []) assert.ok(c.display && c.definition, `${c.code} has a display and a definition`);
  });

  it('are valid R4 (base definitions and invariants)', () => {
    const names = [LABEL_FILES.codeSystem, LABEL_FILES.conceptMap, ...DATA_CATEGORIES.map(LABEL_FILES.valueSet)];
    for (const name of names) {
      const errors = validate(defs, readJson<Resource>(PROFILES, name)).filter((i) => i.severity === 'error' || i.severity === 'fatal');
      assert.deepEqual(errors, [], name);
    }
  });

  it('every code of every category ValueSet puts a resource in that category', () => {
    for (const category of DATA_CATEGORIES) {
      const vs = readJson<ValueSet>(PROFILES, LABEL_FILES.valueSet(category));
      let n = 0;
      for (const inc of vs.compose?.include ?? []) {
        for (const { code } of inc.concept ?? []) {
          n++;
          if (inc.system === RESOURCE_TYPES_SYSTEM) {
            assert.ok(defs.isResourceType(code), `${category}: ${code} is an R4 resource type`);
            assert.ok(labeler.categorize({ resourceType: code } as Resource).has(category), `${category}: type ${code}`);
          } else {
            const obs = observation({ system: inc.system, code });
            assert.ok(labeler.categorize(obs).has(category), `${category}: ${inc.system}|${code}`);
          }
        }
      }
      assert.ok(n > 0, `${category} lists something`);
    }
  });

  it('the ConceptMap gives each sensitive category its SENSITIVE_LABEL and R, every other category N', () => {
    for (const category of DATA_CATEGORIES) {
      const labels = keys(labeler.labelsFor(new Set([category])));
      const sensitive = SENSITIVE_LABEL[category];
      assert.deepEqual(
        labels,
        sensitive ? [`${ACT_CODE_SYSTEM}|${sensitive}`, `${CONFIDENTIALITY_SYSTEM}|R`] : [`${CONFIDENTIALITY_SYSTEM}|N`],
        category,
      );
    }
    assert.deepEqual(labeler.labelsFor(new Set()), []);
    assert.deepEqual(keys(labeler.labelsFor(new Set<DataCategory>(['vital-signs', 'mental-health', 'genetic']))), [
      `${ACT_CODE_SYSTEM}|PSY`,
      `${ACT_CODE_SYSTEM}|GDIS`,
      `${CONFIDENTIALITY_SYSTEM}|R`,
    ]);
  });
});

describe('labeling: categorize', () => {
  const cases: Array<{ name: string; resource: Resource; categories: DataCategory[]; labels: string[] }> = [
    {
      name: 'a PHQ-9 Observation',
      resource: observation({ system: LOINC, code: '44249-1', display: 'PHQ-9 quick depression assessment panel' }, 'survey'),
      categories: ['mental-health'],
      labels: [`${ACT_CODE_SYSTEM}|PSY`, `${CONFIDENTIALITY_SYSTEM}|R`],
    },
    {
      name: 'an HIV test',
      resource: observation({ system: LOINC, code: '56888-1' }, 'laboratory', { valueCodeableConcept: { coding: [{ system: SNOMED, code: '260385009', display: 'Negative' }] } } as Partial<Resource>),
      categories: ['laboratory', 'hiv-and-infectious-disease'],
      labels: [`${ACT_CODE_SYSTEM}|HIV`, `${CONFIDENTIALITY_SYSTEM}|R`],
    },
    {
      name: 'a genetic report',
      resource: {
        resourceType: 'DiagnosticReport',
        status: 'final',
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'GE' }] }],
        code: { coding: [{ system: LOINC, code: '51969-4', display: 'Genetic analysis report' }] },
        subject: { reference: 'Patient/p1' },
      },
      categories: ['genetic'],
      labels: [`${ACT_CODE_SYSTEM}|GDIS`, `${CONFIDENTIALITY_SYSTEM}|R`],
    },
    {
      name: 'a Claim',
      resource: {
        resourceType: 'Claim',
        status: 'active',
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'professional' }] },
        use: 'claim',
        patient: { reference: 'Patient/p1' },
        created: '2024-01-01',
        provider: { reference: 'Organization/o1' },
        priority: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/processpriority', code: 'normal' }] },
        insurance: [{ sequence: 1, focal: true, coverage: { reference: 'Coverage/c1' } }],
      },
      categories: ['financial'],
      labels: [`${CONFIDENTIALITY_SYSTEM}|N`],
    },
    {
      name: 'vital signs',
      resource: observation({ system: LOINC, code: '8867-4', display: 'Heart rate' }, 'vital-signs', {
        valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
      } as Partial<Resource>),
      categories: ['vital-signs'],
      labels: [`${CONFIDENTIALITY_SYSTEM}|N`],
    },
    {
      name: 'an Encounter with a depression reason',
      resource: {
        resourceType: 'Encounter',
        status: 'finished',
        class: { system: ACT_CODE_SYSTEM, code: 'AMB' },
        subject: { reference: 'Patient/p1' },
        reasonCode: [{ coding: [{ system: SNOMED, code: '35489007', display: 'Depressive disorder' }] }],
      },
      categories: ['mental-health', 'encounters'],
      labels: [`${ACT_CODE_SYSTEM}|PSY`, `${CONFIDENTIALITY_SYSTEM}|R`],
    },
    {
      name: 'a client PSY label on an otherwise plain Observation',
      resource: observation({ system: LOINC, code: '72514-3', display: 'Pain severity' }, 'survey', {
        meta: { security: [{ system: ACT_CODE_SYSTEM, code: 'PSY' }] },
      }),
      categories: ['mental-health'],
      labels: [`${ACT_CODE_SYSTEM}|PSY`, `${CONFIDENTIALITY_SYSTEM}|R`],
    },
    {
      name: 'a narrower client label (ETHUD) on a plain Observation',
      resource: observation({ system: LOINC, code: '8867-4' }, 'vital-signs', { meta: { security: [{ system: ACT_CODE_SYSTEM, code: 'ETHUD' }] } }),
      categories: ['vital-signs', 'substance-use'],
      labels: [`${ACT_CODE_SYSTEM}|ETH`, `${CONFIDENTIALITY_SYSTEM}|R`],
    },
    {
      name: 'an Observation that matches nothing',
      resource: observation({ system: LOINC, code: '72514-3', display: 'Pain severity' }, 'survey'),
      categories: ['clinical-other'],
      labels: [`${CONFIDENTIALITY_SYSTEM}|N`],
    },
    {
      name: 'an Organization (in no Patient compartment), even with a sensitive code',
      resource: { resourceType: 'Organization', name: 'Clinic', type: [{ coding: [{ system: SNOMED, code: '35489007' }] }] },
      categories: [],
      labels: [],
    },
  ];

  for (const c of cases) {
    it(`${c.name} → ${c.categories.join(' + ') || 'no category'}`, () => {
      const categories = labeler.categorize(c.resource);
      assert.deepEqual(sorted(categories), [...c.categories].sort());
      assert.deepEqual(keys(labeler.labelsFor(categories)), c.labels);
    });
  }

  it('ignores codes under meta (a client cannot categorise by tagging), but reads meta.security', () => {
    const tagged = observation({ system: LOINC, code: '8867-4' }, 'vital-signs', { meta: { tag: [{ system: LOINC, code: '44249-1' }] } });
    assert.deepEqual(sorted(labeler.categorize(tagged)), ['vital-signs']);
  });
});

describe('labeling: apply', () => {
  const phq9 = (): Resource => observation({ system: LOINC, code: '44249-1' }, 'survey');
  const CAT = (code: string): Coding => ({ system: CATEGORY_SYSTEM, code });

  it('writes the categories as tags and the implied labels, without touching the input', () => {
    const input = deepFreeze(phq9());
    const out = labeler.apply(input);
    assert.notEqual(out, input);
    assert.equal(input.meta, undefined);
    assert.deepEqual(keys(out.meta?.tag), [`${CATEGORY_SYSTEM}|mental-health`]);
    assert.equal(out.meta?.tag?.[0]?.display, 'Mental health');
    assert.deepEqual(keys(out.meta?.security), [`${ACT_CODE_SYSTEM}|PSY`, `${CONFIDENTIALITY_SYSTEM}|R`]);
    assert.deepEqual({ ...out, meta: undefined }, { ...input, meta: undefined });
  });

  it("keeps the client's labels and other tags, replaces the client's category tags", () => {
    const input = deepFreeze({
      ...phq9(),
      meta: {
        profile: ['http://example.org/p'],
        tag: [CAT('financial'), { system: 'http://example.org/tags', code: 'keep-me' }],
        security: [
          { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HTEST' },
          { system: ACT_CODE_SYSTEM, code: 'PSY', display: 'client display' },
        ],
      },
    } as Resource);
    const out = labeler.apply(input);
    assert.deepEqual(out.meta?.profile, ['http://example.org/p']);
    assert.deepEqual(keys(out.meta?.tag), ['http://example.org/tags|keep-me', `${CATEGORY_SYSTEM}|mental-health`]);
    assert.deepEqual(keys(out.meta?.security), [
      'http://terminology.hl7.org/CodeSystem/v3-ActReason|HTEST',
      `${ACT_CODE_SYSTEM}|PSY`,
      `${CONFIDENTIALITY_SYSTEM}|R`,
    ]);
    assert.equal(out.meta?.security?.[1]?.display, 'client display');
  });

  it('keeps one confidentiality code, the most restrictive of the client\'s and the computed', () => {
    const withConfidentiality = (resource: Resource, ...codes: string[]): Resource => ({
      ...resource,
      meta: { security: codes.map((code) => ({ system: CONFIDENTIALITY_SYSTEM, code })) },
    } as Resource);
    const conf = (r: Resource) => (r.meta?.security ?? []).filter((s) => s.system === CONFIDENTIALITY_SYSTEM).map((s) => s.code);
    assert.deepEqual(conf(labeler.apply(withConfidentiality(phq9(), 'L'))), ['R']);
    assert.deepEqual(conf(labeler.apply(withConfidentiality(phq9(), 'V'))), ['V']);
    assert.deepEqual(conf(labeler.apply(withConfidentiality(phq9(), 'N', 'M', 'V', 'R'))), ['V']);
    const vitals = observation({ system: LOINC, code: '8867-4' }, 'vital-signs');
    assert.deepEqual(conf(labeler.apply(withConfidentiality(vitals, 'R'))), ['R']);
    assert.deepEqual(conf(labeler.apply(withConfidentiality(vitals, 'U'))), ['N']);
  });

  it('is idempotent', () => {
    for (const r of [phq9(), observation({ system: LOINC, code: '8867-4' }, 'vital-signs', { meta: { security: [{ system: ACT_CODE_SYSTEM, code: 'HIV' }] } })]) {
      const once = labeler.apply(r);
      assert.deepEqual(labeler.apply(once), once);
    }
  });

  it('gives resources outside any Patient compartment no labels, and drops category tags sent with them', () => {
    assert.deepEqual(labeler.apply({ resourceType: 'Organization', name: 'x' }), { resourceType: 'Organization', name: 'x' });
    const out = labeler.apply({ resourceType: 'Organization', meta: { tag: [CAT('financial')] } });
    assert.deepEqual(out, { resourceType: 'Organization' });
  });
});

describe('labeling: loading the mappings', () => {
  it('the fingerprint is stable, ignores formatting, and changes when a mapping file changes', () => {
    const dir = profilesCopy();
    assert.equal(loadLabeler(dir).fingerprint, labeler.fingerprint);

    // Same content, other formatting and key order.
    const name = LABEL_FILES.valueSet('mental-health');
    const vs = readJson<ValueSet & Record<string, unknown>>(dir, name);
    const { compose, ...rest } = vs;
    writeFileSync(join(dir, name), JSON.stringify({ compose, ...rest }));
    assert.equal(loadLabeler(dir).fingerprint, labeler.fingerprint);

    // A file the labeler does not read changes nothing.
    writeFileSync(join(dir, 'SearchParameter-Claim-supporting-info.json'), '{"resourceType":"SearchParameter","id":"Claim-supporting-info"}');
    assert.equal(loadLabeler(dir).fingerprint, labeler.fingerprint);

    compose?.include?.[0]?.concept?.push({ code: '72514-3', display: 'Pain severity - 0-10 verbal numeric rating [Score] - Reported' });
    writeFileSync(join(dir, name), JSON.stringify({ ...rest, compose }, null, 2));
    const changed = loadLabeler(dir);
    assert.notEqual(changed.fingerprint, labeler.fingerprint);
    assert.match(changed.fingerprint, /^[0-9a-f]{64}$/);
    const pain = observation({ system: LOINC, code: '72514-3' }, 'survey');
    assert.deepEqual(sorted(changed.categorize(pain)), ['mental-health']);
    assert.deepEqual(sorted(labeler.categorize(pain)), ['clinical-other']);
  });

  it('refuses malformed mappings, naming the file', () => {
    const broken = (edit: (dir: string) => void, message: RegExp): void => {
      const dir = profilesCopy();
      edit(dir);
      assert.throws(() => loadLabeler(dir), message);
    };
    const vsName = LABEL_FILES.valueSet('genetic');
    broken((d) => writeFileSync(join(d, vsName), '{ not json'), new RegExp(`fhir-profiles/${vsName}: cannot read`));
    broken((d) => rmSync(join(d, LABEL_FILES.valueSet('imaging'))), /ValueSet-custodian-category-imaging\.json: cannot read/);
    broken((d) => {
      const vs = readJson<ValueSet>(d, vsName);
      vs.compose = { include: [{ system: LOINC, filter: [{ property: 'CLASS', op: '=', value: 'MOLPATH' }] }] };
      writeFileSync(join(d, vsName), JSON.stringify(vs));
    }, /ValueSet-custodian-category-genetic\.json: compose\.include\[0\]: filters/);
    broken((d) => {
      const cs = readJson<CodeSystem>(d, LABEL_FILES.codeSystem);
      cs.concept = cs.concept?.filter((c) => c.code !== 'genetic');
      writeFileSync(join(d, LABEL_FILES.codeSystem), JSON.stringify(cs));
    }, /CodeSystem-custodian-data-category\.json: concepts missing for genetic/);
    broken((d) => writeFileSync(join(d, 'ValueSet-custodian-category-astrology.json'), '{}'), /'astrology' is not a code/);
    broken((d) => {
      const name = LABEL_FILES.conceptMap;
      const text = readFileSync(join(d, name), 'utf8').replace('"code": "R"', '"code": "Q"');
      writeFileSync(join(d, name), text);
    }, /ConceptMap-custodian-category-to-security-label\.json: .*'Q' is not a v3 Confidentiality code/);
  });
});

describe('labeling: writes and relabelling', () => {
  async function withStore<T>(run: (store: ResourceStore) => Promise<T>): Promise<T> {
    const store = createEmbeddedStore({ path: join(tempDir(), 'store') });
    await store.init();
    try {
      return await run(store);
    } finally {
      await store.close();
    }
  }

  it('a write is labelled before it is indexed: _tag and _security searches find it', async () => {
    await withStore(async (store) => {
      const ctx: FhirContext = {
        principal: SERVER_PRINCIPAL,
        store,
        defs,
        options: { defaultPageSize: 20, maxPageSize: 100, updateCreate: true, maxIncludes: 100 },
        now: () => new Date().toISOString(),
        newId: () => randomUUID(),
        conditionalLocks: new KeyedLock(),
        cursors: new CursorCodec(randomBytes(32)),
        labeler,
      };
      const fhir = actingAsServer(new FhirService({ ctx, onInternalError: (err) => assert.fail(String(err)) }));
      const base = { headers: {}, baseUrl: 'http://localhost/fhir' };
      const created = await fhir.handle({ ...base, method: 'POST', path: 'Observation', query: {}, body: observation({ system: LOINC, code: '44261-6' }, 'survey') });
      assert.equal(created.status, 201);
      const search = async (query: Record<string, string[]>): Promise<number> => {
        const res = await fhir.handle({ ...base, method: 'GET', path: 'Observation', query });
        return ((res.body as Bundle).entry ?? []).length;
      };
      assert.equal(await search({ _security: [`${ACT_CODE_SYSTEM}|PSY`] }), 1);
      assert.equal(await search({ _security: [`${CONFIDENTIALITY_SYSTEM}|R`] }), 1);
      assert.equal(await search({ _tag: [`${CATEGORY_SYSTEM}|mental-health`] }), 1);
      assert.equal(await search({ _tag: [`${CATEGORY_SYSTEM}|vital-signs`] }), 0);
    });
  });

  it('relabels in place when the mappings change: same version, new labels, new index values', async () => {
    await withStore(async (store) => {
      const pain = labeler.apply({ ...observation({ system: LOINC, code: '72514-3' }, 'survey'), id: 'pain' } as Resource);
      const vitals = labeler.apply({ ...observation({ system: LOINC, code: '8867-4' }, 'vital-signs'), id: 'hr' } as Resource);
      const [written] = await store.commit({
        now: '2024-05-01T10:00:00.000Z',
        ops: [pain, vitals].map((r) => ({ kind: 'create' as const, resourceType: 'Observation', id: r.id as string, resource: r, index: computeIndex(defs, r) })),
      });
      assert.equal(await relabelIfMappingsChanged(store, defs, labeler), 0, 'a store without a recorded fingerprint is relabelled, but nothing differs');
      assert.equal(await store.readSetting(LABELS_FINGERPRINT_SETTING), labeler.fingerprint);

      // The mappings change: pain scores become mental-health data.
      const dir = profilesCopy();
      const name = LABEL_FILES.valueSet('mental-health');
      const vs = readJson<ValueSet>(dir, name);
      vs.compose?.include?.[0]?.concept?.push({ code: '72514-3' });
      writeFileSync(join(dir, name), JSON.stringify(vs));
      const changed: Labeler = loadLabeler(dir);

      const bySecurity = async (code: string): Promise<string[]> =>
        (await store.search({ resourceType: 'Observation', filter: { 'idx._security.c': code }, limit: 10 })).resources.map((r) => r.id).sort();
      assert.deepEqual(await bySecurity('PSY'), []);
      assert.equal(await relabelIfMappingsChanged(store, defs, changed), 1);
      assert.equal(await store.readSetting(LABELS_FINGERPRINT_SETTING), changed.fingerprint);

      const current = await store.readCurrent('Observation', 'pain');
      assert.equal(current?.versionId, written?.versionId);
      assert.equal(current?.lastUpdated, '2024-05-01T10:00:00.000Z');
      assert.equal(current?.resource?.meta?.versionId, '1');
      assert.equal(current?.resource?.meta?.lastUpdated, '2024-05-01T10:00:00.000Z');
      assert.deepEqual(keys(current?.resource?.meta?.tag), [`${CATEGORY_SYSTEM}|mental-health`]);
      assert.deepEqual(keys(current?.resource?.meta?.security), [`${ACT_CODE_SYSTEM}|PSY`, `${CONFIDENTIALITY_SYSTEM}|R`]);
      assert.equal(current?.json, JSON.stringify(current?.resource));
      assert.deepEqual((await store.readVersion('Observation', 'pain', '1'))?.resource, current?.resource);
      assert.equal((await store.history({ resourceType: 'Observation', id: 'pain', limit: 10 })).total, 1);
      assert.deepEqual(await bySecurity('PSY'), ['pain']);
      assert.deepEqual(await bySecurity('N'), ['hr']);
      const byTag = await store.search({ resourceType: 'Observation', filter: { 'idx._tag.c': 'clinical-other' }, limit: 10 });
      assert.deepEqual(byTag.resources, []);

      // Nothing left to do until the mappings change again.
      assert.equal(await relabelIfMappingsChanged(store, defs, changed), 0);

      // Back to the old mappings: the category tags are recomputed, but the PSY label stays
      // (it cannot be told from a client's) and so keeps the resource in mental-health.
      assert.equal(await relabelIfMappingsChanged(store, defs, labeler), 0);
      const reverted = await store.readCurrent('Observation', 'pain');
      assert.deepEqual(keys(reverted?.resource?.meta?.security), [`${ACT_CODE_SYSTEM}|PSY`, `${CONFIDENTIALITY_SYSTEM}|R`]);
      assert.deepEqual(keys(reverted?.resource?.meta?.tag), [`${CATEGORY_SYSTEM}|mental-health`]);
    });
  });

  it('updateIndex with a resource leaves a version that has moved on alone, and refuses a resource of another id', async () => {
    await withStore(async (store) => {
      const v1 = { ...observation({ system: LOINC, code: '8867-4' }, 'vital-signs'), id: 'o1' } as Resource;
      const [first] = await store.commit({ now: '2024-05-01T10:00:00.000Z', ops: [{ kind: 'create', resourceType: 'Observation', id: 'o1', resource: v1, index: { v: 1 } }] });
      await store.commit({ now: '2024-05-02T10:00:00.000Z', ops: [{ kind: 'update', resourceType: 'Observation', id: 'o1', resource: v1, index: { v: 2 } }] });
      const relabelled = { ...first?.resource, meta: { ...first?.resource?.meta, tag: [{ system: 'urn:test', code: 'relabelled' }] } } as Resource;
      await store.updateIndex('Observation', [{ id: 'o1', index: { v: 99 }, resource: relabelled }]);
      assert.deepEqual(keys((await store.readVersion('Observation', 'o1', '1'))?.resource?.meta?.tag), ['urn:test|relabelled']);
      const current = await store.readCurrent('Observation', 'o1');
      assert.equal(current?.versionId, '2');
      assert.equal(current?.resource?.meta?.tag, undefined);
      assert.equal((await store.search({ resourceType: 'Observation', filter: { 'idx.v': 2 }, limit: 10 })).resources.length, 1);
      await assert.rejects(store.updateIndex('Observation', [{ id: 'o2', index: {}, resource: relabelled }]), /has id o1/);
    });
  });
});
