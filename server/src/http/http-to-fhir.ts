import { closeSync, createReadStream, fstatSync, openSync } from 'node:fs';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { FhirRequest, FhirResponse } from '../fhir/fhir-request.js';
import { FhirError } from '../fhir/outcomes.js';
import { queryParams } from '../fhir/query-params.js';
import { parseBody } from './parse-body.js';

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** What the edge knows about an HTTP request, independent of express. */
export interface HttpInput {
  method: string;
  /** Request target below the FHIR base path, with query string, e.g. "/Patient/1?x=y". */
  target: string;
  headers: IncomingHttpHeaders;
  body?: Buffer;
}

/**
 * Turns an HTTP request into a FhirRequest. The base URL comes from configuration, never from
 * the Host header, so a client cannot make the server mint links to somewhere else.
 */
export function toFhirRequest(input: HttpInput, baseUrl: string): FhirRequest {
  if (!METHODS.has(input.method)) throw new FhirError('method-not-allowed', `${input.method} is not supported`);
  // Split by hand: a target such as "//x" must stay a path, not become a protocol-relative URL.
  const q = input.target.indexOf('?');
  const pathname = q < 0 ? input.target : input.target.slice(0, q);
  const search = q < 0 ? undefined : new URLSearchParams(input.target.slice(q + 1));
  checkAccept(search?.get('_format') ?? null, input.headers.accept);
  const query = queryParams(search ?? []);
  const body = parseBody(input.body, input.headers['content-type']);
  const path = pathname.replace(/^\/+|\/+$/g, '');
  // POST [type]/_search and POST [base]/_search carry their parameters form-encoded in the body
  // (R4 §3.1.1.1); they join the URL's parameters, as the spec allows both at once.
  if (body.form) {
    if (!/^[A-Za-z]+\/_search$/.test(path) && path !== '_search') {
      throw new FhirError('unsupported-media-type', 'Form-encoded bodies are accepted only by POST [type]/_search and POST [base]/_search');
    }
    queryParams(body.form, query);
  }
  const h = input.headers;
  const header = (name: string): string | undefined => {
    const v = h[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const headers: FhirRequest['headers'] = {};
  for (const name of ['if-match', 'if-none-exist', 'if-none-match', 'if-modified-since', 'prefer', 'content-type'] as const) {
    const v = header(name);
    if (v) headers[name] = v;
  }
  return {
    method: input.method as FhirRequest['method'],
    path,
    query,
    ...(body.json !== undefined ? { body: body.json } : {}),
    headers,
    baseUrl,
  };
}

/** JSON is the one format served; asking only for something else (e.g. XML) is a 406. */
function checkAccept(format: string | null, accept: string | undefined): void {
  if (format && !/json/i.test(format)) throw new FhirError('not-acceptable', `_format '${format}' is not supported; this server speaks JSON`);
  if (!accept) return;
  const ok = accept.split(',').some((part) => {
    const type = part.split(';')[0]?.trim().toLowerCase() ?? '';
    return type === '*/*' || type === 'application/*' || type.includes('json');
  });
  if (!ok) throw new FhirError('not-acceptable', `Accept '${accept}' cannot be satisfied; this server speaks application/fhir+json`);
}

/** Writes a FhirResponse with node's own API (express's Response is a ServerResponse too). */
export function writeFhirResponse(res: ServerResponse, out: FhirResponse, head: boolean): void {
  // Not a spread: a spread copy that then gains keys is a ~2 µs slow path in V8 (Node 20).
  const headers: Record<string, string | number> = Object.assign({}, out.headers);
  if (out.file) {
    writeFileBody(res, out.status, headers, out.file, head);
    return;
  }
  if ((out.json === undefined && out.body === undefined) || out.status === 304) {
    res.writeHead(out.status, headers);
    res.end();
    return;
  }
  const json = out.json ?? JSON.stringify(out.body);
  headers['Content-Type'] = out.contentType ?? FHIR_JSON;
  headers['Content-Length'] = Buffer.byteLength(json);
  res.writeHead(out.status, headers);
  // One string write lets node send headers and body in a single packet.
  res.end(head ? undefined : json);
}

/**
 * Streams a file as the body, never holding it in memory (Bulk Data NDJSON files can be
 * gigabytes). The file is opened before the headers go out, so a file removed in between
 * (expiry, cancellation) is a 404 rather than a truncated 200.
 */
function writeFileBody(res: ServerResponse, status: number, headers: Record<string, string | number>, file: { path: string; contentType: string }, head: boolean): void {
  let fd: number;
  try {
    fd = openSync(file.path, 'r');
  } catch {
    const text = JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found', details: { text: 'The file no longer exists' } }] });
    res.writeHead(404, { 'Content-Type': FHIR_JSON, 'Content-Length': Buffer.byteLength(text) });
    res.end(head ? undefined : text);
    return;
  }
  const size = fstatSync(fd).size;
  res.writeHead(status, { ...headers, 'Content-Type': file.contentType, 'Content-Length': size });
  if (head) {
    closeSync(fd);
    res.end();
    return;
  }
  const stream = createReadStream('', { fd, autoClose: true });
  stream.on('error', () => res.destroy());
  res.on('close', () => stream.destroy());
  stream.pipe(res);
}
