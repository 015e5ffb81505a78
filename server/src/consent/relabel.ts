import type { Coding, Meta } from '@medplum/fhirtypes';
import type { Definitions } from '../fhir/definitions.js';
import { computeIndex } from '../fhir/search/index-values.js';
import type { ResourceStore, UpdateIndexEntry } from '../store/resource-store.js';
import type { Labeler } from './labeler.js';

/** The store setting holding the fingerprint of the mappings the stored labels were computed with. */
export const LABELS_FINGERPRINT_SETTING = 'labels.fingerprint';

const BATCH = 500;

export interface RelabelLogger {
  info(obj: object, msg?: string): void;
}

type RelabelStore = Pick<ResourceStore, 'scan' | 'updateIndex' | 'readSetting' | 'writeSetting'>;

/**
 * Start-up check, like reindexIfDefinitionsChanged: when the label mappings (the CodeSystem,
 * ValueSets and ConceptMap in fhir-profiles/, i.e. `labeler.fingerprint`) differ from those the
 * stored data was labelled with — or the store predates labels — every current resource is
 * relabelled before the server takes requests. Returns how many resources changed (0 when the
 * labels were already current).
 *
 * Relabelling rewrites meta in place, without a new version: FHIR's $meta-add "does not cause
 * a new version" and exists because "security labels are used to apply access rules to
 * existing resources" (https://hl7.org/fhir/R4/resource-operation-meta-add.html). The index
 * values are recomputed with it, so `_tag`/`_security` searches match the new labels.
 *
 * What changes and what cannot: the category tags (meta.tag of CATEGORY_SYSTEM) are
 * recomputed exactly, so a code moved out of a category takes its tag with it. Security
 * labels only ever grow: a stored label cannot be told apart from one a client sent, and the
 * server never removes a client's label, so a label implied by an old mapping stays (and,
 * if it names a category, keeps the resource in it). Confidentiality likewise only rises.
 */
export async function relabelIfMappingsChanged(store: RelabelStore, defs: Definitions, labeler: Labeler, logger?: RelabelLogger): Promise<number> {
  const recorded = await store.readSetting(LABELS_FINGERPRINT_SETTING);
  if (recorded === labeler.fingerprint) return 0;
  logger?.info({ recorded: recorded ?? null }, 'label mappings changed since the store was labelled: relabelling');
  const changed = await relabelAll(store, defs, labeler, logger);
  await store.writeSetting(LABELS_FINGERPRINT_SETTING, labeler.fingerprint);
  return changed;
}

/** Relabels every current resource whose labels differ from what `labeler` computes now. */
export async function relabelAll(store: Pick<ResourceStore, 'scan' | 'updateIndex'>, defs: Definitions, labeler: Labeler, logger?: RelabelLogger): Promise<number> {
  let total = 0;
  for (const type of defs.resourceTypes) {
    let batch: UpdateIndexEntry[] = [];
    let count = 0;
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      await store.updateIndex(type, batch);
      count += batch.length;
      batch = [];
    };
    for await (const doc of store.scan(type)) {
      if (doc.deleted || !doc.resource) continue;
      const relabelled = labeler.apply(doc.resource);
      if (sameLabels(doc.resource.meta, relabelled.meta)) continue;
      batch.push({ id: doc.id, index: computeIndex(defs, relabelled), resource: relabelled });
      if (batch.length >= BATCH) await flush();
    }
    await flush();
    if (count > 0) {
      logger?.info({ resourceType: type, count }, 'relabelled');
      total += count;
    }
  }
  logger?.info({ total }, 'relabel complete');
  return total;
}

function sameLabels(a: Meta | undefined, b: Meta | undefined): boolean {
  return sameCodings(a?.tag, b?.tag) && sameCodings(a?.security, b?.security);
}

function sameCodings(a: readonly Coding[] | undefined, b: readonly Coding[] | undefined): boolean {
  return JSON.stringify(a ?? []) === JSON.stringify(b ?? []);
}
