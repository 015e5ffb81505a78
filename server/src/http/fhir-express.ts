import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { FhirHandler, FhirRequest, FhirResponse } from '../fhir/fhir-request.js';
import { FhirError, normaliseError } from '../fhir/outcomes.js';
import { queryParams } from '../fhir/query-params.js';
import { parseBody } from './parse-body.js';

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

export interface FhirExpressOptions {
  baseUrl: string;
  maxBodyBytes: number;
  logger: Logger;
}

/**
 * The HTTP edge: turns an express request into a FhirRequest and a FhirResponse back into
 * HTTP. No FHIR logic lives here. The base URL comes from configuration, never from the Host
 * header, so a client cannot make the server mint links to somewhere else.
 */
export function fhirRouter(handler: FhirHandler, opts: FhirExpressOptions): express.Router {
  const router = express.Router();
  router.use(express.raw({ type: () => true, limit: opts.maxBodyBytes }));
  router.use(async (req: Request, res: Response, next: NextFunction) => {
    try {
      const fhirReq = toFhirRequest(req, opts.baseUrl);
      send(res, await handler.handle(fhirReq), req.method === 'HEAD');
    } catch (err) {
      next(err);
    }
  });
  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    send(res, errorResponse(err, opts.logger, req), false);
  });
  return router;
}

function toFhirRequest(req: Request, baseUrl: string): FhirRequest {
  if (!METHODS.has(req.method)) throw new FhirError('method-not-allowed', `${req.method} is not supported`);
  checkAccept(req);
  const url = new URL(req.originalUrl, 'http://internal');
  const query = queryParams(url.searchParams);
  const body = parseBody(req.body as Buffer | undefined, req.headers['content-type']);
  let path = req.path.replace(/^\/+|\/+$/g, '');
  // POST [type]/_search carries its parameters form-encoded in the body (R4 §3.1.1.1).
  if (body.form) {
    if (!/^[A-Za-z]+\/_search$/.test(path) && path !== '_search') {
      throw new FhirError('unsupported-media-type', 'Form-encoded bodies are accepted only by POST [type]/_search');
    }
    queryParams(body.form, query);
  }
  if (path === '_search') path = '';
  const h = req.headers;
  const header = (name: string): string | undefined => {
    const v = h[name];
    return Array.isArray(v) ? v[0] : v;
  };
  return {
    method: req.method as FhirRequest['method'],
    path,
    query,
    ...(body.json !== undefined ? { body: body.json } : {}),
    headers: {
      ...(header('if-match') ? { 'if-match': header('if-match') } : {}),
      ...(header('if-none-exist') ? { 'if-none-exist': header('if-none-exist') } : {}),
      ...(header('if-none-match') ? { 'if-none-match': header('if-none-match') } : {}),
      ...(header('if-modified-since') ? { 'if-modified-since': header('if-modified-since') } : {}),
      ...(header('prefer') ? { prefer: header('prefer') } : {}),
      ...(header('content-type') ? { 'content-type': header('content-type') } : {}),
    },
    baseUrl,
  };
}

/** JSON is the one format served; asking only for something else (e.g. XML) is a 406. */
function checkAccept(req: Request): void {
  const format = new URL(req.originalUrl, 'http://internal').searchParams.get('_format');
  if (format && !/json/i.test(format)) throw new FhirError('not-acceptable', `_format '${format}' is not supported; this server speaks JSON`);
  const accept = req.headers.accept;
  if (!accept) return;
  const ok = accept.split(',').some((part) => {
    const type = part.split(';')[0]?.trim().toLowerCase() ?? '';
    return type === '*/*' || type === 'application/*' || type.includes('json');
  });
  if (!ok) throw new FhirError('not-acceptable', `Accept '${accept}' cannot be satisfied; this server speaks application/fhir+json`);
}

function send(res: Response, out: FhirResponse, head: boolean): void {
  res.status(out.status);
  for (const [k, v] of Object.entries(out.headers ?? {})) res.setHeader(k, v);
  if (out.body === undefined || out.status === 304) {
    res.end();
    return;
  }
  const json = JSON.stringify(out.body);
  res.setHeader('Content-Type', FHIR_JSON);
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.end(head ? undefined : json);
}

/** Turns body-parser and other edge failures into OperationOutcomes; internals never leak. */
export function errorResponse(err: unknown, logger: Logger, req: Request): FhirResponse {
  const e = err as { type?: string; status?: number; limit?: number };
  let mapped: unknown = err;
  if (e?.type === 'entity.too.large') mapped = new FhirError('too-large', `Request body exceeds the limit of ${e.limit ?? '?'} bytes`);
  else if (e?.type === 'request.aborted') mapped = new FhirError('bad-request', 'Request aborted by the client');
  else if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') mapped = new FhirError('unsupported-media-type', 'Unsupported content encoding or charset');
  else if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500 && !(err instanceof FhirError)) mapped = new FhirError('bad-request', 'Malformed request');
  const { status, outcome, internal } = normaliseError(mapped);
  if (internal) logger.error({ err, method: req.method, url: req.originalUrl }, 'unhandled error');
  return { status, body: outcome };
}
