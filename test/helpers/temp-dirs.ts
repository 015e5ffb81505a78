import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

/**
 * A maker of temporary directories named `custodian-<prefix>-…`, all removed after the suite
 * (or file) that called this: call it at the top of a file or inside a `describe`.
 */
export function tempDirs(prefix: string): () => string {
  const made: string[] = [];
  after(() => {
    for (const d of made) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), `custodian-${prefix}-`));
    made.push(d);
    return d;
  };
}
