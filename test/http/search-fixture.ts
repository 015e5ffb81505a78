import { mkdtempSync, rmSync } from 'node:fs';
import type { RequestListener } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import request from 'supertest';
import { loadConfig } from '../../server/src/config/config.js';
import { openDependencies, type Dependencies } from '../../server/src/dependencies.js';
import { authedApp } from '../helpers/authed-app.js';
import type { TestAuth } from '../helpers/test-auth.js';
import { BASE, FHIR_JSON } from './app-fixture.js';

/** Helpers shared by the search HTTP tests: apps on a chosen DATA_DIR, and link walking. */

export interface OpenApp {
  /** Acts as an admin backend (system/*.cruds) unless a request sets its own Authorization. */
  app: RequestListener;
  rawApp: RequestListener;
  auth: TestAuth;
  deps: Dependencies;
  dataDir: string;
  close(): Promise<void>;
}

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'custodian-search-'));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** An app on `dataDir`; closing it leaves the directory, so a second app can reopen it. */
export async function openApp(dataDir: string, env: Record<string, string> = {}): Promise<OpenApp> {
  const config = loadConfig({ DATA_DIR: dataDir, SEED_ON_FIRST_START: 'false', BASE_URL: BASE, ...env });
  const logger = pino({ level: 'silent' });
  const deps = await openDependencies(config, logger);
  const { app, rawApp, auth } = await authedApp(deps, config, logger);
  return { app, rawApp, auth, deps, dataDir, close: () => deps.close() };
}

export interface Link {
  relation: string;
  url: string;
}

export interface SearchBundle {
  resourceType: string;
  type: string;
  total?: number;
  link: Link[];
  entry?: Array<{ fullUrl?: string; resource: Record<string, any>; search: { mode: string } }>;
}

/** The path+query of an absolute link, for supertest. */
export function local(url: string): string {
  const u = new URL(url);
  return u.pathname + u.search;
}

export function linkOf(b: SearchBundle, relation: string): string | undefined {
  return b.link.find((l) => l.relation === relation)?.url;
}

export async function get(app: RequestListener, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  let req = request(app).get(path);
  for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
  const res = await req;
  return { status: res.status, body: res.body };
}

/** Ids of the match entries of a Bundle, as Type/id. */
export function matchIds(b: SearchBundle): string[] {
  return (b.entry ?? []).filter((e) => e.search.mode === 'match').map((e) => `${e.resource.resourceType}/${e.resource.id}`);
}

/**
 * Follows `relation` links from `start` until there are none, returning every page. Fails
 * loudly on a non-200 page or when it walks more pages than `maxPages` (a loop).
 */
export async function walk(app: RequestListener, start: string, relation = 'next', maxPages = 200): Promise<SearchBundle[]> {
  const pages: SearchBundle[] = [];
  let next: string | undefined = start;
  while (next !== undefined) {
    const res = await get(app, next);
    if (res.status !== 200) throw new Error(`GET ${next} → ${res.status} ${JSON.stringify(res.body)}`);
    pages.push(res.body as SearchBundle);
    if (pages.length > maxPages) throw new Error(`more than ${maxPages} pages: the links loop`);
    const url = linkOf(res.body as SearchBundle, relation);
    next = url === undefined ? undefined : local(url);
  }
  return pages;
}

export async function create(app: RequestListener, resource: Record<string, unknown>): Promise<Record<string, any>> {
  const res = await request(app).post(`/fhir/${resource.resourceType as string}`).set('Content-Type', FHIR_JSON).send(resource);
  if (res.status !== 201) throw new Error(`create ${resource.resourceType as string} → ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as Record<string, any>;
}

/** PUT with a chosen id (update-as-create), so tests control the id tie-break. */
export async function put(app: RequestListener, resource: Record<string, unknown> & { id: string }): Promise<Record<string, any>> {
  const res = await request(app).put(`/fhir/${resource.resourceType as string}/${resource.id}`).set('Content-Type', FHIR_JSON).send(resource);
  if (res.status !== 201 && res.status !== 200) throw new Error(`put ${resource.resourceType as string}/${resource.id} → ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as Record<string, any>;
}
