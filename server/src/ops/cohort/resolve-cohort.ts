import type { Group, ResearchStudy } from '@medplum/fhirtypes';
import { parseLocalReference } from '../../fhir/local-reference.js';
import { FhirError } from '../../fhir/outcomes.js';
import type { ResourceStore } from '../../store/resource-store.js';
import { characteristicPatients } from './characteristic-cohort.js';
import { compileCharacteristics } from './characteristics.js';
import { currentMembers } from './group-members.js';

/**
 * A study cohort: the patients of a Group, for Bulk Data `Group/[id]/$export` and the like.
 * README "Cohorts" says which Groups can be evaluated and how.
 */
export interface Cohort {
  readonly group: string; // 'Group/<id>'
  readonly study?: string; // 'ResearchStudy/<id>' whose enrollment names the Group, if any
  /** Patient ids in the cohort, streamed in batches (keyset-paged for characteristic groups). */
  patientBatches(batchSize: number): AsyncIterable<readonly string[]>;
}

/** ResearchStudies looked at per page when finding the one that enrolls a Group. */
const STUDY_PAGE = 500;

/**
 * Reads `Group/<groupId>` through `store` — the caller's scoped store, so the consent gate and
 * the token's scopes decide whether the Group is readable at all — and returns its cohort.
 *
 * - `actual=true`: the members that are Patients, not `inactive`, whose `period` contains `now`.
 * - `actual=false`: patients matching every characteristic (characteristics.ts), evaluated when
 *   the batches are iterated, through the same store.
 * - Throws FhirError('not-found') for a Group that does not exist, is deleted or cannot be
 *   read; 400 for a Group it cannot evaluate (type other than `person`, a characteristic
 *   outside the supported set, a member that is not a Patient).
 */
export async function resolveCohort(store: ResourceStore, groupId: string, now: string): Promise<Cohort> {
  const v = await store.readCurrent('Group', groupId);
  if (!v || v.deleted || !v.resource) throw new FhirError('not-found', `Group/${groupId} not found`);
  const group = v.resource as Group;
  if (group.type !== 'person') throw new FhirError('bad-request', `Group/${groupId} has type '${String(group.type).slice(0, 40)}': only person Groups (of Patients) are cohorts`, 'Group.type');
  if (typeof group.actual !== 'boolean') throw new FhirError('bad-request', `Group/${groupId} does not say whether it is actual`, 'Group.actual');
  const study = await enrollingStudy(store, groupId);
  const base = { group: `Group/${groupId}`, ...(study ? { study } : {}) };
  if (group.actual) {
    const ids = currentMembers(group.member ?? [], now);
    return {
      ...base,
      async *patientBatches(batchSize: number) {
        const size = Math.max(1, Math.floor(batchSize));
        for (let i = 0; i < ids.length; i += size) yield ids.slice(i, i + size);
      },
    };
  }
  // Compiled now, so a Group that cannot be evaluated fails before any batch is asked for.
  const compiled = compileCharacteristics(group.characteristic ?? [], now);
  return { ...base, patientBatches: (batchSize: number) => characteristicPatients(store, compiled, batchSize) };
}

/**
 * The ResearchStudy whose `enrollment` names the Group, among those the store lets the caller
 * read. R4 has no search parameter on `enrollment`, so studies are read page by page; a server
 * holds few of them. The first in id order wins when several enroll the same Group.
 */
async function enrollingStudy(store: Pick<ResourceStore, 'search'>, groupId: string): Promise<string | undefined> {
  const wanted = new Set([`Group/${groupId}`]);
  let after: unknown[] | undefined;
  for (;;) {
    const page = await store.search({ resourceType: 'ResearchStudy', filter: {}, sort: [['id', 1]], limit: STUDY_PAGE, ...(after ? { after } : {}) });
    for (const hit of page.resources) {
      const s = hit.resource as ResearchStudy | undefined;
      if (s?.enrollment?.some((e) => wanted.has(stripBase(e.reference ?? '')))) return `ResearchStudy/${hit.id}`;
    }
    if (page.resources.length < STUDY_PAGE) return undefined;
    after = page.resources[page.resources.length - 1]?.sortValues;
  }
}

/**
 * `Group/x` from `Group/x`, `Group/x/_history/n` or any URL ending in it; other references as
 * written. Any prefix ending in `/` counts as the base, this server's or another's (anyBase):
 * an enrollment is matched on the Group's id alone.
 */
function stripBase(ref: string): string {
  const local = parseLocalReference(ref, undefined, { anyBase: true, anyVersion: true });
  return local?.type === 'Group' ? `Group/${local.id}` : ref;
}
