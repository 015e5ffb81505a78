import type { ResourceStore } from '../../store/resource-store.js';
import { idxField } from '../../fhir/search/query-doc.js';
import type { CompiledCharacteristics, HasCriterion } from './characteristics.js';

/** Rows per sub-search page when looking for the patients of a batch that have a resource. */
const HAS_PAGE = 1000;

/**
 * The patients of a descriptive Group, streamed: Patient documents matching the patient-level
 * clause are read in keyset pages of `batchSize` ids (sorted by id, so a page boundary is
 * stable under concurrent writes), and each page is narrowed by one search per has-criterion
 * restricted to that page's patients. Memory is bounded by the batch, never the population.
 *
 * Every search runs on the store given, which for a request is its scoped store: a patient
 * whose Patient resource the caller may not read is not in the cohort (its demographics cannot
 * be tested), and only Conditions/Observations the caller may read count as evidence, so a
 * cohort can never reveal what consent hides.
 */
export async function* characteristicPatients(store: Pick<ResourceStore, 'search'>, compiled: CompiledCharacteristics, batchSize: number): AsyncIterable<readonly string[]> {
  const size = Math.max(1, Math.floor(batchSize));
  let pending: string[] = [];
  let after: unknown[] | undefined;
  for (;;) {
    const page = await store.search({ resourceType: 'Patient', filter: compiled.patient, sort: [['id', 1]], limit: size, idsOnly: true, ...(after ? { after } : {}) });
    const ids = page.resources.map((r) => r.id);
    let kept = ids;
    for (const criterion of compiled.has) {
      if (kept.length === 0) break;
      const having = await patientsHaving(store, criterion, kept);
      kept = kept.filter((id) => having.has(id) !== criterion.exclude);
    }
    pending.push(...kept);
    while (pending.length >= size) {
      yield pending.slice(0, size);
      pending = pending.slice(size);
    }
    if (page.resources.length < size) break;
    after = page.resources[page.resources.length - 1]?.sortValues;
  }
  if (pending.length > 0) yield pending;
}

/** Which of `patients` have at least one resource matching the criterion (through `subject`). */
async function patientsHaving(store: Pick<ResourceStore, 'search'>, criterion: HasCriterion, patients: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  let remaining = patients.map((id) => `Patient/${id}`);
  let after: unknown[] | undefined;
  while (remaining.length > 0) {
    // Narrowed to the patients not found yet: a patient with many matching resources costs one row, not all of them.
    const filter = { $and: [{ [idxField('subject')]: { $in: remaining } }, criterion.filter] };
    const page = await store.search({ resourceType: criterion.type, filter, sort: [['id', 1]], limit: HAS_PAGE, idsOnly: true, indexFields: ['subject'], ...(after ? { after } : {}) });
    for (const hit of page.resources) {
      for (const ref of (hit.index?.subject as unknown[] | undefined) ?? []) {
        if (typeof ref === 'string' && ref.startsWith('Patient/')) found.add(ref.slice('Patient/'.length));
      }
    }
    if (page.resources.length < HAS_PAGE) break;
    after = page.resources[page.resources.length - 1]?.sortValues;
    remaining = remaining.filter((r) => !found.has(r.slice('Patient/'.length)));
  }
  return found;
}
