/**
 * World-state layout of the anchor contract. Simple keys only: Fabric refuses composite keys
 * in getStateByRange, and the anchors of a log are read by range.
 *
 *   log/<hex origin>                                   the registration of a log
 *   latest/<hex origin>                                the latest anchor's size, root, sequence
 *   anchor/<hex origin>/<size, 16 digits>              one anchor per (origin, size), write-once
 *   equivocation/<hex origin>/<size16>/<hex root>      evidence of a conflicting checkpoint, write-once
 *
 * The origin is hex-encoded (UTF-8) so that no origin can contain the '/' separator or be a
 * prefix of another's segment; sizes are zero-padded to 16 digits (Number.MAX_SAFE_INTEGER has
 * 16) so that key order is size order.
 */

const SIZE_DIGITS = 16;

export function originHex(origin: string): string {
  return Buffer.from(origin, 'utf8').toString('hex');
}

function paddedSize(size: number): string {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`size ${size} is not a non-negative safe integer`);
  return String(size).padStart(SIZE_DIGITS, '0');
}

export function logKey(origin: string): string {
  return `log/${originHex(origin)}`;
}

export function latestKey(origin: string): string {
  return `latest/${originHex(origin)}`;
}

export function anchorKey(origin: string, size: number): string {
  return `anchor/${originHex(origin)}/${paddedSize(size)}`;
}

export function equivocationKey(origin: string, size: number, rootHash: Uint8Array): string {
  return `equivocation/${originHex(origin)}/${paddedSize(size)}/${Buffer.from(rootHash).toString('hex')}`;
}

/**
 * The [startKey, endKey) range holding the anchors of `origin` with fromSize ≤ size ≤ toSize
 * (no upper bound when toSize is undefined, or the largest size there is). '0' is the
 * character after '/', so `anchor/<hex>0` is the first key past every `anchor/<hex>/…`.
 */
export function anchorRange(origin: string, fromSize: number, toSize: number | undefined): { startKey: string; endKey: string } {
  const hex = originHex(origin);
  return {
    startKey: anchorKey(origin, fromSize),
    endKey: toSize === undefined || toSize >= Number.MAX_SAFE_INTEGER ? `anchor/${hex}0` : anchorKey(origin, toSize + 1),
  };
}
