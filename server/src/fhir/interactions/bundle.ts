import type { Binary, Bundle, BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { Definitions } from '../definitions.js';
import type { FhirContext } from '../fhir-context.js';
import type { FhirHandler, FhirRequest, FhirResponse } from '../fhir-request.js';
import { FhirError, normaliseError } from '../outcomes.js';
import { queryParams } from '../query-params.js';
import { etag, statusLine, versionUrl } from '../resource-response.js';
import { applyWrites } from './apply-writes.js';
import { resolveIntent } from './resolve-intent.js';
import { bodyResource, jsonPatch } from './write.js';
import { assertWritable } from './write-guard.js';
import type { ResolvedIntent, WriteIntent } from './write-intent.js';

/**
 * batch and transaction (R4 §3.1.0.12, https://hl7.org/fhir/R4/http.html#transaction).
 * A transaction resolves every entry, rewrites urn:uuid references to the assigned ids, then
 * commits all writes in one atomic store commit; reads run after the writes, as the spec orders.
 */
export async function processBundle(ctx: FhirContext, req: FhirRequest, router: FhirHandler): Promise<FhirResponse> {
  const bundle = req.body as Bundle | undefined;
  if (!bundle || typeof bundle !== 'object' || bundle.resourceType !== 'Bundle') {
    throw new FhirError('bad-request', 'POST to the base URL takes a Bundle of type batch or transaction');
  }
  if (bundle.type !== 'batch' && bundle.type !== 'transaction') {
    throw new FhirError('bad-request', `Bundle.type must be batch or transaction, got '${String(bundle.type)}'`, 'Bundle.type');
  }
  const entries = bundle.entry ?? [];
  if (!Array.isArray(entries)) throw new FhirError('bad-request', 'Bundle.entry must be an array', 'Bundle.entry');
  entries.forEach((e, i) => {
    if (!e?.request?.method || typeof e.request.url !== 'string') {
      throw new FhirError('bad-request', `Bundle.entry[${i}].request needs method and url`, `Bundle.entry[${i}].request`);
    }
  });
  return bundle.type === 'batch' ? batch(req, entries, router) : transaction(ctx, req, entries, router);
}

async function batch(req: FhirRequest, entries: BundleEntry[], router: FhirHandler): Promise<FhirResponse> {
  const out: BundleEntry[] = [];
  // Entries are independent; running them in order keeps the result deterministic for clients.
  for (const [i, e] of entries.entries()) {
    try {
      const sub = entryRequest(req, e, i);
      if (sub.method === 'POST' && sub.path === '') throw new FhirError('bad-request', 'A batch entry cannot itself be a batch or transaction');
      out.push(responseEntry(await router.handle(sub)));
    } catch (err) {
      const { status, outcome } = normaliseError(err);
      out.push({ response: { status: statusLine(status), outcome } });
    }
  }
  return { status: 200, body: { resourceType: 'Bundle', type: 'batch-response', entry: out } };
}

/** Spec processing order within a transaction (R4 §3.1.0.12.2). */
const ORDER: Record<string, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };

