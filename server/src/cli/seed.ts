/**
 * `npm run seed -- --patients N [--seed S] [--start I]`
 *
 * Generates the deterministic synthetic population (fixtures/population) and submits it to
 * the FHIR core in-process, one transaction per bundle, exactly as an HTTP client would POST
 * it to the base URL. Also exports the pieces main.ts (seed on first start) and the import CLI
 * reuse: `seedPopulation` and `submitBundles`.
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { populationBundles, type PopulationOptions } from '../../../fixtures/population/generate-population.js';
import { loadConfig } from '../config/config.js';
import type { FhirHandler } from '../fhir/fhir-request.js';
import { UsageError, asUsageError, intOption, isMainModule, runCli } from './cli-args.js';
import { withDependencies } from './with-dependencies.js';

export interface LabeledBundle {
  /** Names the bundle in progress and error messages (a file name, "patient 17"). */
  readonly label: string;
  readonly bundle: Bundle;
}

export interface SubmitProgress {
  readonly bundles: number;
  readonly resources: number;
  /** Total number of bundles, when known in advance. */
  readonly total?: number;
  readonly label: string;
}

export interface SubmitStats {
  readonly bundles: number;
  /** Entries submitted (each entry is one resource). */
  readonly resources: number;
  readonly seconds: number;
}

/** The server answered a bundle with a non-2xx status (or a batch entry failed). */
export class BundleRejectedError extends Error {
  constructor(
    readonly label: string,
    readonly status: number,
    readonly outcome: Resource | undefined,
    readonly stats: SubmitStats,
  ) {
    super(`${label}: rejected with HTTP ${status}`);
  }
}

/** A batch answers 200 even when entries fail; return the first failing entry's status and outcome. */
function failedBatchEntry(body: Resource | undefined): { status: number; outcome?: Resource } | undefined {
  if (body?.resourceType !== 'Bundle' || body.type !== 'batch-response') return undefined;
  for (const entry of body.entry ?? []) {
    const status = Number.parseInt(entry.response?.status ?? '', 10);
    if (!(status >= 200 && status < 300)) return { status, outcome: entry.response?.outcome ?? entry.resource };
  }
  return undefined;
}

/**
 * Submits bundles one request each, in order, and stops at the first rejected one
 * (BundleRejectedError carries its OperationOutcome and what was committed before it).
 */
export async function submitBundles(
  fhir: FhirHandler,
  baseUrl: string,
  bundles: Iterable<LabeledBundle> | AsyncIterable<LabeledBundle>,
  options: { total?: number; onProgress?: (p: SubmitProgress) => void } = {},
): Promise<SubmitStats> {
  const t0 = performance.now();
  let count = 0;
  let resources = 0;
  const stats = (): SubmitStats => ({ bundles: count, resources, seconds: (performance.now() - t0) / 1000 });
  for await (const { label, bundle } of bundles) {
    const response = await fhir.handle({
      method: 'POST',
      path: '',
      query: {},
      body: bundle,
      headers: { 'content-type': 'application/fhir+json' },
      baseUrl,
    });
    if (response.status < 200 || response.status >= 300) {
      throw new BundleRejectedError(label, response.status, response.body, stats());
    }
    const failed = failedBatchEntry(response.body);
    if (failed) throw new BundleRejectedError(label, failed.status, failed.outcome, stats());
    count++;
    resources += bundle.entry?.length ?? 0;
    options.onProgress?.({ bundles: count, resources, total: options.total, label });
  }
  return stats();
}

/**
 * Seeds the synthetic population: the directory (idempotent PUTs), then one transaction per
 * patient. Seeding twice adds the patients twice; main.ts calls this only on first start.
 */
export async function seedPopulation(
  fhir: FhirHandler,
  baseUrl: string,
  opts: PopulationOptions & { onProgress?: (p: SubmitProgress) => void },
): Promise<SubmitStats> {
  const start = opts.start ?? 0;
  function* labeled(): Generator<LabeledBundle> {
    let i = -1;
    for (const bundle of populationBundles(opts)) {
      yield { label: i < 0 ? 'directory' : `patient ${start + i}`, bundle };
      i++;
    }
  }
  return submitBundles(fhir, baseUrl, labeled(), { total: opts.patients + 1, onProgress: opts.onProgress });
}

/** "1,234 resources in 2.5 s (493.6 resources/s)" */
export function formatStats(stats: SubmitStats): string {
  const rate = stats.seconds > 0 ? stats.resources / stats.seconds : 0;
  return (
    `${stats.bundles.toLocaleString('en-US')} bundles, ${stats.resources.toLocaleString('en-US')} resources ` +
    `in ${stats.seconds.toFixed(2)} s (${rate.toFixed(1)} resources/s)`
  );
}

/** Progress printer: a line on stderr about every tenth of the way (every 100 bundles when the total is unknown). */
export function progressPrinter(name: string): (p: SubmitProgress) => void {
  return (p) => {
    const step = p.total ? Math.max(1, Math.floor(p.total / 10)) : 100;
    if (p.bundles % step === 0 || p.bundles === p.total) {
      const of = p.total ? `/${p.total}` : '';
      process.stderr.write(`[${name}] ${p.bundles}${of} bundles, ${p.resources} resources (last: ${p.label})\n`);
    }
  };
}

/** Prints a rejection with its OperationOutcome. */
export function printRejection(err: BundleRejectedError): void {
  process.stderr.write(`${err.message}\n`);
  if (err.outcome) process.stderr.write(`${JSON.stringify(err.outcome, null, 2)}\n`);
  process.stderr.write(`Committed before the failure: ${formatStats(err.stats)}\n`);
}

const USAGE = `Usage: npm run seed -- [--patients N] [--seed S] [--start I]

Generates the deterministic synthetic population and submits it to the server's storage
in-process: first the shared directory (organisations, practitioners; PUT with stable ids),
then one transaction bundle per patient.

Options:
  --patients N   number of patients (default: SEED_PATIENTS, 25)
  --seed S       population seed; same seed, same data (default: SEED, 42)
  --start I      index of the first patient (default 0), to add a population in batches
  -h, --help     print this help

Storage and base URL come from the environment (DATA_DIR, MONGODB_URI, BASE_URL, ...).
`;

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        patients: { type: 'string' },
        seed: { type: 'string' },
        start: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw asUsageError(err);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const config = loadConfig(process.env);
  const patients = intOption('patients', values.patients, config.seedPatients, 0);
  const seed = intOption('seed', values.seed, config.seed);
  const start = intOption('start', values.start, 0, 0);

  return withDependencies(config, async (deps) => {
    process.stderr.write(`[seed] ${patients} patients, seed ${seed}, start ${start} -> ${config.baseUrl}\n`);
    const stats = await seedPopulation(deps.fhir, config.baseUrl, { patients, seed, start, onProgress: progressPrinter('seed') });
    process.stdout.write(`Seeded ${formatStats(stats)}\n`);
    return 0;
  });
}

if (isMainModule(import.meta.url)) runCli('seed', USAGE, main);
