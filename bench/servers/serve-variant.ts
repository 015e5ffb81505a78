/**
 * Benchmark-only twins of server/src/main.ts share this: the same server on the same store,
 * except for one OpenOptions switch (`enforceConsent: false` for the consent benchmark,
 * `audit: false` for the audit benchmark), so a benchmark can run it next to the real server
 * and measure what that one concern costs.
 *
 * Nothing in the server imports bench/ and no configuration reaches those options. A twin serves
 * an external identity provider only (AUTH_ISSUER and AUTH_JWKS_URL, as the bench issuer sets
 * them), never the built-in authorization server, and never seeds.
 */
import { createServer } from 'node:http';
import { pino } from 'pino';
import { createApp } from '../../server/src/app.js';
import { tokenVerifierFor } from '../../server/src/auth/verify-token.js';
import { loadConfig } from '../../server/src/config/config.js';
import { openDependencies, type OpenOptions } from '../../server/src/dependencies.js';
import { ledgerStatus } from '../../server/src/ledger/ledger-status.js';

export function serveVariant(name: string, without: string, options: OpenOptions): void {
  main(name, without, options).catch((err: unknown) => {
    process.stderr.write(`Fatal: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  });
}

async function main(name: string, without: string, options: OpenOptions): Promise<void> {
  const config = loadConfig(process.env);
  if (config.auth.mode !== 'external') throw new Error(`${name} serves an external identity provider only: set AUTH_ISSUER and AUTH_JWKS_URL`);
  const logger = pino({ level: config.logLevel });
  const deps = await openDependencies(config, logger, options);
  const app = createApp({
    fhir: deps.service,
    baseUrl: config.baseUrl,
    maxBodyBytes: config.maxBodyBytes,
    logger,
    auth: { verifier: tokenVerifierFor(config.auth) },
    ledgerStatus: () => ledgerStatus(deps.ledger),
  });
  const server = createServer(app);
  server.listen(config.port, config.host);
  server.on('error', (err) => {
    process.stderr.write(`HTTP server error: ${err.message}\n`);
    process.exit(1);
  });
  server.on('listening', () => {
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.port;
    const base = config.baseUrl.replace(`:${config.port}/`, `:${port}/`);
    process.stdout.write(`\nCustodian FHIR R4 server WITHOUT ${without} (benchmark only) listening on ${base} (${deps.store.engine} storage)\n`);
  });
  let closing = false;
  const shutdown = (): void => {
    if (closing) return;
    closing = true;
    server.close(() => {
      deps.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
    server.closeAllConnections?.();
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}
