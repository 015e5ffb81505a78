import { BREAK_GLASS_LABEL } from '../../audit/audit-codes.js';
import type { AccessPolicy } from '../../auth/access-policy.js';
import { authorizeOperation } from '../../auth/authorize-interaction.js';
import type { Permission } from '../../auth/scopes.js';
import { dateRange } from '../search/date-range.js';
import type { FhirContext } from '../fhir-context.js';
import type { FhirRequest, FhirResponse } from '../fhir-request.js';
import { parseLocalReference } from '../local-reference.js';
import { FhirError } from '../outcomes.js';
import type { RouteMatch } from '../routes.js';
import { search } from './search.js';

/** Result parameters passed on to the search as given; other `_` parameters (_format …) are the edge's. */
const PASSED_ON: ReadonlySet<string> = new Set(['_count', '_cursor', '_total', '_summary', '_elements']);

/**
 * `AuditEvent/$break-glass-report` (GET, role admin): the break-the-glass AuditEvents
 * (the audit trail's events labelled meta.security BTG), newest first, as a `searchset` Bundle, optionally only
 * those about one patient (`patient=Patient/x`) or recorded at or after an instant
 * (`since=<dateTime>`). It is an AuditEvent search (`_security=…|BTG&_sort=-date`, `entity`,
 * `date=ge…`), so it pages, counts and honours the request's scopes and consent like any
 * search; its `next`/`previous` links are links of that search. Who may call it is decided by
 * the route's hook (authorizeBreakGlassReport below), before the handler runs.
 */
export async function breakGlassReport(ctx: FhirContext, req: FhirRequest, type: string): Promise<FhirResponse> {
  if (type !== 'AuditEvent') throw new FhirError('unknown-type', `$break-glass-report is defined on AuditEvent only, not on ${type}`);
  const query: Record<string, string[]> = {
    _security: [`${BREAK_GLASS_LABEL.system}|${BREAK_GLASS_LABEL.code}`],
    _sort: ['-date'],
  };
  for (const [name, values] of Object.entries(req.query)) {
    if (PASSED_ON.has(name)) query[name] = values;
    else if (name === 'patient') query.entity = [one(name, values, isPatientReference, 'a reference Patient/<id>')];
    else if (name === 'since') query.date = [`ge${one(name, values, (v) => dateRange(v) !== undefined, 'a FHIR instant or dateTime')}`];
    else if (!name.startsWith('_')) throw new FhirError('unknown-parameter', `$break-glass-report has no parameter '${name.slice(0, 40)}' (it takes patient, since, _count)`, name);
  }
  return search(ctx, { ...req, method: 'GET', path: 'AuditEvent', query }, 'AuditEvent');
}

/** `patient=Patient/<id>`: relative and unversioned only, the one form the operation takes. */
function isPatientReference(v: string): boolean {
  const local = parseLocalReference(v);
  return local?.type === 'Patient' && local.versionId === undefined;
}

/**
 * The route's authorization (Route.authorize): the general check of an operation on a type
 * (a purpose is stated, some scope reaches the type), then, on AuditEvent, role admin. On
 * another type the handler answers unknown-type, as it did when it checked the role itself.
 */
export function authorizeBreakGlassReport(policy: AccessPolicy, m: RouteMatch): readonly Permission[] {
  const readAs = authorizeOperation(policy, m.type);
  if (m.type !== 'AuditEvent') return readAs;
  if (!policy.principal.roles.includes('admin')) throw new FhirError('forbidden', '$break-glass-report is open to principals with role admin');
  return readAs;
}

function one(name: string, values: readonly string[], valid: (v: string) => boolean, what: string): string {
  const v = values[0];
  if (values.length !== 1 || v === undefined || !valid(v)) throw new FhirError('bad-request', `'${name}' must be given once, as ${what}`, name);
  return v;
}
