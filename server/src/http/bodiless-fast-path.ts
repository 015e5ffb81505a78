import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { FhirHandler } from '../fhir/fhir-request.js';
import { errorResponse } from './fhir-express.js';
import { toFhirRequest, writeFhirResponse } from './http-to-fhir.js';

/**
 * Reads (GET/HEAD without a body) under the FHIR base go straight to the FHIR core: none of
 * express's middleware applies to them, and skipping its router is most of a read's cost.
 * Everything else — writes, bodies, size limits, non-FHIR paths — goes to the express app.
 * Both paths use the same request conversion and response writer.
 */
export function withBodilessFastPath(
  app: RequestListener,
  fhir: FhirHandler,
  opts: { basePath: string; baseUrl: string; logger: Logger },
): RequestListener {
  const prefix = opts.basePath === '/' ? '/' : `${opts.basePath}/`;
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    const bodiless = (req.method === 'GET' || req.method === 'HEAD') && !req.headers['content-length'] && !req.headers['transfer-encoding'];
    if (!bodiless || !(url.startsWith(prefix) || url === opts.basePath || url.startsWith(`${opts.basePath}?`))) {
      app(req, res);
      return;
    }
    const target = url.slice(opts.basePath === '/' ? 0 : opts.basePath.length) || '/';
    const head = req.method === 'HEAD';
    let fhirReq;
    try {
      fhirReq = toFhirRequest({ method: req.method as string, target, headers: req.headers }, opts.baseUrl);
    } catch (err) {
      writeFhirResponse(res, errorResponse(err, opts.logger, { method: req.method as string, url }), head);
      return;
    }
    fhir.handle(fhirReq).then(
      (out) => writeFhirResponse(res, out, head),
      (err: unknown) => writeFhirResponse(res, errorResponse(err, opts.logger, { method: req.method as string, url }), head),
    );
  };
}
