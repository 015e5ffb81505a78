import { type ChaincodeErrorCode } from '../../src/anchor/chaincode-refusals.js';

export { CHAINCODE_ERROR_CODES, chaincodeErrorCode, type ChaincodeErrorCode } from '../../src/anchor/chaincode-refusals.js';

/** A refusal of the anchor contract: a plain Error whose message starts with the bracketed code. */
export function chaincodeError(code: ChaincodeErrorCode, detail: string): Error {
  return new Error(`[${code}] ${detail}`);
}
