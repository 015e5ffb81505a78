import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Config } from './config/config.js';
import { loadDefinitions, type Definitions } from './fhir/definitions.js';
import type { FhirContext } from './fhir/fhir-context.js';
import { SERVER_PRINCIPAL } from './auth/principal.js';
import { actingAsServer, FhirService } from './fhir/fhir-service.js';
import { KeyedLock } from './fhir/keyed-lock.js';
import { CursorCodec } from './fhir/search-results/cursor.js';
import { loadCursorKey } from './fhir/search-results/cursor-key.js';
import type { FhirHandler } from './fhir/fhir-request.js';
import { reindexIfDefinitionsChanged } from './fhir/search/reindex.js';
import { syncConformanceResources } from './fhir/sync-conformance.js';
import { createEmbeddedStore } from './store/embedded/embedded-store.js';
import { parseBasePolicy } from './consent/base-policy.js';
import { ConsentEngine } from './consent/consent-engine.js';
import { ConsentIndexingStore } from './consent/consent-indexing-store.js';
import { CONSENT_FIELD } from './consent/consent-tokens.js';
import { loadLabeler } from './consent/load-labeler.js';
import { relabelIfMappingsChanged } from './consent/relabel.js';
import type { Labeler } from './consent/labeler.js';
import { reindexAll } from './fhir/search/reindex.js';
import type { ResourceStore } from './store/resource-store.js';
import { AuditSink } from './audit/audit-sink.js';
import { RequestAuditor } from './audit/request-auditor.js';
import { LedgeredStore } from './ledger/ledgered-store.js';
import { recoverUnloggedVersions, saveWatermark } from './ledger/ledger-recovery.js';
import { openLedger, type OpenLedger } from './ledger/open-ledger.js';
import { ExportJobs } from './ops/export/export-jobs.js';
import { resolveCohort } from './ops/cohort/resolve-cohort.js';
import { Deidentifier, loadDeidKey } from './ops/deidentify/deidentifier.js';
import { liveFullAudit } from './fhir/interactions/full-audit-operation.js';

export interface Dependencies {
  config: Config;
  logger: Logger;
  defs: Definitions;
  /** The store every part of the server uses: the engine's, keeping consent decisions current. */
  store: ResourceStore;
  labeler: Labeler;
  consent: ConsentEngine;
  /** The Merkle log, the anchor ledger and its outbox (ledger/open-ledger.ts). */
  ledger: OpenLedger;
  /**
   * The gated FHIR core for the HTTP edge (`createApp`): every request must carry a principal,
   * whose scopes decide what it reaches.
   */
  service: FhirService;
  /** The FHIR core for in-process callers acting as the server itself (seed, import). */
  fhir: FhirHandler;
  /** Bulk Data export jobs; the server's main starts their worker (`exports.start()`), CLIs do not. */
  exports: ExportJobs;
  close(): Promise<void>;
}

export const PROFILES_DIR = resolve(fileURLToPath(new URL('../../fhir-profiles', import.meta.url)));

/**
 * Wires the server's parts from a validated Config. Entry points (main, the CLIs) call this;
 * nothing below it reads the environment. The MongoDB engine is imported only when selected,
 * so the default configuration never loads the driver.
 */
export interface OpenOptions {
  /**
   * 'auto' (default): reindex before serving when the search definitions changed since the
   * store was indexed. 'skip': leave it to the caller (the reindex command does it itself).
   */
  reindex?: 'auto' | 'skip';
  /**
   * false: the HTTP service does not enforce Consents (decisions are still stored). Only for the
   * unenforced side of the consent benchmark; no configuration reaches it.
   */
  enforceConsent?: boolean;
  /**
   * false: requests are not recorded as AuditEvents (versions still become ledger leaves). Only
   * for the auditing-off side of the audit benchmark; no configuration reaches it.
   */
  audit?: boolean;
}