async function transaction(ctx: FhirContext, req: FhirRequest, entries: BundleEntry[], router: FhirHandler): Promise<FhirResponse> {
  const intents: Array<{ index: number; intent: WriteIntent } | { index: number; read: FhirRequest }> = [];
  const targets = new Set<string>();
  for (const [i, e] of entries.entries()) {
    const sub = entryRequest(req, e, i);
    if (sub.method === 'GET' || sub.method === 'HEAD') {
      intents.push({ index: i, read: sub });
      continue;
    }
    const intent = await withEntry(i, () => entryIntent(ctx.defs, sub, e));
    const target = intent.id ? `${intent.resourceType}/${intent.id}` : intent.condition ? `${intent.resourceType}?${intent.condition}` : undefined;
    if (target) {
      if (targets.has(target)) throw new FhirError('bad-request', `Bundle.entry[${i}]: ${target} appears more than once in the transaction`);
      targets.add(target);
    }
    intents.push({ index: i, intent });
  }
  const writes = intents.filter((x): x is { index: number; intent: WriteIntent } => 'intent' in x);
  writes.sort((a, b) => (ORDER[a.intent.method] as number) - (ORDER[b.intent.method] as number) || a.index - b.index);

  const conditionalTypes = writes.filter((w) => w.intent.condition).map((w) => w.intent.resourceType);
  const run = async () => {
    const resolved: ResolvedIntent[] = [];
    const refMap = new Map<string, string>();
    for (const w of writes) {
      const r = await withEntry(w.index, () => resolveIntent(ctx, w.intent));
      resolved.push(r);
      if (w.intent.fullUrl && r.id) refMap.set(w.intent.fullUrl, `${w.intent.resourceType}/${r.id}`);
    }
    const rewrite = (r: Resource): Resource => rewriteReferences(r, refMap);
    return applyWrites(ctx, resolved, rewrite, (k, err) => entryError((writes[k] as { index: number }).index, err));
  };
  const results = conditionalTypes.length > 0 ? await ctx.conditionalLocks.run(conditionalTypes, run) : await run();

  const out: BundleEntry[] = new Array(entries.length);
  results.forEach((res, k) => {
    const index = (writes[k] as { index: number }).index;
    const v = res.version;
    const r = res.resolved;
    if (v) {
      out[index] = {
        fullUrl: `${req.baseUrl}/${v.resourceType}/${v.id}`,
        ...(v.resource && r.intent.method !== 'DELETE' ? { resource: v.resource } : {}),
        response: {
          status: statusLine(r.status),
          ...(r.intent.method !== 'DELETE' ? { location: versionUrl(req.baseUrl, v) } : {}),
          etag: etag(v.versionId),
          lastModified: v.lastUpdated,
        },
      };
    } else {
      out[index] = { response: { status: statusLine(r.status === 404 ? 204 : r.status) } };
    }
  });
  for (const x of intents) {
    if ('read' in x) out[x.index] = responseEntry(await router.handle(x.read));
  }
  return { status: 200, body: { resourceType: 'Bundle', type: 'transaction-response', entry: out } };
}

async function withEntry<T>(index: number, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw entryError(index, err);
  }
}

/** Prefixes a failure with the entry it came from, keeping its code (and so its status). */
function entryError(index: number, err: unknown): unknown {
  if (!(err instanceof FhirError)) return err;
  const prefix = `Bundle.entry[${index}]`;
  return new FhirError(
    err.code,
    `${prefix}: ${err.message}`,
    undefined,
    err.issues.map((iss) => ({
      ...iss,
      details: { text: `${prefix}: ${iss.details?.text ?? err.message}` },
      ...(iss.expression ? { expression: iss.expression.map((x) => `${prefix}.resource${x.replace(/^[A-Z][A-Za-z]+/, '')}`) } : {}),
    })),
  );
}

