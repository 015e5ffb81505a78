import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { FhirHandler } from '../fhir/fhir-request.js';
import type { EdgeGate } from './edge-auth.js';
import { errorResponse } from './fhir-express.js';
import { toFhirRequest, writeFhirResponse } from './http-to-fhir.js';

/**
 * Reads (GET/HEAD without a body) under the FHIR base go straight to the FHIR core: none of
 * express's middleware applies to them, and skipping its router is most of a read's cost.
 * They pass the same bearer-token gate as every other FHIR request. Everything else — writes,
 * bodies, size limits, non-FHIR paths, `[base]/.well-known/…` — goes to the express app.
 * Both paths use the same gate, request conversion and response writer.
 */
export function withBodilessFastPath(
  app: RequestListener,
  fhir: FhirHandler,
  opts: { basePath: string; baseUrl: string; logger: Logger; gate: EdgeGate },
): RequestListener {
  const prefix = opts.basePath === '/' ? '/' : `${opts.basePath}/`;
  const wellKnown = `${opts.basePath === '/' ? '' : opts.basePath}/.well-known/`;
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    const bodiless = (req.method === 'GET' || req.method === 'HEAD') && !req.headers['content-length'] && !req.headers['transfer-encoding'];
    if (!bodiless || !(url.startsWith(prefix) || url === opts.basePath || url.startsWith(`${opts.basePath}?`)) || url.startsWith(wellKnown)) {
      app(req, res);
      return;
    }
    const target = url.slice(opts.basePath === '/' ? 0 : opts.basePath.length) || '/';
    const head = req.method === 'HEAD';
    const method = req.method as string;
    const fail = (err: unknown): void => writeFhirResponse(res, errorResponse(err, opts.logger, { method, url }), head);
    opts.gate.principalFor({ method, target, headers: req.headers, remoteAddress: req.socket.remoteAddress }).then((principal) => {
      let fhirReq;
      try {
        fhirReq = toFhirRequest({ method, target, headers: req.headers }, opts.baseUrl);
      } catch (err) {
        fail(err);
        return;
      }
      fhirReq.principal = principal;
      fhir.handle(fhirReq).then((out) => writeFhirResponse(res, out, head), fail);
    }, fail);
  };
}
