import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import type { FhirHandler, FhirRequest, FhirResponse } from '../../server/src/fhir/fhir-request.js';
import { BadInputError, listInputFiles, readBundleFile, readBundles } from '../../server/src/cli/import.js';
import { BundleRejectedError, seedPopulation, submitBundles } from '../../server/src/cli/seed.js';
import { generatePopulation } from '../../fixtures/population/index.js';

const BASE = 'http://example.test/fhir';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Records requests; answers each with `answer(request, index)`. */
function recorder(answer: (req: FhirRequest, i: number) => FhirResponse = () => ({ status: 200 })): FhirHandler & { requests: FhirRequest[] } {
  const requests: FhirRequest[] = [];
  return {
    requests,
    handle: async (req) => {
      requests.push(req);
      return answer(req, requests.length - 1);
    },
  };
}

const OUTCOME: OperationOutcome = {
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'error', code: 'invalid', diagnostics: 'bad entry' }],
};

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'custodian-cli-'));
}

function transaction(n: number): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: Array.from({ length: n }, () => ({ resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } })),
  };
}

describe('seedPopulation', () => {
  it('POSTs the directory, then one transaction per patient, to the base', async () => {
    const fhir = recorder();
    const stats = await seedPopulation(fhir, BASE, { patients: 3, seed: 11 });
    const expected = generatePopulation({ patients: 3, seed: 11 });
    assert.equal(fhir.requests.length, 4);
    for (const [i, req] of fhir.requests.entries()) {
      assert.equal(req.method, 'POST');
      assert.equal(req.path, '');
      assert.deepEqual(req.query, {});
      assert.equal(req.headers['content-type'], 'application/fhir+json');
      assert.equal(req.baseUrl, BASE);
      assert.deepEqual(req.body, expected[i]);
    }
    assert.equal(stats.bundles, 4);
    assert.equal(stats.resources, expected.reduce((n, b) => n + (b.entry?.length ?? 0), 0));
    assert.ok(stats.seconds >= 0);
  });

  it('reports progress with labels', async () => {
    const labels: string[] = [];
    await seedPopulation(recorder(), BASE, { patients: 2, seed: 1, start: 5, onProgress: (p) => labels.push(`${p.label} ${p.bundles}/${p.total}`) });
    assert.deepEqual(labels, ['directory 1/3', 'patient 5 2/3', 'patient 6 3/3']);
  });

  it('stops at the first non-2xx answer and carries its OperationOutcome', async () => {
    const fhir = recorder((_req, i) => (i === 2 ? { status: 400, body: OUTCOME } : { status: 200 }));
    const err = await seedPopulation(fhir, BASE, { patients: 5, seed: 1 }).then(
      () => assert.fail('expected a rejection'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof BundleRejectedError);
    assert.equal(err.status, 400);
    assert.equal(err.label, 'patient 1');
    assert.deepEqual(err.outcome, OUTCOME);
    assert.equal(err.stats.bundles, 2);
    assert.equal(fhir.requests.length, 3, 'nothing is sent after the failure');
  });

  it('treats a failed entry in a batch-response as a rejection', async () => {
    const fhir = recorder(() => ({
      status: 200,
      body: {
        resourceType: 'Bundle',
        type: 'batch-response',
        entry: [{ response: { status: '201 Created' } }, { response: { status: '400 Bad Request', outcome: OUTCOME } }],
      },
    }));
    await assert.rejects(submitBundles(fhir, BASE, [{ label: 'b.json', bundle: transaction(2) }]), (e: unknown) => {
      assert.ok(e instanceof BundleRejectedError);
      assert.equal(e.status, 400);
      assert.deepEqual(e.outcome, OUTCOME);
      return true;
    });
  });
});

describe('import: files', () => {
  it('expands directories to sorted *.json with Synthea’s shared bundles first', async () => {
    const dir = tempDir();
    for (const name of ['b.json', 'a.json', 'practitionerInformation1.json', 'hospitalInformation1.json', 'notes.txt']) {
      writeFileSync(join(dir, name), '{}');
    }
    mkdirSync(join(dir, 'sub.json')); // not a file: skipped, not descended into
    const other = join(tempDir(), 'z.json');
    writeFileSync(other, '{}');
    const files = await listInputFiles([other, dir]);
    assert.deepEqual(files, [
      join(dir, 'hospitalInformation1.json'),
      join(dir, 'practitionerInformation1.json'),
      other,
      join(dir, 'a.json'),
      join(dir, 'b.json'),
    ]);
    await assert.rejects(listInputFiles([join(dir, 'missing')]), BadInputError);
  });

  it('names the file when it is not JSON, not a Bundle, or not a transaction/batch', async () => {
    const dir = tempDir();
    const cases: [string, string, RegExp][] = [
      ['broken.json', '{"resourceType": "Bundle",', /broken\.json: invalid JSON/],
      ['patient.json', '{"resourceType": "Patient"}', /patient\.json: not a FHIR Bundle/],
      ['collection.json', '{"resourceType": "Bundle", "type": "collection"}', /collection\.json: Bundle\.type is "collection"/],
    ];
    for (const [name, text, message] of cases) {
      writeFileSync(join(dir, name), text);
      await assert.rejects(readBundleFile(join(dir, name)), (e: unknown) => e instanceof BadInputError && message.test(e.message));
    }
    writeFileSync(join(dir, 'ok.json'), JSON.stringify(transaction(2)));
    assert.equal((await readBundleFile(join(dir, 'ok.json'))).entry?.length, 2);
  });

  it('submits file by file and stops at a bad one, after committing those before it', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, '1.json'), JSON.stringify(transaction(3)));
    writeFileSync(join(dir, '2.json'), 'not json');
    writeFileSync(join(dir, '3.json'), JSON.stringify(transaction(1)));
    const fhir = recorder();
    const files = await listInputFiles([dir]);
    await assert.rejects(submitBundles(fhir, BASE, readBundles(files)), /2\.json: invalid JSON/);
    assert.equal(fhir.requests.length, 1);
  });
});

describe('CLI entry points', () => {
  const run = promisify(execFile);
  const cli = (script: string, ...args: string[]) =>
    run(process.execPath, ['--import', 'tsx', join(ROOT, 'server/src/cli', script), ...args], { cwd: ROOT }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  it('--help prints usage and exits 0', async () => {
    for (const script of ['seed.ts', 'import.ts']) {
      const r = await cli(script, '--help');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Usage: npm run (seed|import) --/);
    }
  });

  it('bad arguments exit 2 with a message and the usage', async () => {
    const unknown = await cli('seed.ts', '--bogus');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--bogus[\s\S]*Usage:/);
    const notInt = await cli('seed.ts', '--patients', 'many');
    assert.equal(notInt.code, 2);
    assert.match(notInt.stderr, /--patients must be an integer/);
    const none = await cli('import.ts');
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no files or directories given/);
  });
});
