import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const PRELOAD = './test/support/runner/blocking-stdout.ts';

/**
 * `npm test` force-exits each file once its tests are done (so a handle left open cannot stall
 * the run), which on Node 20 can drop verdicts still buffered on the way to the runner. The
 * preload that makes the report's writes blocking must come with the flag.
 */
describe('the test command', () => {
  const dir = mkdtempSync(join(tmpdir(), 'custodian-runner-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('loads the blocking-stdout preload wherever it force-exits, and times files out', () => {
    const script = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.test ?? '';
    assert.match(script, /--test-force-exit/);
    assert.ok(script.includes(`--import ${PRELOAD}`), script);
    assert.match(script, /--test-timeout=\d+/);
  });

  it('reports every verdict of a force-exited file with a large report', () => {
    // 300 tests with 2,000-character names: without the preload some runs here lost 1-4 verdicts.
    const file = join(dir, 'many.test.mjs');
    writeFileSync(file, `import { it } from 'node:test';\nconst long = 'x'.repeat(2000);\nfor (let i = 0; i < 300; i++) it('t' + i + ' ' + long, () => {});\n`);
    // Run as a top-level runner: a NODE_TEST_CONTEXT inherited from this file would make it report to us in the runner's own protocol.
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    for (let run = 0; run < 3; run++) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', PRELOAD, '--test', '--test-force-exit', '--test-reporter=tap', file], { cwd: repo, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.split('\n').filter((l) => l.startsWith('ok ')).length, 300, `run ${run}`);
    }
  });
});
