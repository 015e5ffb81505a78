import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmbeddedStore } from '../../server/src/store/embedded/embedded-store.js';
import { runResourceStoreContract } from './resource-store.contract.js';

runResourceStoreContract('embedded', async () => {
  const path = mkdtempSync(join(tmpdir(), 'custodian-store-'));
  return {
    store: createEmbeddedStore({ path }),
    cleanup: async () => rmSync(path, { recursive: true, force: true }),
  };
});
