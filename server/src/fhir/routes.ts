import type { FhirContext } from './fhir-context.js';
import type { FhirHandler, FhirRequest, FhirResponse } from './fhir-request.js';
import { processBundle } from './interactions/bundle.js';
import { history } from './interactions/history.js';
import { read, vread } from './interactions/read.js';
import { search } from './interactions/search.js';
import { systemSearch } from './interactions/system-search.js';
import { validateOperation } from './interactions/validate-operation.js';
import { write } from './interactions/write.js';
import { capabilities } from './interactions/capabilities.js';
import { authorizeBreakGlassReport, breakGlassReport } from './interactions/break-glass-report.js';
import { authorizeConsentDecision, consentDecision } from './interactions/consent-decision.js';
import { verifyOperation } from './interactions/verify-operation.js';
import { authorizeFullAudit, fullAuditOperation } from './interactions/full-audit-operation.js';
import { authorizeEvidence, claimEvidence, EVIDENCE_TYPES } from '../ops/evidence/claim-evidence.js';
import type { AccessPolicy } from '../auth/access-policy.js';
import type { Permission } from '../auth/scopes.js';
import { EXPORT_ROUTES } from '../ops/export/export-routes.js';

/**
 * The route table is data: the router dispatches from it and the CapabilityStatement is
 * generated from it, so the server can never claim an interaction it does not route.
 */
export type TypeInteraction = 'read' | 'vread' | 'update' | 'patch' | 'delete' | 'history-instance' | 'history-type' | 'create' | 'search-type';
export type SystemInteraction = 'transaction' | 'batch' | 'capabilities' | 'search-system';

/** Reported in the CapabilityStatement. */
export const SOFTWARE = Object.freeze({ name: 'Custodian', version: '0.1.0' });

export interface RouteMatch {
  type?: string;
  id?: string;
  versionId?: string;
}

export interface Route {
  method: FhirRequest['method'];
  /** Path segments; `:type`, `:id`, `:vid` are captures. */
  pattern: readonly string[];
  interaction: TypeInteraction | SystemInteraction | 'operation';
  /** Operation name (without `$`) when interaction is 'operation'. */
  operation?: string;
  /** True for interactions that change data (refused on read-only types). */
  writes: boolean;
  /** For an operation defined on some types only: those (the handler refuses others). Absent: every type. */
  types?: readonly string[];
  /** For an operation: its OperationDefinition's canonical URL (default: the core Resource-<name>). */
  definition?: string;
  /**
   * For routes that declare their own authorization: replaces the general check
   * (authorizeInteraction, which a hook may call itself); throws for what it refuses and returns
   * the permissions the request's store reads with. The Bulk Data routes (system-level
   * `$export`, its status and file URLs, which are on no type; `Patient/` and `Group/[id]/$export`),
   * `$full-audit`, and the operations that ask more of the caller than a scope (`$evidence`: role
   * and purpose; `$break-glass-report`: role admin; `$consent-decision`: role admin or the patient
   * themself) have one; those call authorizeOperation first.
   */
  authorize?(policy: AccessPolicy, m: RouteMatch): readonly Permission[];
  handle(ctx: FhirContext, req: FhirRequest, m: RouteMatch, router: FhirHandler): Promise<FhirResponse>;
}

const r = (
  method: Route['method'],
  path: string,
  interaction: Route['interaction'],
  writes: boolean,
  handle: Route['handle'],
  operation?: string,
  op: { types?: readonly string[]; definition?: string; authorize?: Route['authorize'] } = {},
): Route => ({ method, pattern: path === '' ? [] : path.split('/'), interaction, writes, handle, ...(operation ? { operation } : {}), ...op });

/** Custodian's own operations (issue 5 §5, §6); their definitions live under this canonical base. */
const OPERATION_BASE = 'https://custodian.example.org/fhir/OperationDefinition';
const CONSENT_DECISION = { types: ['Patient'], definition: `${OPERATION_BASE}/Patient-consent-decision`, authorize: authorizeConsentDecision };
const VERIFY = { definition: `${OPERATION_BASE}/Resource-verify` };
const BREAK_GLASS_REPORT = { types: ['AuditEvent'], definition: `${OPERATION_BASE}/AuditEvent-break-glass-report`, authorize: authorizeBreakGlassReport };
// A system-level operation: on no resource type (the CapabilityStatement lists operations per type only).
const FULL_AUDIT = { types: [], definition: `${OPERATION_BASE}/full-audit`, authorize: authorizeFullAudit };
const EVIDENCE = { types: EVIDENCE_TYPES, definition: `${OPERATION_BASE}/Claim-evidence`, authorize: authorizeEvidence };

