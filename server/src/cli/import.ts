/**
 * `npm run import -- <file-or-dir> [...]`
 *
 * Loads FHIR transaction/batch Bundles from JSON files (Synthea's output, for instance) into
 * the server in-process, one request per bundle. A directory contributes all its *.json files
 * in name order. Synthea's shared bundles (hospitalInformation*.json, then
 * practitionerInformation*.json) go first: patient bundles from Synthea 3.x refer to them by
 * conditional reference (`Organization?identifier=…`); 2.x patient bundles carry their own
 * copies, so for them the order is harmless. Stops at the first unreadable file or rejected
 * bundle.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Bundle } from '@medplum/fhirtypes';
import { loadConfig } from '../config/config.js';
import { UsageError, asUsageError, isMainModule, runCli } from './cli-args.js';
import { type LabeledBundle, formatStats, progressPrinter, submitBundles } from './seed.js';
import { withDependencies } from './with-dependencies.js';

/** A file that cannot be imported (unreadable, not JSON, not a transaction or batch Bundle). */
export class BadInputError extends Error {}

function priority(file: string): number {
  const name = basename(file);
  if (name.startsWith('hospitalInformation')) return 0;
  if (name.startsWith('practitionerInformation')) return 1;
  return 2;
}

/**
 * Expands the arguments into the list of files to import: files as given, directories as
 * their *.json files (not subdirectories) sorted by name; then Synthea's shared bundles first (stable otherwise).
 */
export async function listInputFiles(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    let info;
    try {
      info = await stat(path);
    } catch {
      throw new BadInputError(`${path}: no such file or directory`);
    }
    if (info.isDirectory()) {
      const names = (await readdir(path, { withFileTypes: true }))
        .filter((d) => (d.isFile() || d.isSymbolicLink()) && d.name.toLowerCase().endsWith('.json'))
        .map((d) => d.name)
        .sort();
      files.push(...names.map((n) => join(path, n)));
    } else {
      files.push(path);
    }
  }
  return files
    .map((file, order) => ({ file, order }))
    .sort((a, b) => priority(a.file) - priority(b.file) || a.order - b.order)
    .map((f) => f.file);
}

/** Reads and checks one bundle file; every failure names the file. */
export async function readBundleFile(file: string): Promise<Bundle> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new BadInputError(`${file}: cannot read: ${err instanceof Error ? err.message : String(err)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new BadInputError(`${file}: invalid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const bundle = json as Partial<Bundle> | null;
  if (bundle === null || typeof bundle !== 'object' || bundle.resourceType !== 'Bundle') {
    throw new BadInputError(`${file}: not a FHIR Bundle`);
  }
  if (bundle.type !== 'transaction' && bundle.type !== 'batch') {
    throw new BadInputError(`${file}: Bundle.type is "${String(bundle.type)}"; only transaction and batch bundles can be imported`);
  }
  return bundle as Bundle;
}

/** Files read one at a time, so memory stays flat however many there are. */
export async function* readBundles(files: readonly string[]): AsyncGenerator<LabeledBundle> {
  for (const file of files) yield { label: file, bundle: await readBundleFile(file) };
}

const USAGE = `Usage: npm run import -- <file-or-dir> [<file-or-dir> ...]

Imports FHIR transaction or batch Bundles from JSON files into the server's storage,
in-process, one request per bundle. A directory contributes all its *.json files in name
order; Synthea's hospitalInformation*.json and practitionerInformation*.json go first.
Stops at the first unreadable file or rejected bundle (exit status 1).

Options:
  -h, --help     print this help

Storage and base URL come from the environment (DATA_DIR, MONGODB_URI, BASE_URL, ...).
`;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true });
  } catch (err) {
    throw asUsageError(err);
  }
  if (parsed.values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (parsed.positionals.length === 0) throw new UsageError('no files or directories given');

  const files = await listInputFiles(parsed.positionals);
  if (files.length === 0) throw new BadInputError(`no *.json files in ${parsed.positionals.join(', ')}`);

  const config = loadConfig(process.env);
  return withDependencies(config, async (deps) => {
    process.stderr.write(`[import] ${files.length} files -> ${config.baseUrl}\n`);
    const print = progressPrinter('import');
    let committed = 0;
    const stats = await submitBundles(deps.fhir, config.baseUrl, readBundles(files), {
      total: files.length,
      onProgress: (p) => {
        committed = p.bundles;
        print(p);
      },
    }).catch((err: unknown) => {
      if (err instanceof BadInputError) {
        throw new BadInputError(`${err.message}\nStopped; ${committed} bundle(s) before it were committed.`);
      }
      throw err;
    });
    process.stdout.write(`Imported ${formatStats(stats)}\n`);
    return 0;
  });
}

if (isMainModule(import.meta.url)) runCli('import', USAGE, main);
