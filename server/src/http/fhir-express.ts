import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { Principal } from '../auth/principal.js';
import type { FhirHandler, FhirResponse } from '../fhir/fhir-request.js';
import { FhirError, normaliseError } from '../fhir/outcomes.js';
import { challengeHeaders, type EdgeGate } from './edge-auth.js';
import { toFhirRequest, writeFhirResponse } from './http-to-fhir.js';

export interface FhirExpressOptions {
  baseUrl: string;
  maxBodyBytes: number;
  logger: Logger;
  gate: EdgeGate;
}

/**
 * The FHIR edge as express middleware: authentication first (an unauthenticated client does
 * not get its body read), then the raw body with a size limit, then the FHIR core.
 */
export function fhirRouter(handler: FhirHandler, opts: FhirExpressOptions): express.Router {
  const router = express.Router();
  router.use(async (req: Request, res: Response, next: NextFunction) => {
    try {
      res.locals.principal = await opts.gate.principalFor({ method: req.method, target: req.url, headers: req.headers, remoteAddress: req.socket.remoteAddress });
      next();
    } catch (err) {
      next(err);
    }
  });
  router.use(express.raw({ type: () => true, limit: opts.maxBodyBytes }));
  router.use(async (req: Request, res: Response, next: NextFunction) => {
    try {
      const fhirReq = toFhirRequest({ method: req.method, target: req.url, headers: req.headers, body: req.body as Buffer | undefined }, opts.baseUrl);
      fhirReq.principal = res.locals.principal as Principal;
      writeFhirResponse(res, await handler.handle(fhirReq), req.method === 'HEAD');
    } catch (err) {
      next(err);
    }
  });
  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    writeFhirResponse(res, errorResponse(err, opts.logger, req), false);
  });
  return router;
}

/** Turns body-parser and other edge failures into OperationOutcomes; internals never leak. */
export function errorResponse(err: unknown, logger: Logger, req: { method: string; url: string }): FhirResponse {
  const e = err as { type?: string; status?: number; limit?: number };
  let mapped: unknown = err;
  if (e?.type === 'entity.too.large') mapped = new FhirError('too-large', `Request body exceeds the limit of ${e.limit ?? '?'} bytes`);
  else if (e?.type === 'request.aborted') mapped = new FhirError('bad-request', 'Request aborted by the client');
  else if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') mapped = new FhirError('unsupported-media-type', 'Unsupported content encoding or charset');
  else if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500 && !(err instanceof FhirError)) mapped = new FhirError('bad-request', 'Malformed request');
  const { status, outcome, internal } = normaliseError(mapped);
  if (internal) logger.error({ err, method: req.method, url: req.url }, 'unhandled error');
  const headers = challengeHeaders(err);
  return { status, body: outcome, ...(headers ? { headers } : {}) };
}