export const ROUTES: readonly Route[] = Object.freeze([
  r('GET', 'metadata', 'capabilities', false, async (ctx, req) => capabilities(ctx, req, SOFTWARE)),
  // Before the ':type' patterns, which would take '$export…' for a type.
  ...EXPORT_ROUTES.map((e) => r(e.method, e.path, 'operation', false, e.handle, e.operation, { ...(e.types ? { types: e.types } : {}), ...(e.definition ? { definition: e.definition } : {}), authorize: e.authorize })),
  r('POST', '', 'transaction', true, (ctx, req, _m, router) => processBundle(ctx, req, router)),
  r('GET', '', 'search-system', false, (ctx, req) => systemSearch(ctx, req)),
  // The console's steward view (issue 9): the full audit of the live log, role admin.
  r('POST', '$full-audit', 'operation', false, (ctx) => fullAuditOperation(ctx), 'full-audit', FULL_AUDIT),
  // Before ':type' patterns, so '_search' is never taken for a type.
  r('POST', '_search', 'search-system', false, (ctx, req) => systemSearch(ctx, req)),
  r('POST', ':type/_search', 'search-type', false, (ctx, req, m) => search(ctx, req, m.type as string)),
  r('GET', ':type/_history', 'history-type', false, (ctx, req, m) => history(ctx, req, m.type as string, undefined)),
  r('POST', ':type/$validate', 'operation', false, (ctx, req, m) => validateOperation(ctx, req, m.type as string), 'validate'),
  r('POST', ':type/:id/$validate', 'operation', false, (ctx, req, m) => validateOperation(ctx, req, m.type as string), 'validate'),
  r('GET', ':type/:id/$consent-decision', 'operation', false, (ctx, req, m) => consentDecision(ctx, req, m.type as string, m.id as string), 'consent-decision', CONSENT_DECISION),
  r('POST', ':type/:id/$consent-decision', 'operation', false, (ctx, req, m) => consentDecision(ctx, req, m.type as string, m.id as string), 'consent-decision', CONSENT_DECISION),
  r('GET', ':type/$break-glass-report', 'operation', false, (ctx, req, m) => breakGlassReport(ctx, req, m.type as string), 'break-glass-report', BREAK_GLASS_REPORT),
  r('GET', ':type/:id/$evidence', 'operation', false, (ctx, req, m) => claimEvidence(ctx, req, m.type as string, m.id as string), 'evidence', EVIDENCE),
  r('POST', ':type/:id/$evidence', 'operation', false, (ctx, req, m) => claimEvidence(ctx, req, m.type as string, m.id as string), 'evidence', EVIDENCE),
  r('GET', ':type/:id/$verify', 'operation', false, (ctx, _req, m) => verifyOperation(ctx, m.type as string, m.id as string, undefined), 'verify', VERIFY),
  r('GET', ':type/:id/_history/:vid/$verify', 'operation', false, (ctx, _req, m) => verifyOperation(ctx, m.type as string, m.id as string, m.versionId as string), 'verify', VERIFY),
  r('GET', ':type/:id/_history/:vid', 'vread', false, (ctx, _req, m) => vread(ctx, m.type as string, m.id as string, m.versionId as string)),
  r('GET', ':type/:id/_history', 'history-instance', false, (ctx, req, m) => history(ctx, req, m.type as string, m.id)),
  r('GET', ':type/:id', 'read', false, (ctx, req, m) => read(ctx, req, m.type as string, m.id as string)),
  r('PUT', ':type/:id', 'update', true, (ctx, req, m) => write(ctx, req, m.type as string, m.id)),
  r('PATCH', ':type/:id', 'patch', true, (ctx, req, m) => write(ctx, req, m.type as string, m.id)),
  r('DELETE', ':type/:id', 'delete', true, (ctx, req, m) => write(ctx, req, m.type as string, m.id)),
  r('GET', ':type', 'search-type', false, (ctx, req, m) => search(ctx, req, m.type as string)),
  r('POST', ':type', 'create', true, (ctx, req, m) => write(ctx, req, m.type as string, undefined)),
  r('PUT', ':type', 'update', true, (ctx, req, m) => write(ctx, req, m.type as string, undefined)),
  r('PATCH', ':type', 'patch', true, (ctx, req, m) => write(ctx, req, m.type as string, undefined)),
  r('DELETE', ':type', 'delete', true, (ctx, req, m) => write(ctx, req, m.type as string, undefined)),
]);

/** Matches segments against a pattern; literal segments must be equal. */
export function matchRoute(pattern: readonly string[], segments: readonly string[]): RouteMatch | undefined {
  if (pattern.length !== segments.length) return undefined;
  const m: RouteMatch = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i] as string;
    const s = segments[i] as string;
    if (p === ':type') m.type = s;
    else if (p === ':id') {
      if (s.startsWith('$') || s.startsWith('_')) return undefined;
      m.id = s;
    } else if (p === ':vid') m.versionId = s;
    else if (p !== s) return undefined;
  }
  return m;
}
