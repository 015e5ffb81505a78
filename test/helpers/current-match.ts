import type { ResourceStore } from '../../server/src/store/resource-store.js';

/** readCurrentMatching's verdict alone: false for an absent or deleted resource. */
export async function matchesNow(store: ResourceStore, type: string, id: string, filter: Record<string, unknown>): Promise<boolean> {
  if (!store.readCurrentMatching) throw new Error('this store has no readCurrentMatching');
  return (await store.readCurrentMatching(type, id, filter))?.matches ?? false;
}
