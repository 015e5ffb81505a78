import { it } from 'node:test';
import { runResourceStoreContract } from './resource-store.contract.js';

const uri = process.env.MONGODB_URI;

if (!uri) {
  it('ResourceStore contract: mongodb', {
    skip: 'MONGODB_URI not set: no MongoDB server on this machine; set it to a replica-set URI to run this suite',
  }, () => {});
} else {
  // Loaded only here so a run without MongoDB never loads the driver.
  const { createMongoStore } = await import('../../server/src/store/mongo/mongo-store.js');
  const { dropMongoDatabase } = await import('../../server/src/store/mongo/mongo-admin.js');
  // One database per store, all sharing this run's prefix, so parallel runs never meet.
  const run = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  let n = 0;
  runResourceStoreContract('mongodb', async () => {
    const dbName = `custodian_contract_${run}_${++n}`;
    return {
      store: createMongoStore({ uri, dbName }),
      cleanup: () => dropMongoDatabase({ uri, dbName }),
    };
  });
}
