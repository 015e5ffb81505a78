import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { pino } from 'pino';
import { createApp } from './app.js';
import { ledgerStatus } from './ledger/ledger-status.js';
import { createAuthServer, storePatientDirectory, type AuthServer } from './auth-server/index.js';
import { tokenVerifierFor } from './auth/verify-token.js';
import { ConfigError, loadConfig, type Config } from './config/config.js';
import { openDependencies, type Dependencies } from './dependencies.js';
import { formatStats, seedPopulation, submitBundles } from './cli/seed.js';
import { consentScenarioBundles } from '../../fixtures/consent-scenarios/scenarios.js';
import { CONSOLE_CLIENT_ID, DEMO_ACTORS, STEWARD_USER, consoleRedirectUris } from '../../fixtures/actors/actors.js';
import { CONSOLE_DIST, CONSOLE_PATH } from './http/console-static.js';
import { demoPasswordsFile, ensureDemoActors } from '../../fixtures/actors/ensure-demo-actors.js';

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
  let authServer: AuthServer | undefined;
  try {
    authServer = await openAuthServer(deps);
  } catch (err) {
    logger.fatal({ err }, 'authorization server start-up failed');
    process.stderr.write(`Start-up failed: ${(err as Error).message}\n`);
    await deps.close().catch(() => undefined);
    process.exit(1);
  }

  const app = createApp({
    fhir: deps.service,
    baseUrl: config.baseUrl,
    maxBodyBytes: config.maxBodyBytes,
    logger,
    auth: { verifier: tokenVerifierFor(config.auth, authServer), ...(authServer ? { authServer } : {}) },
    ledgerStatus: () => ledgerStatus(deps.ledger),
    ...(authServer ? { console: { dir: CONSOLE_DIST, clientId: CONSOLE_CLIENT_ID } } : {}),
  });
  const server: Server = createServer(app);
  // Bulk Data export jobs run in the background; interrupted ones restart cleanly (ops/export).
  deps.exports.start();
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
        ...tokenHelp(config, base),
        ...consoleHelp(authServer !== undefined, base),
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
      Promise.all([deps.close(), authServer?.close()]).then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
    server.closeAllConnections?.();
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

/**
 * The built-in SMART authorization server (config.auth.mode 'builtin'), after making sure the
 * demo actors exist in DATA_DIR. With an external identity provider there is none.
 */
async function openAuthServer(deps: Dependencies): Promise<AuthServer | undefined> {
  const { config, logger } = deps;
  if (config.auth.mode !== 'builtin') return undefined;
  const demo = await ensureDemoActors(config.dataDir, { consoleRedirectUris: consoleRedirectUris(config.baseUrl) });
  if (demo.registered.length > 0 || demo.usersCreated.length > 0) logger.info(demo, 'demo actors written to DATA_DIR');
  return createAuthServer({
    auth: config.auth,
    baseUrl: config.baseUrl,
    dataDir: config.dataDir,
    patients: storePatientDirectory(deps.store, deps.defs),
    logger,
  });
}

/** How to call the server with a token, printed at start. */
function tokenHelp(config: Config, base: string): string[] {
  if (config.auth.mode === 'external') {
    return [`Everything else needs a bearer token from ${config.auth.issuer} (audience ${config.auth.audience}).`];
  }
  const roles = DEMO_ACTORS.map((a) => a.role).join('|');
  const users = DEMO_ACTORS.flatMap((a) => (a.kind === 'app' ? [`${a.user.username} (${a.role})`] : [])).join(', ');
  return [
    `Everything else needs a bearer token. The built-in SMART authorization server is ${config.auth.issuer}`,
    `(discovery: ${base}/.well-known/smart-configuration). A token for a demo actor, on the last line:`,
    `  npm run -s token -- --as ${roles}`,
    `  curl -H "Authorization: Bearer $(npm run -s token -- --as clinician | tail -1)" '${base}/Patient?_count=5'`,
    `  curl -H "Authorization: Bearer $(npm run -s token -- --as admin | tail -1)" -X POST -H 'Content-Type: application/fhir+json' \\`,
    `       -d '{"resourceType":"Patient","name":[{"family":"Doe"}]}' ${base}/Patient`,
    `(run npm run token with the same PORT/BASE_URL/DATA_DIR as the server). Sign-in page users: ${users};`,
    `their passwords are in ${demoPasswordsFile(config.dataDir)}.`,
  ];
}

/** Where the web console is, printed at start (it signs in through the built-in authorization server only). */
function consoleHelp(builtinAuth: boolean, base: string): string[] {
  if (!builtinAuth) return [];
  const url = `${new URL(base).origin}${CONSOLE_PATH}/`;
  const built = existsSync(join(CONSOLE_DIST, 'index.html'));
  return [
    `Web console: ${url} (patients: ${DEMO_ACTORS.flatMap((a) => (a.kind === 'app' && a.role === 'patient' ? [a.user.username] : [])).join(', ')}; data steward: ${STEWARD_USER.username})${built ? '' : ' — not built yet: npm run build:console'}`,
  ];
}

async function seedOnFirstStart(deps: Dependencies): Promise<void> {
  const { config, store, logger } = deps;
  if (!config.seedOnFirstStart || config.seedPatients === 0) return;
  const existing = await store.search({ resourceType: 'Patient', filter: {}, limit: 1 });
  if (existing.resources.length > 0) return;
  logger.info({ patients: config.seedPatients, seed: config.seed }, 'empty store: seeding demo data');
  const stats = await seedPopulation(deps.fhir, config.baseUrl, { patients: config.seedPatients, seed: config.seed });
  logger.info(`seeded ${formatStats(stats)}`);
  // The consent scenarios (fixtures/consent-scenarios): fixed `scn-` ids, written with PUT.
  const bundles = consentScenarioBundles().map((bundle, i) => ({ label: `consent scenarios ${i + 1}`, bundle }));
  logger.info(`seeded consent scenarios: ${formatStats(await submitBundles(deps.fhir, config.baseUrl, bundles))}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`Fatal: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
