/**
 * Benchmark-only twin of server/src/main.ts: the same server on the same store, except that
 * requests are not recorded as AuditEvents — `openDependencies(..., { audit: false })`. The audit
 * benchmark (`npm run bench -- audit`) runs it next to the real server to measure what auditing
 * costs a read. Everything else is as in main.ts: consent is enforced, tokens are verified, every
 * stored version still becomes a Merkle log leaf, checkpoints are signed and anchored, and
 * /ledger/status is served.
 *
 * Nothing in the server imports this file and no configuration reaches the option: it exists
 * only here, under bench/. It serves an external identity provider only (AUTH_ISSUER and
 * AUTH_JWKS_URL, as the bench issuer sets them), never the built-in authorization server, and
 * never seeds.
 */
import { createServer } from 'node:http';
import { pino } from 'pino';
import { createApp } from '../../server/src/app.js';
import { tokenVerifierFor } from '../../server/src/auth/verify-token.js';
import { loadConfig } from '../../server/src/config/config.js';
import { openDependencies } from '../../server/src/dependencies.js';
import { ledgerStatus } from '../../server/src/ledger/ledger-status.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  if (config.auth.mode !== 'external') throw new Error('custodian-unaudited serves an external identity provider only: set AUTH_ISSUER and AUTH_JWKS_URL');
  const logger = pino({ level: config.logLevel });
  const deps = await openDependencies(config, logger, { audit: false });
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
    process.stdout.write(`\nCustodian FHIR R4 server WITHOUT REQUEST AUDITING (benchmark only) listening on ${base} (${deps.store.engine} storage)\n`);
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

main().catch((err: unknown) => {
  process.stderr.write(`Fatal: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
