import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RequestListener } from 'node:http';
import { pino } from 'pino';
import request from 'supertest';
import { loadConfig } from '../../server/src/config/config.js';
import { openDependencies, type Dependencies } from '../../server/src/dependencies.js';
import { authedApp } from './authed-app.js';

/** The base URL the conformance apps are configured with; links in Bundles start with it. */
export const CONFORMANCE_BASE = 'http://localhost:8080/fhir';

const FIXTURE_DIR = resolve(fileURLToPath(new URL('../../fixtures/search-conformance', import.meta.url)));

/** Which engine a conformance run uses: the embedded store, or a MongoDB database (dropped at close). */
export type ConformanceEngine = { kind: 'embedded' } | { kind: 'mongodb'; uri: string };

/** Facts about the loaded fixture that rows may need (values only known after loading). */
export interface FixtureFacts {
  /** meta.lastUpdated of everything in bundle.json (one transaction, one instant). */
  mainLastUpdated: string;
  /** meta.lastUpdated of everything in late-bundle.json, strictly later. */
  lateLastUpdated: string;
}

/** A search app holding the conformance fixture. */
export interface ConformanceApp extends SearchApp {
  facts: FixtureFacts;
}

/** The real app on a fresh, empty store of the given engine; restart() reopens the same data. */
export interface SearchApp {
  readonly engine: ConformanceEngine['kind'];
  /** The current app; replaced by restart(). */
  app: RequestListener;
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startSearchApp(engine: ConformanceEngine): Promise<SearchApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'custodian-conformance-'));
  const env: Record<string, string> = { DATA_DIR: dataDir, SEED_ON_FIRST_START: 'false', BASE_URL: CONFORMANCE_BASE, LOG_LEVEL: 'silent' };
  let dbName: string | undefined;
  if (engine.kind === 'mongodb') {
    dbName = `custodian_conformance_${Date.now().toString(36)}${process.pid.toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
    Object.assign(env, { MONGODB_URI: engine.uri, MONGODB_DB: dbName });
  }
  const config = loadConfig(env);
  const logger = pino({ level: 'silent' });
  const open = async (): Promise<{ deps: Dependencies; app: RequestListener }> => {
    const deps = await openDependencies(config, logger);
    // Searches run as an admin backend (system/*.cruds), which scopes do not restrict.
    return { deps, app: (await authedApp(deps, config, logger)).app };
  };
  let current = await open();
  const result: SearchApp = {
    engine: engine.kind,
    app: current.app,
    restart: async () => {
      await current.deps.close();
      current = await open();
      result.app = current.app;
    },
    close: async () => {
      await current.deps.close();
      if (engine.kind === 'mongodb' && dbName) {
        const { dropMongoDatabase } = await import('../../server/src/store/mongo/mongo-admin.js');
        await dropMongoDatabase({ uri: engine.uri, dbName });
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return result;
}

/**
 * Starts the real app on a fresh store of the given engine and loads the conformance fixture
 * (fixtures/search-conformance) through two transactions committed at different instants.
 */
export async function startConformanceApp(engine: ConformanceEngine): Promise<ConformanceApp> {
  const started = await startSearchApp(engine);
  const mainLastUpdated = await loadBundle(started.app, 'bundle.json');
  // The late bundle must carry a later lastUpdated than the main one; the store stamps commits
  // with the wall clock at millisecond precision, so wait for the clock to move past it.
  const mainMs = Date.parse(mainLastUpdated);
  while (Date.now() <= mainMs + 1) await new Promise((r) => setImmediate(r));
  const lateLastUpdated = await loadBundle(started.app, 'late-bundle.json');
  return Object.assign(started, { facts: { mainLastUpdated, lateLastUpdated } });
}

/** Commits resources with fixed ids in one transaction (PUT per resource). */
export async function putAll(app: RequestListener, resources: ReadonlyArray<{ resourceType: string; id?: string }>): Promise<void> {
  const bundle = { resourceType: 'Bundle', type: 'transaction', entry: resources.map((r) => ({ resource: r, request: { method: 'PUT', url: `${r.resourceType}/${r.id}` } })) };
  const res = await request(app).post('/fhir').set('Content-Type', 'application/fhir+json').send(bundle);
  if (res.status !== 200) throw new Error(`transaction failed: ${res.status} ${JSON.stringify(res.body).slice(0, 2000)}`);
}

/** Posts a fixture transaction and returns the meta.lastUpdated its resources received. */
async function loadBundle(app: RequestListener, file: string): Promise<string> {
  const bundle = JSON.parse(readFileSync(join(FIXTURE_DIR, file), 'utf8')) as { entry: Array<{ request: { url: string } }> };
  const res = await request(app).post('/fhir').set('Content-Type', 'application/fhir+json').send(bundle);
  if (res.status !== 200) throw new Error(`loading ${file} failed: ${res.status} ${JSON.stringify(res.body).slice(0, 2000)}`);
  const first = bundle.entry[0]!.request.url;
  const read = await request(app).get(`/fhir/${first}`);
  const lastUpdated = read.body?.meta?.lastUpdated as string | undefined;
  if (!lastUpdated) throw new Error(`no meta.lastUpdated on ${first} after loading ${file}`);
  return lastUpdated;
}

/** What the sub-suites get: the app of the enclosing describe, available once `before` ran. */
export interface ConformanceContext {
  readonly app: ConformanceApp;
}
