import type { AccessPolicy } from '../../auth/access-policy.js';
import { AccessPolicy as Policy } from '../../auth/access-policy.js';
import { InsufficientScopeError, requirePurposeOfUse } from '../../auth/authorize-interaction.js';
import type { Permission } from '../../auth/scopes.js';
import { rawRequestOf } from '../../audit/request-auditor.js';
import type { FhirContext } from '../../fhir/fhir-context.js';
import type { FhirRequest, FhirResponse } from '../../fhir/fhir-request.js';
import { FhirError, normaliseError, okOutcome, outcome } from '../../fhir/outcomes.js';
import type { Route } from '../../fhir/routes.js';
import { refuseBreakGlass, type ExportJobs } from './export-jobs.js';
import { NDJSON, servedManifest } from './export-manifest.js';
import { parseExportRequest, type ExportLevel } from './export-parameters.js';
import { compileTypeFilters } from './type-filters.js';

declare module '../../fhir/fhir-context.js' {
  interface FhirContext {
    /** Bulk Data export jobs (ops/export); absent where the server is built without them. */
    readonly exportJobs?: ExportJobs;
  }
}

/**
 * FHIR Bulk Data Access IG v2 (https://hl7.org/fhir/uv/bulkdata/export.html) on the route
 * table: kick-off at `[base]/$export`, `[base]/Patient/$export`, `[base]/Group/[id]/$export`
 * (GET, or POST with a Parameters body), the status URL `[base]/$export-status/[job]` (GET
 * polls, DELETE cancels) and the files at `[base]/$export-file/[job].[file]`. All of them go
 * through FhirService like any request, so each is audited by the request auditor.
 *
 * Each is a Route of the route table (fhir/routes.ts) given by its path; the table adds the
 * rest (an operation that writes nothing).
 */
export type ExportRoute = Readonly<Pick<Route, 'method' | 'types' | 'definition' | 'handle'> & Required<Pick<Route, 'operation' | 'authorize'>> & { path: string }>;

const BULK = 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition';
/** Listed for Patient and Group in the CapabilityStatement (the system-level form has no type to hang on). */
const KICK_OFF = { types: ['Patient', 'Group'], definition: `${BULK}/export` };
/** The status and file URLs are not operations a client looks up: listed on no type. */
const INTERNAL = { types: [] as string[] };

/** How long a client should wait before polling again while a job runs (seconds). */
const POLL_AFTER_SECONDS = 2;
/** After a 429 for too many unfinished jobs (seconds). */
const BUSY_RETRY_SECONDS = 30;

/**
 * Only backend services clients export: a token whose resource scopes are all `system/`
 * scopes (what client_credentials issues), with a purpose of use, and some scope that
 * searches. Patient and user tokens get 403.
 */
export function authorizeExport(policy: AccessPolicy): readonly Permission[] {
  const p = policy.principal;
  requirePurposeOfUse(p);
  const backend = p.launchPatient === undefined && p.scopes.length > 0 && p.scopes.every((s) => s.context === 'system');
  if (!backend) throw new InsufficientScopeError('Bulk Data export is for backend services clients: a client_credentials token with system/ scopes only');
  if (!p.scopes.some((s) => s.permissions.includes('s'))) throw new InsufficientScopeError('None of the access token\'s system/ scopes allows search, which export needs');
  return ['s'];
}

export const EXPORT_ROUTES: readonly ExportRoute[] = Object.freeze([
  ...(['GET', 'POST'] as const).flatMap((method): ExportRoute[] => [
    { method, path: '$export', operation: 'export', ...KICK_OFF, authorize: authorizeExport, handle: (ctx, req) => kickOff(ctx, req, 'system', undefined) },
    { method, path: ':type/$export', operation: 'export', ...KICK_OFF, authorize: authorizeExport, handle: (ctx, req, m) => kickOff(ctx, req, levelOf(m.type, 'Patient'), undefined) },
    { method, path: ':type/:id/$export', operation: 'export', ...KICK_OFF, authorize: authorizeExport, handle: (ctx, req, m) => kickOff(ctx, req, levelOf(m.type, 'Group'), m.id) },
  ]),
  { method: 'GET', path: '$export-status/:id', operation: 'export-status', ...INTERNAL, authorize: authorizeExport, handle: async (ctx, _req, m) => status(ctx, m.id as string) },
  { method: 'DELETE', path: '$export-status/:id', operation: 'export-cancel', ...INTERNAL, authorize: authorizeExport, handle: async (ctx, _req, m) => cancel(ctx, m.id as string) },
  { method: 'GET', path: '$export-file/:id', operation: 'export-file', ...INTERNAL, authorize: authorizeExport, handle: async (ctx, _req, m) => download(ctx, m.id as string) },
]);

