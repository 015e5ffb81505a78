import type { SimulationOutcome } from './envelope.js';
import type { MspIdentity } from './msp.js';

/** One chaincode invocation as the peer hands it to the chaincode runtime. */
export interface ChaincodeInvocation {
  txId: string;
  /** The proposal's channel header timestamp: what stub.getTxTimestamp() returns. */
  timestamp: Date;
  channelId: string;
  creator: MspIdentity;
  /** "contract:Transaction" or "Transaction", exactly as the client sent args[0]. */
  fcn: string;
  args: string[];
}

/**
 * Runs the chaincode against the current world state without changing it, returning its response
 * and the read/write set and event it would commit.
 */
export type ChaincodeSimulator = (invocation: ChaincodeInvocation) => Promise<SimulationOutcome>;
