import { Contract, type Context } from 'fabric-contract-api';
import type { ChaincodeStub, ClientIdentity } from 'fabric-shim-api';
import type { SimulatedStub } from './simulated-stub.js';

/**
 * What fabric-shim's contract runtime (ChaincodeFromContract) does with one transaction of an
 * undecorated contract, for a contract class loaded in-process:
 *
 *  - `fcn` is `Name` (the default contract) or `<contract>:Name`; another contract name fails;
 *  - the transactions are the functions on the contract's own prototype, minus `constructor`,
 *    the Contract base methods and names starting with `_`; any other name goes to
 *    `unknownTransaction` (which, by default, throws);
 *  - a function declared with parameters must get exactly that many arguments (after ctx);
 *  - the context comes from `createContext()` with the stub and a client identity set, then
 *    beforeTransaction, the call (through aroundTransaction), afterTransaction;
 *  - a thrown error becomes status 500 with its message; a result becomes the payload as the
 *    default JSON serializer writes it (strings, numbers and booleans as text, objects as JSON).
 */

export interface SimulatedClientIdentity {
  getMSPID(): string;
  getID(): string;
}

export interface TransactionResponse {
  status: 200 | 500;
  payload: Uint8Array;
  message: string;
}

type RuntimeContext = Context & {
  setChaincodeStub(stub: ChaincodeStub): void;
  setClientIdentity(identity: ClientIdentity): void;
};

const BASE_METHODS = new Set(Object.getOwnPropertyNames(Contract.prototype));

/** The transaction names the runtime would expose for this contract instance. */
export function transactionNames(contract: Contract): string[] {
  const proto = Object.getPrototypeOf(contract) as object;
  return Object.getOwnPropertyNames(proto).filter(
    (name) =>
      name !== 'constructor' &&
      !name.startsWith('_') &&
      !BASE_METHODS.has(name) &&
      typeof (contract as unknown as Record<string, unknown>)[name] === 'function',
  );
}

/** The identity fabric-shim derives from the creator; certificates are not simulated, so the ID is made of the MSP. */
export function clientIdentityOf(stub: SimulatedStub, identity?: SimulatedClientIdentity): ClientIdentity {
  const creator = stub.getCreator();
  const mspId = identity ? identity.getMSPID() : creator.mspid;
  const id = identity ? identity.getID() : `x509::CN=client,O=${creator.mspid}::CN=ca,O=${creator.mspid}`;
  return {
    getMSPID: () => mspId,
    getID: () => id,
    getIDBytes: () => Uint8Array.from(creator.idBytes),
    getAttributeValue: () => null,
    assertAttributeValue: () => false,
  };
}

function payloadOf(result: unknown): Uint8Array {
  if (result === undefined || result === null) return new Uint8Array(0);
  if (typeof result === 'string' || typeof result === 'number' || typeof result === 'boolean') return Buffer.from(String(result), 'utf8');
  return Buffer.from(JSON.stringify(result), 'utf8');
}

function failure(err: unknown): TransactionResponse {
  return { status: 500, payload: new Uint8Array(0), message: err instanceof Error ? err.message : String(err) };
}

export async function runTransaction(
  contract: Contract,
  stub: SimulatedStub,
  fcn: string,
  args: readonly string[],
  clientIdentity?: SimulatedClientIdentity,
): Promise<TransactionResponse> {
  try {
    const colon = fcn.indexOf(':');
    const named = colon < 0 ? '' : fcn.slice(0, colon);
    const fn = colon < 0 ? fcn : fcn.slice(colon + 1);
    const contractName = named.trim() === '' ? contract.getName() : named;
    if (contractName !== contract.getName()) throw new Error(`Contract name is not known: ${contractName}`);

    const ctx = contract.createContext() as RuntimeContext;
    ctx.setChaincodeStub(stub as unknown as ChaincodeStub);
    ctx.setClientIdentity(clientIdentityOf(stub, clientIdentity));

    if (!transactionNames(contract).includes(fn)) {
      try {
        await contract.unknownTransaction(ctx);
        return { status: 200, payload: new Uint8Array(0), message: '' };
      } catch (err) {
        return failure(err);
      }
    }

    const method = (contract as unknown as Record<string, (...a: unknown[]) => unknown>)[fn];
    if (method.length > 1 && args.length !== method.length - 1) {
      throw new Error(`Expected ${method.length - 1} parameters, but ${args.length} have been supplied`);
    }
    await contract.beforeTransaction(ctx);
    const result: unknown = await contract.aroundTransaction(ctx, fn as unknown as Function, [...args]);
    await contract.afterTransaction(ctx, result);
    return { status: 200, payload: payloadOf(result), message: '' };
  } catch (err) {
    return failure(err);
  }
}