function entryRequest(req: FhirRequest, e: BundleEntry, index: number): FhirRequest {
  const method = String(e.request?.method).toUpperCase();
  if (!['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) {
    throw new FhirError('bad-request', `Bundle.entry[${index}].request.method '${method}' is not supported`);
  }
  let url = String(e.request?.url ?? '');
  if (url.startsWith(req.baseUrl + '/')) url = url.slice(req.baseUrl.length + 1);
  if (/^[a-z]+:/i.test(url)) throw new FhirError('bad-request', `Bundle.entry[${index}].request.url must be relative to this server`);
  const [path = '', qs = ''] = url.replace(/^\//, '').split('?', 2) as [string, string?];
  const query = queryParams(new URLSearchParams(qs));
  const r = e.request;
  return {
    method: method as FhirRequest['method'],
    path,
    query,
    ...(e.resource ? { body: e.resource } : {}),
    headers: {
      ...(r?.ifMatch ? { 'if-match': r.ifMatch } : {}),
      ...(r?.ifNoneExist ? { 'if-none-exist': r.ifNoneExist } : {}),
      ...(r?.ifNoneMatch ? { 'if-none-match': r.ifNoneMatch } : {}),
      ...(r?.ifModifiedSince ? { 'if-modified-since': r.ifModifiedSince } : {}),
    },
    baseUrl: req.baseUrl,
  };
}

function entryIntent(defs: Definitions, sub: FhirRequest, e: BundleEntry): WriteIntent {
  const parts = sub.path.split('/');
  const type = parts[0] ?? '';
  const id = parts[1];
  if (!type || parts.length > 2) throw new FhirError('bad-request', `Unsupported request url '${sub.path}' in a transaction`);
  assertWritable(defs, type, id, sub.method);
  const method = sub.method as WriteIntent['method'];
  const ifMatch = sub.headers['if-match'];
  const condition = new URLSearchParams(Object.entries(sub.query).flatMap(([k, vs]) => vs.map((v) => [k, v]))).toString();
  const base: WriteIntent = {
    method,
    resourceType: type,
    ...(id ? { id } : {}),
    ...(ifMatch ? { ifMatch: /^(?:W\/)?"([^"]+)"$/.exec(ifMatch)?.[1] ?? ifMatch } : {}),
    ...(e.fullUrl ? { fullUrl: e.fullUrl } : {}),
  };
  switch (method) {
    case 'POST':
      return { ...base, resource: bodyResource(e.resource, type, undefined), ...(sub.headers['if-none-exist'] ? { condition: sub.headers['if-none-exist'] } : {}) };
    case 'PUT':
      return { ...base, resource: bodyResource(e.resource, type, id), ...(id ? {} : { condition }) };
    case 'PATCH': {
      const binary = e.resource as Binary | undefined;
      if (binary?.resourceType !== 'Binary' || !binary.data) {
        throw new FhirError('bad-request', 'A PATCH entry carries its JSON Patch as a Binary resource (contentType application/json-patch+json, base64 data)');
      }
      let ops: unknown;
      try {
        ops = JSON.parse(Buffer.from(binary.data, 'base64').toString('utf8'));
      } catch {
        throw new FhirError('bad-request', 'The Binary of a PATCH entry does not hold JSON');
      }
      return { ...base, patch: jsonPatch(ops, binary.contentType), ...(id ? {} : { condition }) };
    }
    case 'DELETE':
      return { ...base, ...(id ? {} : { condition }) };
    default:
      throw new FhirError('bad-request', `Unsupported method ${method}`);
  }
}

/** Replaces transaction-local references; a urn:uuid that no entry defines is refused, never stored dangling. */
export function rewriteReferences<T>(value: T, map: Map<string, string>): T {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        if (k === 'reference' && typeof x === 'string' && (map.has(x) || x.startsWith('urn:uuid:'))) {
          const target = map.get(x);
          if (!target) throw new FhirError('bad-request', `Reference '${x}' does not match any entry's fullUrl in this transaction`);
          out[k] = target;
        } else out[k] = walk(x);
      }
      return out;
    }
    return v;
  };
  return walk(value) as T;
}

function responseEntry(res: FhirResponse): BundleEntry {
  const h = res.headers ?? {};
  const isOutcome = res.body?.resourceType === 'OperationOutcome' && res.status >= 400;
  return {
    ...(res.body && !isOutcome ? { resource: res.body } : {}),
    response: {
      status: statusLine(res.status),
      ...(h.Location ? { location: h.Location } : {}),
      ...(h.ETag ? { etag: h.ETag } : {}),
      ...(h['Last-Modified'] ? { lastModified: new Date(h['Last-Modified']).toISOString() } : {}),
      ...(isOutcome ? { outcome: res.body as OperationOutcome } : {}),
    },
  };
}
