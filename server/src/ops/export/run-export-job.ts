import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { AccessPolicy } from '../../auth/access-policy.js';
import { compartmentParamsOf } from '../../auth/compartment.js';
import type { FhirContext } from '../../fhir/fhir-context.js';
import { FhirError } from '../../fhir/outcomes.js';
import { localReference } from '../../fhir/local-reference.js';
import { andOf, idxField, type Doc } from '../../fhir/search/query-doc.js';
import type { ResourceStore, SearchMatch } from '../../store/resource-store.js';
import { typesOf, type ExportSpec } from './export-parameters.js';
import type { JobFile } from './export-job-store.js';
import { compileTypeFilters } from './type-filters.js';
import { NdjsonFileWriter, type NdjsonSummary } from './ndjson-file-writer.js';

/** A cohort as the cohort module resolves it (ops/cohort/resolve-cohort.ts). */
export interface CohortSource {
  readonly group: string;
  readonly study?: string;
  patientBatches(batchSize: number): AsyncIterable<readonly string[]>;
}
export type ResolveCohort = (store: ResourceStore, groupId: string, now: string) => Promise<CohortSource>;

/** What the de-identification module offers per resource (ops/deidentify/deidentifier.ts). */
export interface ResourceDeidentifier {
  resource(r: Resource, patientId: string | undefined): Resource;
}
/** Builds a de-identifier whose pseudonyms are stable within `scope` (a study, or the client). */
export type DeidentifierFactory = (scope: string) => ResourceDeidentifier;

export interface ExportRun {
  /** The requester's context: its store is the ScopedStore (scopes and the consent gate) a search of theirs gets. */
  readonly ctx: FhirContext;
  /** The unscoped store, used only to list Patient ids for a Patient-level export (their data is read through ctx.store). */
  readonly baseStore: ResourceStore;
  readonly spec: ExportSpec;
  readonly baseUrl: string;
  /** Empty directory the files go to. */
  readonly dir: string;
  readonly patientBatch: number;
  readonly pageSize: number;
  readonly resolveCohort?: ResolveCohort;
  /** The store the cohort is resolved through (cohort-store.ts). */
  readonly cohortStore?: ResourceStore;
  /** Set when the job de-identifies. */
  readonly deidentifier?: DeidentifierFactory;
  readonly now: string;
  /** Called after every page with a short progress text (X-Progress). */
  progress(text: string): void;
  /** Checked between pages: true stops the job (JobStopped). */
  stopped(): boolean;
}

export interface ExportRunResult {
  readonly output: JobFile[];
  readonly error: JobFile[];
  /** File (inside dir) listing the patients whose data was exported, one id per line, for the job's AuditEvents. */
  readonly patientsFile: string;
}

/** Thrown out of a run when `stopped()` says so (cancel, shutdown). */
export class JobStopped extends Error {
  constructor() {
    super('export job stopped');
    this.name = 'JobStopped';
  }
}

export const PATIENTS_FILE = '.audit-patients';

/**
 * Runs one export, streaming: every read is a keyset-paged search through the requester's
 * scoped store (so scopes and Consents are inside the query, and counts are exact), and every
 * page is handed to its type's NDJSON writer (encoded into a chunk that is hashed and written
 * once full) before the next is read. Memory holds one page, one patient batch, the ids of one
 * batch's resources of one type, and one chunk per file, whatever the size of the export.
 *
 * - system level: each type, whole.
 * - Patient and Group level: the patients in batches (all Patients, or the Group's cohort from
 *   the cohort module); for each batch, each compartment type with queries whose clause is the
 *   compartment of many patients at once (`$in` over their references), not one query per
 *   patient: the whole batch at first, fewer patients per query for a type whose queries
 *   needed more than one page. Each hit is attributed to the patients whose references it
 *   carries (`matchedOf`), for the job's per-patient AuditEvents.
 *
 * A resource in the compartments of patients of two different batches is written once per
 * batch (there is no cross-batch de-duplication: that would need memory proportional to the
 * export).
 */
