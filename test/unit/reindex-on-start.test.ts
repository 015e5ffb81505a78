import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadDefinitions } from '../../server/src/fhir/definitions.js';
import {
  INDEX_FINGERPRINT_SETTING,
  definitionsFingerprint,
  reindexIfDefinitionsChanged,
} from '../../server/src/fhir/search/reindex.js';
import { createEmbeddedStore } from '../../server/src/store/embedded/embedded-store.js';
import { tempDirs } from '../helpers/temp-dirs.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const defs = loadDefinitions(resolve(ROOT, 'fhir-profiles'));
const tempDir = tempDirs('reindex');

const patient = { resourceType: 'Patient' as const, id: 'p1', name: [{ family: 'Reindexed' }], birthDate: '1970-01-01' };

describe('reindex when the search definitions change', () => {
  it('reindexes a store indexed with other definitions, records the fingerprint, then leaves it alone', async () => {
    const store = createEmbeddedStore({ path: join(tempDir(), 'store') });
    await store.init();
    try {
      // Index values as an older definition set would have left them: no `family` entry.
      await store.commit({ ops: [{ kind: 'create', resourceType: 'Patient', id: 'p1', resource: patient, index: { stale: ['x'] } }], now: new Date().toISOString() });
      await store.writeSetting(INDEX_FINGERPRINT_SETTING, 'fingerprint-of-other-definitions');
      const byFamily = async () => (await store.search({ resourceType: 'Patient', filter: { 'idx.family': 'reindexed' }, limit: 10 })).resources.map((r) => r.id);
      assert.deepEqual(await byFamily(), []);

      const report = await reindexIfDefinitionsChanged(store, defs);
      assert.equal(report?.perType.Patient, 1);
      assert.deepEqual(await byFamily(), ['p1']);
      assert.equal(await store.readSetting(INDEX_FINGERPRINT_SETTING), definitionsFingerprint(defs));
      assert.equal(await reindexIfDefinitionsChanged(store, defs), undefined);
    } finally {
      await store.close();
    }
  });

  it('treats a store without a recorded fingerprint as stale', async () => {
    const store = createEmbeddedStore({ path: join(tempDir(), 'store') });
    await store.init();
    try {
      await store.commit({ ops: [{ kind: 'create', resourceType: 'Patient', id: 'p1', resource: patient, index: {} }], now: new Date().toISOString() });
      const report = await reindexIfDefinitionsChanged(store, defs);
      assert.equal(report?.total, 1);
    } finally {
      await store.close();
    }
  });

  it('npm run reindex rebuilds every resource and prints the count', async () => {
    const dataDir = tempDir();
    const store = createEmbeddedStore({ path: join(dataDir, 'store') });
    await store.init();
    await store.commit({
      ops: [
        { kind: 'create', resourceType: 'Patient', id: 'p1', resource: patient, index: {} },
        { kind: 'create', resourceType: 'Observation', id: 'o1', resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' } }, index: {} },
      ],
      now: new Date().toISOString(),
    });
    await store.close();

    const run = promisify(execFile);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'server/src/cli/reindex.ts')], {
      cwd: ROOT,
      env: { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'silent', MONGODB_URI: '' },
    });
    assert.match(stdout, /^Reindexed \d+ resources in [\d.]+ s \(.*Patient 1.*\)/);

    const reopened = createEmbeddedStore({ path: join(dataDir, 'store') });
    await reopened.init();
    try {
      const found = await reopened.search({ resourceType: 'Patient', filter: { 'idx.family': 'reindexed' }, limit: 10 });
      assert.deepEqual(found.resources.map((r) => r.id), ['p1']);
      assert.equal(await reopened.readSetting(INDEX_FINGERPRINT_SETTING), definitionsFingerprint(defs));
    } finally {
      await reopened.close();
    }
  });
});
