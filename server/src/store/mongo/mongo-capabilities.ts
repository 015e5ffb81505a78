/**
 * Decides from a `hello` reply whether the deployment can run multi-document transactions
 * (https://www.mongodb.com/docs/manual/reference/command/hello/). The store commits every FHIR
 * write (and every transaction Bundle) in one transaction, so a deployment that cannot do them
 * is refused at start-up rather than silently written to non-atomically.
 */

export const TRANSACTIONS_REQUIRED =
  'MongoDB transactions need a replica set or sharded cluster; start mongod with --replSet or use Atlas';

/** The fields of a `hello` reply this decision reads; the others are ignored. */
export interface HelloReply {
  setName?: unknown;
  msg?: unknown;
  [field: string]: unknown;
}

export type TransactionSupport =
  | { supported: true; topology: 'replica-set' | 'sharded' }
  | { supported: false; reason: string };

export function transactionSupport(hello: HelloReply): TransactionSupport {
  if (hello.msg === 'isdbgrid') return { supported: true, topology: 'sharded' };
  if (typeof hello.setName === 'string' && hello.setName.length > 0) return { supported: true, topology: 'replica-set' };
  return {
    supported: false,
    reason: `Refusing to start: the MongoDB server is a standalone mongod. ${TRANSACTIONS_REQUIRED}.`,
  };
}
