import type { ChaincodeStub } from 'fabric-shim-api';

/**
 * The transaction's timestamp as ISO 8601 (millisecond precision). It is the client's time
 * from the proposal header, the same on every endorser, which is what makes it usable in a
 * write set; the peer's clock (Date.now) would differ between endorsers.
 *
 * fabric-shim returns `{ seconds: Long, nanos: number }`; a Long prints as its decimal value,
 * so `String(seconds)` reads it without depending on the `long` package.
 */
export function txTimeIso(stub: Pick<ChaincodeStub, 'getTxTimestamp'>): string {
  const ts = stub.getTxTimestamp();
  const seconds = Number(String(ts?.seconds));
  const nanos = ts?.nanos;
  if (!Number.isSafeInteger(seconds) || !Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) {
    throw new Error('the transaction timestamp is not a protobuf Timestamp');
  }
  const date = new Date(seconds * 1000 + Math.floor(nanos / 1_000_000));
  if (Number.isNaN(date.getTime())) throw new Error('the transaction timestamp is out of range');
  return date.toISOString();
}
