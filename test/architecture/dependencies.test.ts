import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules') continue;
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

const STATIC_IMPORT = /^\s*(?:import|export)\s[^;]*?from\s+['"]([^'"]+)['"]/gm;
const ANY_IMPORT = /(?:from\s+|import\s*\(\s*)['"]([^'"]+)['"]/g;

function imports(file: string, pattern: RegExp): string[] {
  const src = readFileSync(file, 'utf8');
  return [...src.matchAll(pattern)].map((m) => m[1] as string);
}

const serverFiles = files(join(ROOT, 'server/src'));
const rel = (f: string) => relative(ROOT, f);

describe('architecture', () => {
  it('only the MongoDB adapter imports mongodb', () => {
    const offenders = [...serverFiles, ...files(join(ROOT, 'ledger-adapter')), ...files(join(ROOT, 'fixtures'))]
      .filter((f) => imports(f, ANY_IMPORT).some((s) => s === 'mongodb' || s.startsWith('mongodb/')))
      .map(rel)
      .filter((f) => !f.startsWith('server/src/store/mongo/'));
    assert.deepEqual(offenders, []);
  });

  it('only the HTTP edges (FHIR and the authorization server\'s) and the app import express', () => {
    const offenders = serverFiles
      .filter((f) => imports(f, ANY_IMPORT).includes('express'))
      .map(rel)
      .filter((f) => !f.startsWith('server/src/http/') && !f.startsWith('server/src/auth-server/http/') && f !== 'server/src/app.ts');
    assert.deepEqual(offenders, []);
  });

  it('the FHIR core and the stores do not know express or the environment', () => {
    for (const f of serverFiles.filter((x) => /server\/src\/(fhir|store|auth)\//.test(x))) {
      const src = readFileSync(f, 'utf8');
      assert.ok(!imports(f, ANY_IMPORT).includes('express'), `${rel(f)} imports express`);
      assert.ok(!/process\.env/.test(stripComments(src)), `${rel(f)} reads process.env`);
    }
  });

  it('only entry points read process.env', () => {
    const readers = serverFiles.filter((f) => /process\.env/.test(stripComments(readFileSync(f, "utf8")))).map(rel).sort();
    for (const f of readers) assert.match(f, /^server\/src\/(main\.ts|cli\/)/, `${f} reads the environment`);
  });

  it('the default configuration cannot load the MongoDB adapter statically', () => {
    // Walk static imports from main.ts; the Mongo engine may only be reached via import().
    const seen = new Set<string>();
    const walk = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const spec of imports(file, STATIC_IMPORT)) {
        if (!spec.startsWith('.')) continue;
        walk(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      }
    };
    walk(join(ROOT, 'server/src/main.ts'));
    const mongo = [...seen].map(rel).filter((f) => f.includes('store/mongo/'));
    assert.deepEqual(mongo, []);
    assert.ok(seen.size > 10, 'the walk followed the import graph');
  });
});

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}