function levelOf(type: string | undefined, expected: 'Patient' | 'Group'): ExportLevel {
  if (type !== expected) throw new FhirError('unknown-type', `$export is defined on the system, Patient and Group/[id], not on ${type}${expected === 'Group' ? '/[id]' : ''}`);
  return expected === 'Patient' ? 'patient' : 'group';
}

function jobsOf(ctx: FhirContext): ExportJobs {
  if (!ctx.exportJobs) throw new FhirError('not-supported', 'This server runs without Bulk Data export');
  return ctx.exportJobs;
}

async function kickOff(ctx: FhirContext, req: FhirRequest, level: ExportLevel, groupId: string | undefined): Promise<FhirResponse> {
  const jobs = jobsOf(ctx);
  let spec = parseExportRequest(ctx.defs, req, level, groupId);
  const policy = new Policy(ctx.principal, { defs: ctx.defs, store: ctx.store, baseUrl: req.baseUrl });
  for (const t of spec.types ?? []) {
    if (!policy.grants(t, 's')) throw new InsufficientScopeError(`The access token's scopes do not allow searching ${t}, which _type names`);
  }
  refuseBreakGlass(ctx);
  // Bad _typeFilter queries are the kick-off's 400, not a failed job later.
  await compileTypeFilters(ctx, spec);
  if (level === 'group') await jobs.checkGroup(ctx, req.baseUrl, groupId as string);
  if (!spec.deidentify && jobs.alwaysDeidentifies(ctx.principal.clientId)) spec = { ...spec, deidentify: true };
  if (spec.deidentify && !jobs.canDeidentify) throw new FhirError('not-supported', 'De-identified export is not available on this server');
  const raw = rawRequestOf(req);
  const job = jobs.kickOff(ctx.principal, spec, { request: `${req.baseUrl}/${raw}`, rawRequest: raw, method: req.method === 'POST' ? 'POST' : 'GET', baseUrl: req.baseUrl });
  if (!job) {
    const { status, outcome: body } = normaliseError(new FhirError('too-many-requests', 'This client already has as many export jobs queued or running as it may; wait for one to finish or cancel one'));
    return { status, body, headers: { 'Retry-After': String(BUSY_RETRY_SECONDS) } };
  }
  return {
    status: 202,
    body: okOutcome(`Export job ${job.id} accepted; poll the Content-Location URL for its status`),
    headers: { 'Content-Location': `${req.baseUrl}/$export-status/${job.id}` },
  };
}

function status(ctx: FhirContext, id: string): FhirResponse {
  const view = jobsOf(ctx).view(ctx.principal, id);
  switch (view.state) {
    case 'queued':
    case 'running':
      return { status: 202, headers: { 'X-Progress': view.progress.slice(0, 200), 'Retry-After': String(POLL_AFTER_SECONDS) } };
    case 'completed':
      return { status: 200, json: JSON.stringify(servedManifest(view.job)), contentType: 'application/json', headers: { Expires: new Date(view.expires).toUTCString() } };
    case 'failed':
      return { status: 500, body: outcome('error', 'exception', `The export job failed: ${view.job.failure ?? 'unknown reason'}`) };
  }
}

function cancel(ctx: FhirContext, id: string): FhirResponse {
  jobsOf(ctx).cancel(ctx.principal, id);
  return { status: 202, body: okOutcome(`Export job ${id} cancelled; its files are removed`) };
}

function download(ctx: FhirContext, target: string): FhirResponse {
  const dot = target.indexOf('.');
  if (dot <= 0) throw new FhirError('not-found', 'No such export file');
  const path = jobsOf(ctx).file(ctx.principal, target.slice(0, dot), target.slice(dot + 1));
  return { status: 200, file: { path, contentType: NDJSON } };
}