export async function runExport(run: ExportRun): Promise<ExportRunResult> {
  const { ctx, spec } = run;
  const policy = new AccessPolicy(ctx.principal, { defs: ctx.defs, store: ctx.store, baseUrl: run.baseUrl });
  const types: string[] = [];
  for (const t of typesOf(ctx.defs, spec)) {
    // Most R4 types hold nothing here: skipping them saves a query per type, compartment
    // parameter and patient batch. Asked of the base store, whose answer never leaves the job.
    if (policy.grants(t, 's') && (await run.baseStore.search({ resourceType: t, filter: {}, limit: 1, idsOnly: true })).resources.length > 0) types.push(t);
  }
  const compiled = await compileTypeFilters(ctx, spec);
  const since = spec.since === undefined ? undefined : { lastUpdatedMs: { $gt: Date.parse(spec.since) } };
  const filterOf = (type: string): Doc => andOf([compiled.filters.get(type), since].filter((d): d is Doc => d !== undefined));

  const writers = new Map<string, NdjsonFileWriter>();
  const writerFor = (type: string): NdjsonFileWriter => {
    let w = writers.get(type);
    if (!w) writers.set(type, (w = new NdjsonFileWriter(join(run.dir, `${type}.ndjson`))));
    return w;
  };
  const patientsFile = join(run.dir, PATIENTS_FILE);
  await appendFile(patientsFile, '', { mode: 0o600 });
  let written = 0;

  let deid: ResourceDeidentifier | undefined;
  let cohort: CohortSource | undefined;
  if (spec.level === 'group') {
    if (!run.resolveCohort) throw new FhirError('not-supported', 'Group-level export needs the cohort module, which this server now runs without');
    cohort = await run.resolveCohort(run.cohortStore ?? ctx.store, spec.groupId as string, run.now);
  }
  if (spec.deidentify) {
    if (!run.deidentifier) throw new FhirError('not-supported', 'De-identified export was asked for, but this server now runs without the de-identification module');
    // Pseudonyms are stable within a study (a Group linked to one), else within the client.
    deid = run.deidentifier(cohort?.study ?? `client:${ctx.principal.clientId}`);
  }

  /**
   * Exports every match of `filter` in `type`; returns the patients the written resources belong
   * to. `batchField`: the compartment parameter whose patient-batch conjunct the filter holds;
   * the store then says which of the batch's references each match carries (`matchedOf`, from
   * its postings), so no search document is read for that. Without it (a system export) the
   * compartment parameters' values are read from the index. A de-identified export reads them
   * too: a resource's date shift is its own patient's (the first compartment reference, e.g.
   * `subject`), whichever batch patient reached it, so every copy of it is shifted alike.
   */
  const exportType = async (type: string, filter: Doc, label: string, batchField?: string, seen?: Set<string>): Promise<{ patients: Set<string>; pages: number }> => {
    const known = ctx.defs.searchParameters(type);
    const refParams = compartmentParamsOf(type).filter((p) => Object.hasOwn(known, p));
    const needIndex = type !== 'Patient' && refParams.length > 0 && (!batchField || deid !== undefined);
    const attribution = { ...(type !== 'Patient' && batchField ? { matchedOf: batchField } : {}), ...(needIndex ? { indexFields: refParams } : {}) };
    const patients = new Set<string>();
    let after: unknown[] | undefined;
    for (let pages = 1; ; pages++) {
      if (run.stopped()) throw new JobStopped();
      const page = await ctx.store.search({ resourceType: type, filter, limit: run.pageSize, ...(after ? { after } : {}), ...attribution });
      const lines: string[] = [];
      for (const m of page.resources) {
        const owners = m.resourceType === 'Patient' ? [m.id] : patientIdsOf(m.matched ?? refValues(m, refParams), run.baseUrl);
        for (const p of owners) patients.add(p);
        // Several compartment parameters are queried one by one: a resource found by two is
        // written once (its owners through each are counted above).
        if (seen) {
          if (seen.has(m.id)) continue;
          seen.add(m.id);
        }
        if (deid) {
          const body = m.resource ?? (JSON.parse(m.json as string) as Resource);
          // Reached through the batch (matched), its owners are the batch's patients; its own is
          // its first compartment reference. Otherwise owners were read from those references.
          const own = m.resourceType === 'Patient' ? m.id : m.matched ? patientIdsOf(refValues(m, refParams), run.baseUrl)[0] : owners[0];
          lines.push(JSON.stringify(deid.resource(body, own)));
        } else {
          lines.push(m.json ?? JSON.stringify(m.resource));
        }
      }
      if (lines.length > 0) await writerFor(type).write(lines);
      written += lines.length;
      run.progress(`${label}; ${written} resources written`);
      const last = page.resources[page.resources.length - 1];
      if (page.resources.length < run.pageSize || !last) return { patients, pages };
      after = last.sortValues;
    }
  };

  try {
    if (spec.level === 'system') {
      for (const [i, type] of types.entries()) {
        const { patients } = await exportType(type, filterOf(type), `type ${i + 1} of ${types.length} (${type})`);
        await appendPatients(patientsFile, patients);
      }
    } else {
      const batches = cohort ? cohort.patientBatches(run.patientBatch) : allPatientIds(run.baseStore, run.patientBatch);
      // Patients per query, per type: a query over more patients than one page holds is read
      // again from its start for every further page (its postings are read whole per search),
      // so a type that needed several pages is asked about fewer patients at a time.
      const perQuery = new Map<string, number>();
      let n = 0;
      for await (const listed of batches) {
        n++;
        // Patients whose Consents cannot let this requester see anything are not queried: every
        // resource of theirs would be examined only to be refused.
        const batch = ctx.consent ? await ctx.consent.patientsWithVisibleData(listed) : listed;
        if (batch.length === 0) continue;
        const exported = new Set<string>();
        for (const type of types) {
          // A resource reached twice within the batch (two compartment parameters, or patients
          // of two queries) is written once.
          const seen = new Set<string>();
          let size = Math.min(perQuery.get(type) ?? batch.length, batch.length);
          for (let from = 0; from < batch.length; ) {
            const patients = batch.slice(from, from + size);
            from += patients.length;
            const clause = batchClause(ctx, type, patients, run.baseUrl);
            // One query per compartment parameter rather than one $or: the engines answer a
            // single `$in` from its postings, an $or of them far more slowly.
            const parts = Array.isArray(clause.$or) ? (clause.$or as Doc[]) : [clause];
            let most = 1;
            for (const part of parts) {
              const field = Object.keys(part)[0] as string;
              const batchField = field.startsWith('idx.') ? field.slice('idx.'.length) : undefined;
              const done = await exportType(type, andOf([part, filterOf(type)]), `patient batch ${n} (${listed.length} patients)`, batchField, seen);
              for (const p of done.patients) exported.add(p);
              most = Math.max(most, done.pages);
            }
            if (most > 1) size = Math.max(1, Math.floor(size / most));
          }
          perQuery.set(type, size);
        }
        await appendPatients(patientsFile, exported);
      }
    }
    // The files are flushed and fsynced side by side: one fsync per type, not one after another.
    const fileTypes = [...writers.keys()].sort();
    const summaries = await Promise.all(fileTypes.map((type) => (writers.get(type) as NdjsonFileWriter).finish()));
    const output: JobFile[] = fileTypes.map((type, i) => ({ type, name: `${type}.ndjson`, ...(summaries[i] as NdjsonSummary) }));
    const error: JobFile[] = [];
    if (compiled.warnings.length > 0) {
      const w = new NdjsonFileWriter(join(run.dir, 'OperationOutcome.ndjson'));
      await w.write(compiled.warnings.map((text) => JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'warning', code: 'not-supported', details: { text } }] })));
      error.push({ type: 'OperationOutcome', name: 'OperationOutcome.ndjson', ...(await w.finish()) });
    }
    return { output, error, patientsFile };
  } catch (err) {
    for (const w of writers.values()) await w.abandon();
    throw err;
  }
}

