/**
 * The refusals of the Fabric anchor chaincode, shared by the chaincode (which throws them) and
 * the adapter (which maps them to ledger errors). Each travels as a plain message starting with
 * the bracketed code: Fabric carries only the message back to the client, inside the
 * endorsement error's details, and gateways wrap it ("chaincode response 500, [OUT_OF_ORDER]
 * latest=8"), so the code is looked for anywhere in the text.
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

/** Matches a refusal anywhere in a message; group 1 is the code, group 2 the rest of its line. */
export const REFUSAL_IN_TEXT = new RegExp(`\\[(${CHAINCODE_ERROR_CODES.join('|')})\\]([^\\n]*)`);

/** The code of a refusal found anywhere in a message. */
export function chaincodeErrorCode(message: string): ChaincodeErrorCode | undefined {
  const m = REFUSAL_IN_TEXT.exec(message);
  return m ? (m[1] as ChaincodeErrorCode) : undefined;
}
