import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { NdjsonFileWriter } from '../../server/src/ops/export/ndjson-file-writer.js';
import { batchClause } from '../../server/src/ops/export/run-export-job.js';
import { loadDefinitions } from '../../server/src/fhir/definitions.js';
import { PROFILES_DIR } from '../../server/src/dependencies.js';

const dir = mkdtempSync(join(tmpdir(), 'export-writer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('NdjsonFileWriter', () => {
  it('counts lines and bytes and hashes exactly the bytes written, across pages', async () => {
    const w = new NdjsonFileWriter(join(dir, 'a.ndjson'));
    await w.write(['{"resourceType":"Patient","id":"1","name":[{"text":"Zoë"}]}', '{"resourceType":"Patient","id":"2"}']);
    await w.write([]);
    await w.write(['{"resourceType":"Patient","id":"3"}']);
    const s = await w.finish();
    const bytes = readFileSync(join(dir, 'a.ndjson'));
    assert.equal(s.count, 3);
    assert.equal(s.bytes, bytes.length);
    assert.equal(s.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.deepEqual(
      bytes.toString('utf8').trimEnd().split('\n').map((l) => JSON.parse(l).id),
      ['1', '2', '3'],
    );
  });

  it('gives the same bytes and hash whatever the chunk size: lines across chunk ends, multi-byte text, lines longer than a chunk', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 300; i++) lines.push(JSON.stringify({ resourceType: 'Observation', id: `o${i}`, valueString: 'Zoë € 😀 '.repeat(i % 23) }));
    lines.push(JSON.stringify({ resourceType: 'Basic', id: 'long', text: 'é😀'.repeat(5000) }));
    const expected = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
    for (const chunkBytes of [1, 7, 64, 1000, 4096, 1 << 20]) {
      const path = join(dir, `chunk-${chunkBytes}.ndjson`);
      const w = new NdjsonFileWriter(path, chunkBytes);
      for (let p = 0; p < lines.length; p += 37) await w.write(lines.slice(p, p + 37));
      const s = await w.finish();
      const bytes = readFileSync(path);
      assert.ok(bytes.equals(expected), `chunk ${chunkBytes}: the file holds exactly the lines`);
      assert.deepEqual(s, { count: lines.length, bytes: expected.length, sha256: createHash('sha256').update(expected).digest('hex') });
    }
  });

  it('an empty export file is created, empty, with the hash of no bytes', async () => {
    const w = new NdjsonFileWriter(join(dir, 'empty.ndjson'));
    const s = await w.finish();
    assert.deepEqual(s, { count: 0, bytes: 0, sha256: createHash('sha256').digest('hex') });
    assert.equal(readFileSync(join(dir, 'empty.ndjson')).length, 0);
  });

  it('never overwrites an existing file (a restarted job starts from an emptied directory)', async () => {
    const first = new NdjsonFileWriter(join(dir, 'b.ndjson'));
    await first.write(['{}']);
    await first.finish();
    const again = new NdjsonFileWriter(join(dir, 'b.ndjson'));
    await assert.rejects(again.write(['{}']), /EEXIST/);
  });
});

describe('batchClause', () => {
  const defs = loadDefinitions(PROFILES_DIR);
  it("selects a batch's compartments with one $in per compartment parameter, relative and absolute references", () => {
    const c = batchClause({ defs }, 'Observation', ['a', 'b'], 'http://x/fhir') as { $or: Record<string, { $in: string[] }>[] };
    assert.ok(Array.isArray(c.$or));
    const subject = c.$or.find((x) => 'idx.subject' in x);
    assert.deepEqual(subject?.['idx.subject']?.$in, ['Patient/a', 'http://x/fhir/Patient/a', 'Patient/b', 'http://x/fhir/Patient/b']);
    assert.deepEqual(batchClause({ defs }, 'Patient', ['a'], 'http://x/fhir'), { id: { $in: ['a'] } });
  });
});