/** The string values of a hit's compartment parameters (its `index`). */
function refValues(m: SearchMatch, refParams: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of refParams) {
    const v = m.index?.[p];
    for (const ref of Array.isArray(v) ? v : v === undefined ? [] : [v]) if (typeof ref === 'string') out.push(ref);
  }
  return out;
}

/** The ids of this server's Patients among references (relative, or absolute on this base), each once. */
function patientIdsOf(refs: readonly string[], baseUrl: string): string[] {
  const out: string[] = [];
  for (const ref of refs) {
    const r = localReference(ref, baseUrl);
    if (r?.type === 'Patient' && !out.includes(r.id)) out.push(r.id);
  }
  return out;
}

/** The compartments of a batch of patients among resources of `type`: one `$in` per compartment parameter. */
export function batchClause(ctx: Pick<FhirContext, 'defs'>, type: string, batch: readonly string[], baseUrl: string): Doc {
  if (type === 'Patient') return { id: { $in: [...batch] } };
  const known = ctx.defs.searchParameters(type);
  const params = compartmentParamsOf(type).filter((p) => Object.hasOwn(known, p));
  // A type whose compartment parameters are all unknown reaches nothing rather than everything.
  if (params.length === 0) return { id: { $in: [] } };
  const refs = batch.flatMap((id) => [`Patient/${id}`, `${baseUrl}/Patient/${id}`]);
  const clauses = params.map((p) => ({ [idxField(p)]: { $in: refs } }));
  return clauses.length === 1 ? (clauses[0] as Doc) : { $or: clauses };
}

/** Every Patient id, keyset-paged in batches (ids only: the data itself is read through the scoped store). */
async function* allPatientIds(store: ResourceStore, batch: number): AsyncIterable<readonly string[]> {
  let after: unknown[] | undefined;
  for (;;) {
    const page = await store.search({ resourceType: 'Patient', filter: {}, limit: batch, idsOnly: true, ...(after ? { after } : {}) });
    if (page.resources.length > 0) yield page.resources.map((r) => r.id);
    const last = page.resources[page.resources.length - 1];
    if (page.resources.length < batch || !last) return;
    after = last.sortValues;
  }
}

async function appendPatients(file: string, patients: ReadonlySet<string>): Promise<void> {
  if (patients.size === 0) return;
  await appendFile(file, `${[...patients].join('\n')}\n`);
}