export async function openDependencies(config: Config, logger: Logger, opts: OpenOptions = {}): Promise<Dependencies> {
  const defs = loadDefinitions(PROFILES_DIR);
  // Before the store opens, so a bad key file stops start-up without leaving the store open.
  const cursors = new CursorCodec(loadCursorKey({ dataDir: config.dataDir, ...(config.cursorSecret !== undefined ? { secret: config.cursorSecret } : {}) }));
  const labeler = loadLabeler(PROFILES_DIR);
  const engineStore = await openStore(config, logger);
  await engineStore.init();
  const consent = new ConsentEngine({ defs, labeler, base: parseBasePolicy(config.consent.basePolicy), baseUrl: config.baseUrl, logger }, engineStore);
  let ledger: OpenLedger;
  try {
    ledger = await openLedger(config.dataDir, config.ledger, logger);
  } catch (err) {
    await engineStore.close().catch(() => undefined);
    throw err;
  }
  // Every version written from here on becomes a leaf of the Merkle log before the write returns.
  const store = new LedgeredStore(new ConsentIndexingStore(engineStore, consent), ledger.versions);
  try {
    // Consents first: reindexing stores each resource's consent decisions too.
    await consent.open((s) => reindexAll(new ConsentIndexingStore(s, consent), defs, logger));
    if (opts.reindex !== 'skip') await reindexIfDefinitionsChanged(store, defs, logger);
    // Labels of stored data follow the mappings in fhir-profiles/ (rewritten in place, no new versions).
    await relabelIfMappingsChanged(store, defs, labeler, logger);
    // Versions a crash left without their leaf (stored, then stopped before the append).
    const recovered = await recoverUnloggedVersions(store, defs, ledger.versions);
    if (recovered > 0) logger.info({ versions: recovered }, 'appended to the Merkle log the versions it was missing');
  } catch (err) {
    await ledger.close().catch(() => undefined);
    await engineStore.close().catch(() => undefined);
    throw err;
  }
  let deidKey: Uint8Array | undefined;
  const exportJobs = new ExportJobs({
    dataDir: config.dataDir,
    config: config.export,
    baseStore: store,
    defs,
    logger,
    now: () => new Date().toISOString(),
    resolveCohort,
    // The key is created on first use (DATA_DIR/keys/deid.key), not by every CLI that opens the store.
    deidentifier: (scope) => new Deidentifier(defs, { key: (deidKey ??= loadDeidKey(config.dataDir)), scope, baseUrl: config.baseUrl }),
  });
  const ctx: FhirContext = {
    exportJobs,
    principal: SERVER_PRINCIPAL,
    store,
    defs,
    options: {
      defaultPageSize: config.defaultPageSize,
      maxPageSize: config.maxPageSize,
      updateCreate: config.updateCreate,
      maxIncludes: config.maxIncludes,
    },
    now: () => new Date().toISOString(),
    newId: () => randomUUID(),
    conditionalLocks: new KeyedLock(),
    cursors,
    labeler,
    // $full-audit reads every version: only the root store can, so the ledger side closes over it.
    ledger: { ...ledger, fullAudit: liveFullAudit({ store, defs, ledger }) },
    // Present though empty: every request's context is this object spread with its own
    // principal, store and gate, and a spread gaining a key its source lacks is a ~1.7 µs slow
    // path in V8 (Node 20), against ~0.05 µs when the key is only overwritten.
    consent: undefined,
  };
  await syncConformanceResources(ctx);
  const auditSink = new AuditSink({ store, defs, newId: ctx.newId, now: ctx.now });
  const audit = new RequestAuditor(auditSink, { name: 'Custodian FHIR server' }, ctx.now);
  const service = new FhirService({
    ctx,
    onInternalError: (err, req) => logger.error({ err, method: req.method, path: req.path }, 'internal error'),
    ...(opts.enforceConsent === false ? {} : { consent: { engine: consent, breakGlassRoles: config.consent.breakGlassRoles } }),
    ...(opts.audit === false ? {} : { audit }),
  });
  exportJobs.connect({
    contextFor: (principal, baseUrl) => service.contextForPrincipal(principal, baseUrl, ['s']),
    serverFhir: actingAsServer(service),
    ...(opts.audit === false ? {} : { audit: auditSink }),
  });
  ledger.start(() => saveWatermark(store, ledger.versions));
  return {
    config,
    logger,
    defs,
    store,
    labeler,
    consent,
    ledger,
    service,
    fhir: actingAsServer(service),
    exports: exportJobs,
    close: async () => {
      await exportJobs.stop();
      await ledger.close();
      await store.close();
    },
  };
}

/** The configured engine's store, not yet initialised (also opened read-only by the full audit, ledger/open-for-audit.ts). */
export async function openStore(config: Config, logger: Pick<Logger, 'info' | 'warn'>): Promise<ResourceStore> {
  if (config.storage.engine === 'mongodb') {
    const { createMongoStore } = await import('./store/mongo/mongo-store.js');
    return createMongoStore({ uri: config.storage.uri, dbName: config.storage.dbName, logger: { info: (m) => logger.info(m), warn: (m) => logger.warn(m) } });
  }
  // The consent tokens are asked about for every document a search examines: held in memory.
  return createEmbeddedStore({ path: join(config.dataDir, 'store'), logger: { info: (m) => logger.info(m) }, memoryPaths: [CONSENT_FIELD] });
}
