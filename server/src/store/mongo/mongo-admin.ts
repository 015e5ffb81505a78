import { MongoClient } from 'mongodb';

/**
 * Drops a whole database. Lives in the adapter because only this folder may import the driver;
 * used by tests that create a throw-away database per run.
 */
export async function dropMongoDatabase(opts: { uri: string; dbName: string }): Promise<void> {
  const client = new MongoClient(opts.uri);
  try {
    await client.connect();
    await client.db(opts.dbName).dropDatabase({ writeConcern: { w: 'majority' } });
  } finally {
    await client.close();
  }
}
