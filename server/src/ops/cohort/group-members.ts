import type { GroupMember } from '@medplum/fhirtypes';
import { parseLocalReference } from '../../fhir/local-reference.js';
import { FhirError } from '../../fhir/outcomes.js';

/**
 * The patient ids of an enumerated Group (`actual=true`) that are members at `now`: a member
 * counts unless `inactive` is true or its `period` does not contain `now` (an open end is open).
 * Every member must be a `Patient/<id>` reference (a person Group lists Patients); anything
 * else is refused with 400 naming the member rather than silently dropped. Duplicates are
 * listed once, in the Group's order.
 */
export function currentMembers(members: readonly GroupMember[], now: string): string[] {
  const at = Date.parse(now);
  const out = new Set<string>();
  members.forEach((m, i) => {
    const where = `Group.member[${i}].entity`;
    const ref = m.entity?.reference ?? '';
    // Relative only (no base URL): members are written `Patient/<id>`.
    const hit = parseLocalReference(ref);
    if (hit?.type !== 'Patient') throw new FhirError('bad-request', `${where} '${ref.slice(0, 100)}' is not a reference Patient/<id>: a person Group lists Patients`, where);
    if (m.inactive === true) return;
    if (!covers(m.period, at)) return;
    out.add(hit.id);
  });
  return [...out];
}

/** Whether a Period contains the instant; a date-only end covers that whole day. */
function covers(period: GroupMember['period'], at: number): boolean {
  if (!period) return true;
  if (period.start !== undefined && Date.parse(period.start) > at) return false;
  if (period.end !== undefined) {
    const end = /^\d{4}(-\d{2}(-\d{2})?)?$/.test(period.end) ? endOfDay(period.end) : Date.parse(period.end);
    if (end < at) return false;
  }
  return true;
}

function endOfDay(date: string): number {
  const [y, m = '12', d] = date.split('-');
  const year = Number(y);
  const month = Number(m);
  const day = d !== undefined ? Number(d) : new Date(Date.UTC(year, month, 0)).getUTCDate();
  return Date.UTC(year, month - 1, day, 23, 59, 59, 999);
}
