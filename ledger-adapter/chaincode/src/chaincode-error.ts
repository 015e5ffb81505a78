/**
 * The refusals of the anchor contract. Each is thrown as a plain Error whose message starts
 * with the bracketed code: Fabric carries only the message back to the client (inside the
 * endorsement error's details), so the code in the text is the stable part adapters match on.
 */
export const CHAINCODE_ERROR_CODES = [
  'INVALID_ARGUMENT',
  'KEY_MISMATCH',
  'UNKNOWN_LOG',
  'FORBIDDEN',
  'BAD_SIGNATURE',
  'OUT_OF_ORDER',
  'STALE_PREVIOUS',
  'BAD_CONSISTENCY_PROOF',
] as const;

export type ChaincodeErrorCode = (typeof CHAINCODE_ERROR_CODES)[number];

export function chaincodeError(code: ChaincodeErrorCode, detail: string): Error {
  return new Error(`[${code}] ${detail}`);
}

const CODE_IN_TEXT = new RegExp(`\\[(${CHAINCODE_ERROR_CODES.join('|')})\\]`);

/**
 * The code of a refusal found anywhere in a message: gateways and SDKs wrap the chaincode's
 * message (e.g. "chaincode response 500, [OUT_OF_ORDER] latest=8"), so it is not always first.
 */
export function chaincodeErrorCode(message: string): ChaincodeErrorCode | undefined {
  const m = CODE_IN_TEXT.exec(message);
  return m ? (m[1] as ChaincodeErrorCode) : undefined;
}
