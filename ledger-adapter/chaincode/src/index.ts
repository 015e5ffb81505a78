import { AnchorContract } from './anchor-contract.js';

/**
 * The chaincode's entry (package.json `main`): fabric-chaincode-node loads it with `require`
 * and starts the contracts listed in `contracts`.
 */
export const contracts = [AnchorContract];

export { AnchorContract, ANCHORED_EVENT, CONTRACT_NAME, EQUIVOCATION_EVENT } from './anchor-contract.js';
export { CHAINCODE_ERROR_CODES, chaincodeErrorCode, type ChaincodeErrorCode } from './chaincode-error.js';
export type { AnchorRecord, EquivocationRecord, LogRecord } from './records.js';
