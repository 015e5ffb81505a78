import { BREAK_GLASS_LABEL } from '../../audit/audit-codes.js';
import { dateRange } from '../search/date-range.js';
import type { FhirContext } from '../fhir-context.js';
import type { FhirRequest, FhirResponse } from '../fhir-request.js';
import { FhirError } from '../outcomes.js';
import { search } from './search.js';

/** Result parameters passed on to the search as given; other `_` parameters (_format …) are the edge's. */
const PASSED_ON: ReadonlySet<string> = new Set(['_count', '_cursor', '_total', '_summary', '_elements']);
const PATIENT = /^Patient\/[A-Za-z0-9\-.]{1,64}$/;

/**
 * `AuditEvent/$break-glass-report` (GET, role admin): the break-the-glass AuditEvents
 * (the audit trail's events labelled meta.security BTG), newest first, as a `searchset` Bundle, optionally only
 * those about one patient (`patient=Patient/x`) or recorded at or after an instant
 * (`since=<dateTime>`). It is an AuditEvent search (`_security=…|BTG&_sort=-date`, `entity`,
 * `date=ge…`), so it pages, counts and honours the request's scopes and consent like any
 * search; its `next`/`previous` links are links of that search.
 */
export async function breakGlassReport(ctx: FhirContext, req: FhirRequest, type: string): Promise<FhirResponse> {
  if (type !== 'AuditEvent') throw new FhirError('unknown-type', `$break-glass-report is defined on AuditEvent only, not on ${type}`);
  if (!ctx.principal.roles.includes('admin')) throw new FhirError('forbidden', '$break-glass-report is open to principals with role admin');
  const query: Record<string, string[]> = {
    _security: [`${BREAK_GLASS_LABEL.system}|${BREAK_GLASS_LABEL.code}`],
    _sort: ['-date'],
  };
  for (const [name, values] of Object.entries(req.query)) {
    if (PASSED_ON.has(name)) query[name] = values;
    else if (name === 'patient') query.entity = [one(name, values, (v) => PATIENT.test(v), 'a reference Patient/<id>')];
    else if (name === 'since') query.date = [`ge${one(name, values, (v) => dateRange(v) !== undefined, 'a FHIR instant or dateTime')}`];
    else if (!name.startsWith('_')) throw new FhirError('unknown-parameter', `$break-glass-report has no parameter '${name.slice(0, 40)}' (it takes patient, since, _count)`, name);
  }
  return search(ctx, { ...req, method: 'GET', path: 'AuditEvent', query }, 'AuditEvent');
}

function one(name: string, values: readonly string[], valid: (v: string) => boolean, what: string): string {
  const v = values[0];
  if (values.length !== 1 || v === undefined || !valid(v)) throw new FhirError('bad-request', `'${name}' must be given once, as ${what}`, name);
  return v;
}
