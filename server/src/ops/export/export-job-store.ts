import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readIfExists, replaceFile } from '../../files/durable-files.js';
import type { ExportSpec } from './export-parameters.js';

/**
 * Durable records of Bulk Data export jobs: one JSON file per job in `DATA_DIR/export/jobs/`,
 * replaced atomically (written aside, fsynced, renamed, directory fsynced), so after a crash
 * every record is either the old or the new one. A job's files live in `DATA_DIR/export/<id>/`.
 */

/** What a job needs to act again as its requester after a restart: the token's claims, not the token. */
export interface JobPrincipal {
  readonly sub: string;
  readonly client_id: string;
  readonly scope: string;
  readonly fhirUser?: string;
  readonly purpose_of_use: readonly string[];
  readonly roles: readonly string[];
  readonly sourceAddress?: string;
}

/** One NDJSON file of a finished job. */
export interface JobFile {
  readonly type: string;
  /** File name inside the job's directory, e.g. `Observation.ndjson`. */
  readonly name: string;
  readonly count: number;
  readonly bytes: number;
  /** SHA-256 of the file's bytes, hex. */
  readonly sha256: string;
}

export type JobState = 'queued' | 'running' | 'completed' | 'failed';

export interface JobRecord {
  readonly id: string;
  readonly principal: JobPrincipal;
  /** The kick-off URL (absolute), echoed as the manifest's `request`. */
  readonly request: string;
  /** The kick-off path and query below the base, for the job's AuditEvent. */
  readonly rawRequest: string;
  readonly method: 'GET' | 'POST';
  readonly baseUrl: string;
  readonly spec: ExportSpec;
  readonly state: JobState;
  readonly createdAt: string;
  /** How many times the job was started (a restart after a crash starts it again). */
  readonly attempts: number;
  readonly transactionTime?: string;
  readonly completedAt?: string;
  readonly output?: readonly JobFile[];
  readonly error?: readonly JobFile[];
  /** `DocumentReference/<id>/_history/<v>`: the stored manifest and file hashes (a ledger leaf). */
  readonly integrity?: string;
  /** Why a failed job failed (shown in its OperationOutcome). */
  readonly failure?: string;
}

const JOB_ID = /^[A-Za-z0-9-]{1,64}$/;

export class ExportJobStore {
  readonly root: string;
  private readonly jobsDir: string;

  constructor(dataDir: string) {
    this.root = join(dataDir, 'export');
    this.jobsDir = join(this.root, 'jobs');
    mkdirSync(this.jobsDir, { recursive: true, mode: 0o700 });
  }

  /** Whether `id` can name a job at all (ids arrive in URLs). */
  static isJobId(id: string): boolean {
    return JOB_ID.test(id);
  }

  save(job: JobRecord): void {
    replaceFile(this.recordPath(job.id), JSON.stringify(job));
  }

  load(id: string): JobRecord | undefined {
    if (!ExportJobStore.isJobId(id)) return undefined;
    const text = readIfExists(this.recordPath(id));
    return text === undefined ? undefined : (JSON.parse(text) as JobRecord);
  }

  all(): JobRecord[] {
    const out: JobRecord[] = [];
    for (const name of readdirSync(this.jobsDir)) {
      if (!name.endsWith('.json')) continue;
      const job = this.load(name.slice(0, -'.json'.length));
      if (job) out.push(job);
    }
    return out;
  }

  /** The job's file directory (created empty when `fresh`: a new or restarted run). */
  filesDir(id: string, fresh = false): string {
    const dir = join(this.root, id);
    if (fresh) {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    }
    return dir;
  }

  /** Removes the job's files, then its record (a crash in between leaves a record whose files are gone: it reads as expired). */
  remove(id: string): void {
    rmSync(join(this.root, id), { recursive: true, force: true });
    rmSync(this.recordPath(id), { force: true });
  }

  private recordPath(id: string): string {
    return join(this.jobsDir, `${id}.json`);
  }
}
