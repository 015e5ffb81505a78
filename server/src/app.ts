import type { RequestListener } from 'node:http';
import express from 'express';
import type { Logger } from 'pino';
import type { FhirHandler } from './fhir/fhir-request.js';
import { withBodilessFastPath } from './http/bodiless-fast-path.js';
import { fhirRouter } from './http/fhir-express.js';

export interface AppDeps {
  fhir: FhirHandler;
  baseUrl: string;
  maxBodyBytes: number;
  logger: Logger;
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
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.use(basePath, fhirRouter(deps.fhir, { baseUrl: deps.baseUrl, maxBodyBytes: deps.maxBodyBytes, logger: deps.logger }));
  app.use((req, res) => {
    res.status(404).type('application/fhir+json').send(
      JSON.stringify({
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'not-found', details: { text: `Nothing at ${req.path}; the FHIR base is ${deps.baseUrl}` } }],
      }),
    );
  });
  return withBodilessFastPath(app, deps.fhir, { basePath, baseUrl: deps.baseUrl, logger: deps.logger });
}
