import type { Contract } from 'fabric-contract-api';
import { runTransaction } from '../fabric/run-transaction.js';
import { SimulatedStub } from '../fabric/simulated-stub.js';
import type { WorldState } from '../fabric/world-state.js';
import type { ChaincodeSimulator } from './simulator.js';

/**
 * Runs a fabric-contract-api contract the way a peer's chaincode container would, on the shared
 * test double (SimulatedStub + runTransaction): a fresh contract instance per invocation, the
 * creator's certificate as the stub's creator bytes and the client identity's ID.
 */
export function contractSimulator(state: WorldState, contract: () => Contract, chaincodeName: string): ChaincodeSimulator {
  return async (invocation) => {
    const { creator } = invocation;
    const stub = new SimulatedStub({
      state,
      txId: invocation.txId,
      timestamp: invocation.timestamp,
      channel: invocation.channelId,
      mspId: creator.mspId,
      creatorId: Buffer.from(creator.certPem, 'utf8'),
      fcn: invocation.fcn,
      args: invocation.args,
      chaincodeName,
    });
    const response = await runTransaction(contract(), stub, invocation.fcn, invocation.args, {
      getMSPID: () => creator.mspId,
      getID: () => creator.id,
    });
    const { reads, writes, rangeQueries, event } = stub.result();
    return {
      status: response.status,
      message: response.message,
      payload: response.payload,
      rwset: { reads, writes, rangeQueries },
      ...(event === undefined ? {} : { event }),
    };
  };
}
