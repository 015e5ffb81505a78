import type { RequestListener } from 'node:http';
import express, { type RequestHandler } from 'express';
import type { Logger } from 'pino';
import { createAuthenticator } from './auth/authenticate.js';
import type { TokenVerifier } from './auth/verify-token.js';
import type { FhirService } from './fhir/fhir-service.js';
import { withBodilessFastPath } from './http/bodiless-fast-path.js';
import { createEdgeGate } from './http/edge-auth.js';
import { fhirRouter } from './http/fhir-express.js';
import { CONSOLE_PATH, consoleRouter, type ConsoleSite } from './http/console-static.js';

/**
 * How the app authenticates. There is no setting that turns it off: the verifier is a
 * dependency, and production builds it from configuration (`tokenVerifierFor`: the built-in
 * authorization server's keys, or the external issuer's JWKS); tests pass one that trusts
 * their own in-memory issuer.
 */
export interface AppAuth {
  verifier: TokenVerifier;
  /**
   * The built-in authorization server (SMART App Launch and Backend Services), mounted at
   * `/auth`; absent when an external identity provider issues the tokens.
   */
  authServer?: { router: RequestHandler; smartConfiguration(): object };
}

export interface AppDeps {
  /** The gated FHIR core (Dependencies.service): requests reach it only with a principal. */
  fhir: FhirService;
  baseUrl: string;
  maxBodyBytes: number;
  logger: Logger;
  auth: AppAuth;
  /** The ledger's status (ledger/ledger-status.ts), served publicly at /ledger/status. */
  ledgerStatus?: () => Promise<Record<string, unknown>>;
  /** The web console's static build, served at /console/; absent: no console. */
  console?: ConsoleSite;
}

/**
 * Builds the HTTP request listener from its dependencies; reads nothing global. Pass it to
 * `http.createServer` (or supertest).
 */
export function createApp(deps: AppDeps): RequestListener {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', false);
  const basePath = new URL(deps.baseUrl).pathname.replace(/\/+$/, '') || '/';
  const gate = createEdgeGate(createAuthenticator(deps.auth.verifier, deps.baseUrl));
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  const ledgerStatus = deps.ledgerStatus;
  if (ledgerStatus) {
    app.get('/ledger/status', (_req, res, next) => {
      ledgerStatus().then((s) => res.set('Cache-Control', 'no-store').json(s), next);
    });
  }
  // SMART discovery (App Launch 2.x, https://hl7.org/fhir/smart-app-launch/conformance.html):
  // at the origin and under the FHIR base, both public.
  const authServer = deps.auth.authServer;
  const smartConfiguration: RequestHandler = (_req, res) => {
    if (!authServer) {
      notFound(res, 'This server trusts an external identity provider; its SMART configuration is published by that provider');
      return;
    }
    res.set('Cache-Control', 'no-store').json(authServer.smartConfiguration());
  };
  app.get('/.well-known/smart-configuration', smartConfiguration);
  app.get(`${basePath === '/' ? '' : basePath}/.well-known/smart-configuration`, smartConfiguration);
  if (authServer) app.use('/auth', authServer.router);
  if (deps.console) app.use(CONSOLE_PATH, consoleRouter(deps.console, deps.baseUrl));
  app.use(basePath, fhirRouter(deps.fhir, { baseUrl: deps.baseUrl, maxBodyBytes: deps.maxBodyBytes, logger: deps.logger, gate }));
  app.use((req, res) => notFound(res, `Nothing at ${req.path}; the FHIR base is ${deps.baseUrl}`));
  return withBodilessFastPath(app, deps.fhir, { basePath, baseUrl: deps.baseUrl, logger: deps.logger, gate });
}

function notFound(res: express.Response, text: string): void {
  res.status(404).type('application/fhir+json').send(
    JSON.stringify({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'not-found', details: { text } }],
    }),
  );
}
