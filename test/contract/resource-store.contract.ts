import { afterEach, beforeEach, describe } from 'node:test';
import type { ResourceStore } from '../../server/src/store/resource-store.js';
import type { StoreContext } from './resource-store/fixture.js';
import { writeContract } from './resource-store/writes.js';
import { preconditionContract } from './resource-store/preconditions.js';
import { searchContract } from './resource-store/search.js';
import { searchPagingContract } from './resource-store/search-paging.js';
import { searchPlannerContract } from './resource-store/search-planner.js';
import { historyContract } from './resource-store/history.js';
import { scanAndReindexContract } from './resource-store/scan-and-reindex.js';
import { concurrencyContract } from './resource-store/concurrency.js';
import { readCurrentMatchingContract } from './resource-store/read-current-matching.js';
import { matchedOfContract } from './resource-store/matched-of.js';

/**
 * The one behavioural contract of the ResourceStore port (server/src/store/resource-store.ts),
 * run against every engine. `makeStore` returns a fresh, empty, not yet initialised store; the
 * suite calls init() before and close() after every test, then `cleanup` removes what is left.
 */
export function runResourceStoreContract(
  name: string,
  makeStore: () => Promise<{ store: ResourceStore; cleanup(): Promise<void> }>,
): void {
  describe(`ResourceStore contract: ${name}`, () => {
    let current: { store: ResourceStore; cleanup(): Promise<void> } | undefined;
    const ctx: StoreContext = {
      get store() {
        if (!current) throw new Error('store used outside a test');
        return current.store;
      },
    };

    beforeEach(async () => {
      current = await makeStore();
      await current.store.init();
    });

    afterEach(async () => {
      const done = current;
      current = undefined;
      if (!done) return;
      try {
        await done.store.close();
      } finally {
        await done.cleanup();
      }
    });

    writeContract(ctx);
    preconditionContract(ctx);
    searchContract(ctx);
    searchPagingContract(ctx);
    searchPlannerContract(ctx);
    historyContract(ctx);
    scanAndReindexContract(ctx);
    concurrencyContract(ctx);
    readCurrentMatchingContract(ctx);
    matchedOfContract(ctx);
  });
}
