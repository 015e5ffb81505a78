/**
 * The part every storage-touching command shares: open the server's dependencies from the
 * validated config (logs to stderr, so stdout stays the command's answer), run, close.
 * A bundle the server rejected is exit status 1 with the server's OperationOutcome printed.
 */
import { pino } from 'pino';
import type { Config } from '../config/config.js';
import type { Dependencies, OpenOptions } from '../dependencies.js';
import { BundleRejectedError, printRejection } from './seed.js';

export async function withDependencies(config: Config, run: (deps: Dependencies) => Promise<number>, opts: OpenOptions = {}): Promise<number> {
  // Loaded here, not at the top, so that importing seedPopulation (main.ts, tests) does not
  // pull in the storage engines.
  const { openDependencies } = await import('../dependencies.js');
  const logger = pino({ level: config.logLevel }, pino.destination(2));
  const deps = await openDependencies(config, logger, opts);
  try {
    return await run(deps);
  } catch (err) {
    if (err instanceof BundleRejectedError) {
      printRejection(err);
      return 1;
    }
    throw err;
  } finally {
    await deps.close();
  }
}
