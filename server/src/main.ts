import { createServer, type Server } from 'node:http';
import { pino } from 'pino';
import { createApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config/config.js';
import { openDependencies, type Dependencies } from './dependencies.js';
import { formatStats, seedPopulation } from './cli/seed.js';

/**
 * The composition root: the only place that reads the environment and process state.
 * Validates configuration, opens storage, seeds demo data on first start, serves HTTP and
 * shuts down cleanly on SIGINT/SIGTERM.
 */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\nSee README.md "Configuration" for every variable.\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = pino({ level: config.logLevel });
  let deps: Dependencies;
  try {
    deps = await openDependencies(config, logger);
  } catch (err) {
    logger.fatal({ err }, 'start-up failed');
    process.stderr.write(`Start-up failed: ${(err as Error).message}\n`);
    process.exit(1);
  }
  await seedOnFirstStart(deps);

  const app = createApp({ fhir: deps.fhir, baseUrl: config.baseUrl, maxBodyBytes: config.maxBodyBytes, logger });
  const server: Server = createServer(app);
  server.listen(config.port, config.host);
  server.on('error', (err) => {
    logger.fatal({ err }, 'HTTP server error');
    process.exit(1);
  });
  server.on('listening', () => {
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.port;
    const base = config.baseUrl.replace(`:${config.port}/`, `:${port}/`);
    logger.info({ port, engine: deps.store.engine, baseUrl: base }, 'listening');
    process.stdout.write(
      [
        '',
        `Custodian FHIR R4 server listening on ${base} (${deps.store.engine} storage${deps.store.engine === 'embedded' ? ` in ${config.dataDir}` : ''})`,
        `  curl ${base}/metadata`,
        `  curl '${base}/Patient?_count=5'`,
        `  curl -X POST -H 'Content-Type: application/fhir+json' -d '{"resourceType":"Patient","name":[{"family":"Doe"}]}' ${base}/Patient`,
        '',
      ].join('\n'),
    );
  });

  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    server.close(() => {
      deps.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
    server.closeAllConnections?.();
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

async function seedOnFirstStart(deps: Dependencies): Promise<void> {
  const { config, store, logger } = deps;
  if (!config.seedOnFirstStart || config.seedPatients === 0) return;
  const existing = await store.search({ resourceType: 'Patient', filter: {}, limit: 1 });
  if (existing.resources.length > 0) return;
  logger.info({ patients: config.seedPatients, seed: config.seed }, 'empty store: seeding demo data');
  const stats = await seedPopulation(deps.fhir, config.baseUrl, { patients: config.seedPatients, seed: config.seed });
  logger.info(`seeded ${formatStats(stats)}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`Fatal: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
