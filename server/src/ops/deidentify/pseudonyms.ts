import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';

/** Characters of a resource pseudonym: 22 base64url characters carry 132 bits of the HMAC. */
export const PSEUDONYM_LENGTH = 22;
/** Dates move by 1..MAX_SHIFT_DAYS days, earlier or later, never 0. */
export const MAX_SHIFT_DAYS = 365;
/** Past this many cached values a cache starts over, so a long export holds bounded memory. */
const CACHE_LIMIT = 100_000;

/**
 * Keyed pseudonyms for one scope (a study or an export job). Every value is an
 * HMAC-SHA256 under the de-identification key of a message that names its purpose, the scope
 * and the input, so the same input gives the same output within a scope, another scope gives
 * unrelated output, and without the key nothing maps back. The scope is length-prefixed and
 * the purposes differ, so no two (purpose, scope, input) triples share a message.
 */
export class Pseudonyms {
  private readonly key: KeyObject;
  private readonly idPrefix: string;
  private readonly uuidPrefix: string;
  private readonly dicomPrefix: string;
  private readonly shiftPrefix: string;
  private readonly ids = new Map<string, string>();
  private readonly offsets = new Map<string, number>();

  constructor(key: Uint8Array, scope: string) {
    if (key.length < 32) throw new RangeError(`the de-identification key must hold at least 32 bytes, got ${key.length}`);
    if (scope === '') throw new RangeError('a de-identification scope must not be empty');
    this.key = createSecretKey(Buffer.from(key));
    const s = `${scope.length}:${scope}\u0000`;
    this.idPrefix = `custodian-deid-id\u0000${s}`;
    this.uuidPrefix = `custodian-deid-uuid\u0000${s}`;
    this.dicomPrefix = `custodian-deid-dicom\u0000${s}`;
    this.shiftPrefix = `custodian-deid-shift\u0000${s}`;
  }

  private mac(message: string): Buffer {
    return createHmac('sha256', this.key).update(message).digest();
  }

  /**
   * The pseudonym of resource `type`/`id`: base64url of the HMAC cut to PSEUDONYM_LENGTH
   * characters, `_` written as `.` because FHIR ids allow `[A-Za-z0-9\-\.]` only.
   * `cache` is for ids seen again (reference targets such as the Patient); a resource's own id
   * is usually seen once, and caching it would only push the useful entries out.
   */
  id(type: string, id: string, cache = true): string {
    const k = `${type}/${id}`;
    let p = this.ids.get(k);
    if (p === undefined) {
      p = this.mac(this.idPrefix + k).toString('base64url').slice(0, PSEUDONYM_LENGTH).replaceAll('_', '.');
      if (cache) remember(this.ids, k, p);
    }
    return p;
  }

  /** A UUID (RFC 9562 version 8, "custom") standing for `uuid` in `urn:uuid:` references. */
  uuid(uuid: string): string {
    const b = this.mac(this.uuidPrefix + uuid.toLowerCase());
    b[6] = ((b[6] as number) & 0x0f) | 0x80;
    b[8] = ((b[8] as number) & 0x3f) | 0x80;
    const h = b.subarray(0, 16).toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
  }

  /** A DICOM UID standing for `uid`: `2.25.` and 128 bits in decimal (the UUID-derived UID root). */
  dicomUid(uid: string): string {
    return `2.25.${BigInt(`0x${this.mac(this.dicomPrefix + uid).subarray(0, 16).toString('hex')}`).toString(10)}`;
  }

  /** The patient's date shift in days: in -MAX_SHIFT_DAYS..-1 or 1..MAX_SHIFT_DAYS. */
  offsetDays(patientId: string): number {
    let d = this.offsets.get(patientId);
    if (d === undefined) {
      // 2^32 = 5,883,516 * 730 + 616: some offsets are likelier by 1 in 5.9 million, negligible.
      const v = this.mac(this.shiftPrefix + patientId).readUInt32BE(0) % (2 * MAX_SHIFT_DAYS);
      d = v < MAX_SHIFT_DAYS ? v - MAX_SHIFT_DAYS : v - MAX_SHIFT_DAYS + 1;
      remember(this.offsets, patientId, d);
    }
    return d;
  }
}

function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, value);
}
