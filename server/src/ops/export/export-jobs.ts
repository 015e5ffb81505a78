import { randomUUID } from 'node:crypto';
import { createReadStream, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { AuditEvent, Resource } from '@medplum/fhirtypes';
import type { Logger } from 'pino';
import { principalFromClaims, type Principal } from '../../auth/principal.js';
import { EXPORT_AUDIT_BATCH, buildExportAuditEvent, type ExportAudit } from '../../audit/build-export-audit-event.js';
import type { ExportConfig } from '../../config/config.js';
import type { FhirContext } from '../../fhir/fhir-context.js';
import type { FhirHandler } from '../../fhir/fhir-request.js';
import { FhirError } from '../../fhir/outcomes.js';
import type { Definitions } from '../../fhir/definitions.js';
import type { ResourceStore } from '../../store/resource-store.js';
import { CohortStore } from './cohort-store.js';
import { ExportJobStore, type JobPrincipal, type JobRecord } from './export-job-store.js';
import { integrityDocument, integrityId, manifestOf } from './export-manifest.js';
import type { ExportSpec } from './export-parameters.js';
import { JobStopped, runExport, type DeidentifierFactory, type ResolveCohort } from './run-export-job.js';

export interface ExportJobsDeps {
  readonly dataDir: string;
  readonly config: ExportConfig;
  /** The unscoped store (Patient ids for Patient-level exports; nothing is exported from it directly). */
  readonly baseStore: ResourceStore;
  readonly defs: Definitions;
  readonly logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  readonly now: () => string;
  readonly resolveCohort?: ResolveCohort;
  readonly deidentifier?: DeidentifierFactory;
  /** Resources per search page (default 5000: with a batch `$in`, each page reads the batch's postings again). */
  readonly pageSize?: number;
  /** The server's name in AuditEvents. */
  readonly serverName?: string;
}

/** What only exists once the FHIR service does (ExportJobs is built before it, for the context). */
export interface ExportJobsWiring {
  /** The requester's gated, scoped context (FhirService.contextForPrincipal with ['s']). */
  contextFor(principal: Principal, baseUrl: string): FhirContext;
  /** The FHIR core acting as the server: stores the integrity DocumentReference (validated, labelled, a ledger leaf). */
  readonly serverFhir: FhirHandler;
  /** Where the job's AuditEvents go (durable, fail closed); absent where the service runs without an audit trail. */
  readonly audit?: { record(events: readonly AuditEvent[]): Promise<void> };
}

/** What a status request sees. */
export type JobView =
  | { readonly state: 'queued' | 'running'; readonly progress: string }
  | { readonly state: 'completed'; readonly job: JobRecord; readonly expires: string }
  | { readonly state: 'failed'; readonly job: JobRecord };

/** Patient ids remembered while a job's AuditEvents are written, to write one event per patient. */
const AUDIT_DEDUP_IDS = 100_000;

/**
 * Bulk export is never a break-the-glass access (403). The one check, made at kick-off
 * (export-routes.ts) before a job exists, and again when the job runs.
 */
export function refuseBreakGlass(ctx: FhirContext): void {
  if (ctx.consent?.mode === 'break-glass') throw new FhirError('forbidden', 'Break-the-glass access is not available to bulk export');
}

/** A job the caller may not see, or that does not exist, or expired: all read alike (404). */
const notFound = (): FhirError => new FhirError('not-found', 'No such export job (it may have expired or been cancelled)');

/**
 * Bulk Data export jobs: kick-off, status, cancel, files, and the worker that runs them.
 *
 * - Records are durable (export-job-store.ts); the worker runs queued jobs one at a time, in
 *   kick-off order, in the background.
 * - **Restart**: a job found 'running' at start was interrupted; it is **restarted cleanly**:
 *   its partial files are removed and it runs again from the beginning, with a new
 *   transactionTime (the data may have changed meanwhile). Nothing is resumed mid-file.
 * - Each client sees only its own jobs (same client_id); another's job id is a 404.
 * - A client may have `maxJobsPerClient` jobs queued or running; more is a 429.
 * - A finished job (completed or failed) and its files are removed `retentionSeconds` after it
 *   finished; from then on its status and files are 404.
 */
export class ExportJobs {
  readonly jobs: ExportJobStore;
  private wiring: ExportJobsWiring | undefined;
  private readonly queue: string[] = [];
  private readonly progress = new Map<string, string>();
  private readonly cancelled = new Set<string>();
  private running = false;
  private stopping = false;
  private active: Promise<void> | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly deps: ExportJobsDeps) {
    this.jobs = new ExportJobStore(deps.dataDir);
  }

  connect(wiring: ExportJobsWiring): void {
    this.wiring = wiring;
  }

  /** Whether this client's exports are always de-identified (EXPORT_DEIDENTIFY_CLIENTS). */
  alwaysDeidentifies(clientId: string): boolean {
    return this.deps.config.deidentifyClients.includes(clientId);
  }

  get canDeidentify(): boolean {
    return this.deps.deidentifier !== undefined;
  }

  /** Kick-off: a 404 for a Group the requester's scopes do not reach (or a 400 for one that is no cohort), now rather than when the job runs. */
  async checkGroup(ctx: FhirContext, baseUrl: string, groupId: string): Promise<void> {
    if (!this.deps.resolveCohort) throw new FhirError('not-supported', 'Group-level export needs the cohort module, which this server runs without');
    await this.deps.resolveCohort(this.cohortStore(ctx, baseUrl), groupId, this.deps.now());
  }

  /** The requester's gated store, reading the Group by scopes alone (cohort-store.ts). */
  cohortStore(ctx: FhirContext, baseUrl: string): ResourceStore {
    return new CohortStore(ctx.store, this.deps.baseStore, ctx.principal, this.deps.defs, baseUrl);
  }

  /** Records a new job, queued; undefined when the client already has its maximum of unfinished jobs (429). */
  kickOff(principal: Principal, spec: ExportSpec, kick: { request: string; rawRequest: string; method: 'GET' | 'POST'; baseUrl: string }): JobRecord | undefined {
    const unfinished = this.jobs.all().filter((j) => j.principal.client_id === principal.clientId && (j.state === 'queued' || j.state === 'running'));
    if (unfinished.length >= this.deps.config.maxJobsPerClient) return undefined;
    const job: JobRecord = {
      id: randomUUID(),
      principal: principalRecord(principal),
      request: kick.request,
      rawRequest: kick.rawRequest,
      method: kick.method,
      baseUrl: kick.baseUrl,
      spec,
      state: 'queued',
      createdAt: this.deps.now(),
      attempts: 0,
    };
    this.jobs.save(job);
    this.queue.push(job.id);
    this.kick();
    return job;
  }

  /** The job as its owner sees it; 404 for anyone else, an unknown id, or an expired job. */
  view(principal: Principal, id: string): JobView {
    const job = this.owned(principal, id);
    if (job.state === 'completed') return { state: 'completed', job, expires: this.expiryOf(job) };
    if (job.state === 'failed') return { state: 'failed', job };
    if (job.state === 'running') return { state: 'running', progress: this.progress.get(id) ?? 'starting' };
    const ahead = this.queue.indexOf(id);
    return { state: 'queued', progress: ahead > 0 ? `queued, ${ahead} job(s) ahead` : 'queued' };
  }

  /**
   * DELETE on the status URL: the job stops (a running one at its next page), its files and
   * record are removed now, so the very next status request is a 404.
   */
  cancel(principal: Principal, id: string): void {
    this.owned(principal, id);
    this.cancelled.add(id);
    const i = this.queue.indexOf(id);
    if (i >= 0) this.queue.splice(i, 1);
    this.jobs.remove(id);
    this.progress.delete(id);
  }

  /** The path of one of a completed job's files, for its owner; 404 otherwise. */
  file(principal: Principal, id: string, name: string): string {
    const job = this.owned(principal, id);
    if (job.state !== 'completed') throw notFound();
    const listed = [...(job.output ?? []), ...(job.error ?? [])].some((f) => f.name === name);
    if (!listed) throw new FhirError('not-found', 'No such file in this export');
    return join(this.jobs.filesDir(id), name);
  }

  /** Starts the worker: interrupted jobs are restarted cleanly, queued ones run in kick-off order. */
  start(): void {
    if (this.running) return;
    if (!this.wiring) throw new Error('ExportJobs.start: connect() the FHIR service first');
    this.running = true;
    this.stopping = false;
    const all = this.jobs.all().sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
    for (const job of all) {
      if (this.isExpired(job)) this.jobs.remove(job.id);
      else if (job.state === 'running') {
        this.deps.logger.info({ job: job.id }, 'export job was interrupted; restarting it from the beginning');
        this.jobs.save({ ...job, state: 'queued' });
        if (!this.queue.includes(job.id)) this.queue.push(job.id);
      } else if (job.state === 'queued' && !this.queue.includes(job.id)) this.queue.push(job.id);
    }
    const every = Math.min(60_000, this.deps.config.retentionSeconds * 1000);
    this.sweepTimer = setInterval(() => this.sweep(), every);
    this.sweepTimer.unref();
    this.kick();
  }

  /** Stops the worker; a running job stops at its next page and stays 'running' on disk, to be restarted at the next start. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.running = false;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.active;
  }

  /** Resolves once no job is queued or running (tests, benchmarks). */
  idle(): Promise<void> {
    if (!this.active && (this.queue.length === 0 || !this.running)) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Removes finished jobs past their retention. */
  sweep(): void {
    for (const job of this.jobs.all()) if (this.isExpired(job)) this.jobs.remove(job.id);
  }

  private kick(): void {
    if (!this.running || this.active) return;
    this.active = this.loop().finally(() => {
      this.active = undefined;
      if (this.queue.length > 0 && this.running) this.kick();
      else this.notifyIdle();
    });
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private async loop(): Promise<void> {
    while (this.running && this.queue.length > 0) {
      const id = this.queue.shift() as string;
      const job = this.jobs.load(id);
      if (!job || job.state !== 'queued') continue;
      await this.runOne(job);
    }
  }

  private async runOne(queued: JobRecord): Promise<void> {
    const wiring = this.wiring as ExportJobsWiring;
    const id = queued.id;
    const transactionTime = this.deps.now();
    let job: JobRecord = { ...queued, state: 'running', attempts: queued.attempts + 1, transactionTime };
    this.jobs.save(job);
    this.progress.set(id, 'starting');
    const dir = this.jobs.filesDir(id, true);
    const stillWanted = (): boolean => !this.cancelled.has(id);
    try {
      const principal = principalOf(job);
      const ctx = wiring.contextFor(principal, job.baseUrl);
      // Again at run time: the record may outlive a change of CONSENT_BREAK_GLASS_ROLES (a queued
      // or interrupted job runs after a restart), which would turn the same principal into a break-glass one.
      refuseBreakGlass(ctx);
      const result = await runExport({
        ctx,
        baseStore: this.deps.baseStore,
        spec: job.spec,
        baseUrl: job.baseUrl,
        dir,
        patientBatch: this.deps.config.patientBatch,
        pageSize: this.deps.pageSize ?? 5000,
        ...(this.deps.resolveCohort ? { resolveCohort: this.deps.resolveCohort, cohortStore: this.cohortStore(ctx, job.baseUrl) } : {}),
        ...(this.deps.deidentifier ? { deidentifier: this.deps.deidentifier } : {}),
        now: transactionTime,
        progress: (text) => this.progress.set(id, text),
        stopped: () => this.stopping || !stillWanted(),
      });
      if (!stillWanted()) return;
      job = { ...job, output: result.output, error: result.error };
      const integrity = await this.storeIntegrity(job);
      job = { ...job, integrity };
      await this.auditJob(job, result.patientsFile, ctx, 200);
      if (!stillWanted()) return;
      rmSync(result.patientsFile, { force: true });
      this.jobs.save({ ...job, state: 'completed', completedAt: this.deps.now() });
      this.deps.logger.info({ job: id, files: job.output?.length, resources: job.output?.reduce((n, f) => n + f.count, 0) }, 'export job completed');
    } catch (err) {
      if (err instanceof JobStopped || !stillWanted()) {
        if (!stillWanted()) this.jobs.remove(id);
        return;
      }
      const text = err instanceof FhirError ? err.message : 'The export failed because of an internal error';
      this.deps.logger.error({ err, job: id }, 'export job failed');
      // A failed job keeps no partial files: its directory is emptied.
      this.jobs.filesDir(id, true);
      const failed: JobRecord = { ...job, state: 'failed', completedAt: this.deps.now(), failure: text };
      this.jobs.save(failed);
      await this.auditJob(failed, undefined, undefined, 500).catch((e: unknown) => this.deps.logger.error({ err: e, job: id }, 'the failed export job could not be audited'));
    } finally {
      this.progress.delete(id);
      this.cancelled.delete(id);
    }
  }

  /** Stores the manifest and file hashes as a DocumentReference (a Merkle log leaf); returns `DocumentReference/<id>/_history/<v>`. */
  private async storeIntegrity(job: JobRecord): Promise<string> {
    const wiring = this.wiring as ExportJobsWiring;
    const doc = integrityDocument(job, manifestOf(job), this.deps.now());
    const res = await wiring.serverFhir.handle({
      method: 'PUT',
      path: `DocumentReference/${integrityId(job.id)}`,
      query: {},
      body: doc,
      headers: { 'content-type': 'application/fhir+json' },
      baseUrl: job.baseUrl,
    });
    const body = (res.body ?? (res.json ? JSON.parse(res.json) : undefined)) as Resource | undefined;
    const versionId = body?.meta?.versionId;
    if (res.status >= 300 || !versionId) throw new FhirError('internal', `storing the export's integrity record failed (${res.status}): ${JSON.stringify(res.body).slice(0, 500)}`);
    return `DocumentReference/${integrityId(job.id)}/_history/${versionId}`;
  }

  /** The job's AuditEvents (build-export-audit-event.ts: one for the job, one per patient), stored durably before the job is marked complete. */
  private async auditJob(job: JobRecord, patientsFile: string | undefined, ctx: FhirContext | undefined, status: number): Promise<void> {
    const audit = this.wiring?.audit;
    if (!audit) return;
    const p = job.principal;
    const base: ExportAudit = {
      recorded: this.deps.now(),
      method: job.method,
      rawRequest: job.rawRequest,
      status,
      ...(job.failure ? { outcomeText: job.failure } : {}),
      principal: {
        subject: p.sub,
        clientId: p.client_id,
        ...(p.fhirUser ? { who: p.fhirUser } : {}),
        roles: p.roles,
        purposeOfUse: p.purpose_of_use,
        ...(p.sourceAddress ? { sourceAddress: p.sourceAddress } : {}),
      },
      server: { baseUrl: job.baseUrl, name: this.deps.serverName ?? 'Custodian FHIR server' },
      ...(job.integrity ? { integrity: job.integrity } : {}),
      ...(ctx?.consent
        ? { consent: { mode: ctx.consent.mode, decision: ctx.consent.mode === 'exempt' ? 'not-applicable' : 'permit', ...(ctx.consent.group ? { purposeGroup: ctx.consent.group } : {}) } }
        : {}),
    };
    // The job's own event first, then one per patient, streamed from the file in batches.
    let batch: AuditEvent[] = [buildExportAuditEvent(base, undefined)];
    if (patientsFile) {
      const seen = new Set<string>();
      const lines = createInterface({ input: createReadStream(patientsFile, 'utf8'), crlfDelay: Infinity });
      for await (const line of lines) {
        // A patient is listed once per batch (Patient, Group level) or per page and type
        // (system level). Up to AUDIT_DEDUP_IDS ids are remembered (a few MB); beyond that a
        // patient of a huge system-level export may get more than one event.
        if (line === '' || seen.has(line)) continue;
        if (seen.size >= AUDIT_DEDUP_IDS) seen.clear();
        seen.add(line);
        batch.push(buildExportAuditEvent(base, line));
        if (batch.length >= EXPORT_AUDIT_BATCH) {
          await audit.record(batch);
          batch = [];
        }
      }
    }
    if (batch.length > 0) await audit.record(batch);
  }

  private owned(principal: Principal, id: string): JobRecord {
    const job = this.jobs.load(id);
    if (!job || job.principal.client_id !== principal.clientId) throw notFound();
    if (this.isExpired(job)) {
      this.jobs.remove(id);
      throw notFound();
    }
    return job;
  }

  private expiryOf(job: JobRecord): string {
    return new Date(Date.parse(job.completedAt as string) + this.deps.config.retentionSeconds * 1000).toISOString();
  }

  private isExpired(job: JobRecord): boolean {
    if (job.state !== 'completed' && job.state !== 'failed') return false;
    return Date.parse(this.expiryOf(job)) <= Date.parse(this.deps.now());
  }
}

function principalRecord(p: Principal): JobPrincipal {
  return {
    sub: p.subject,
    client_id: p.clientId,
    scope: p.scope,
    ...(p.who ? { fhirUser: p.who } : {}),
    purpose_of_use: [...p.purposeOfUse],
    roles: [...p.roles],
    ...(p.sourceAddress ? { sourceAddress: p.sourceAddress } : {}),
  };
}

/**
 * The job acts as its requester did at kick-off: the same scopes, purpose and identity (the
 * token's claims, kept in the record; the token itself is not kept and may expire meanwhile).
 */
function principalOf(job: JobRecord): Principal {
  const p = job.principal;
  return principalFromClaims(
    {
      sub: p.sub,
      client_id: p.client_id,
      scope: p.scope,
      ...(p.fhirUser ? { fhirUser: p.fhirUser } : {}),
      purpose_of_use: [...p.purpose_of_use],
      roles: [...p.roles],
    },
    p.sourceAddress,
  );
}
