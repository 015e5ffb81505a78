import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { FhirError } from '../outcomes.js';

/**
 * Opaque, stateless paging cursors (FHIR R4 §3.1.1.6 "Paging",
 * https://hl7.org/fhir/R4/search.html#count leaves the form of paging links to the server).
 *
 * A cursor names a keyset position, the sort values of a row, and which way to read from it.
 * It is `base64url(iv ‖ payload) "." base64url(tag)`: the payload AES-256-CTR encrypted, since
 * sort values are data from a health record (a name, a birth date) and links end up in logs
 * and browser histories; the tag an HMAC-SHA256 over the encrypted payload and the canonical
 * form of the rest of the query (encrypt-then-MAC). So a cursor cannot be read, edited, forged,
 * or moved onto another query; nothing is kept on the server, and any process holding the key
 * can continue a search another process started.
 */
export interface PageCursor {
  /** 'next': the rows after the position; 'previous': the rows before it. */
  direction: 'next' | 'previous';
  /** Resource type of the row the position was taken from (system search merges types). */
  type: string;
  /** That row's sort values, aligned with the effective sort (trailing id included). */
  values: unknown[];
}

/** The query parameter carrying the cursor in paging links. */
export const CURSOR_PARAM = '_cursor';

/**
 * Parameters a cursor is not bound to: page size and output format do not change which rows
 * follow a position, so a client may change them between pages.
 */
const UNBOUND = new Set([CURSOR_PARAM, '_count', '_format', '_pretty']);

const VERSION = 1;
const TAG_BYTES = 16;
const MAX_TOKEN = 4096;

const IV_BYTES = 16;

export class CursorCodec {
  private readonly encKey: Buffer;
  private readonly macKey: Buffer;

  constructor(key: Buffer) {
    if (key.length < 32) throw new Error('cursor key must be at least 32 bytes');
    // Separate keys for the two jobs, derived from the one secret.
    this.encKey = createHmac('sha256', key).update('custodian-cursor/enc').digest();
    this.macKey = createHmac('sha256', key).update('custodian-cursor/mac').digest();
  }

  encode(cursor: PageCursor, binding: string): string {
    const plain = Buffer.from(JSON.stringify({ v: VERSION, d: cursor.direction === 'next' ? 'n' : 'p', t: cursor.type, k: cursor.values }));
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-ctr', this.encKey, iv);
    const payload = Buffer.concat([iv, cipher.update(plain), cipher.final()]).toString('base64url');
    return `${payload}.${this.tag(payload, binding).toString('base64url')}`;
  }

  /** Throws a 400 for anything this server did not issue for exactly this query. */
  decode(token: string, binding: string): PageCursor {
    const invalid = (): FhirError =>
      new FhirError('bad-request', 'Invalid paging cursor: it was not issued by this server for this search; follow the links of a fresh search', CURSOR_PARAM);
    if (token.length > MAX_TOKEN) throw invalid();
    const dot = token.indexOf('.');
    if (dot <= 0 || dot !== token.lastIndexOf('.')) throw invalid();
    const payload = token.slice(0, dot);
    // Compared as text: base64 decoding ignores the spare bits of the last character, so a
    // byte comparison would accept a cursor with that character changed.
    const tag = Buffer.from(token.slice(dot + 1));
    const expected = Buffer.from(this.tag(payload, binding).toString('base64url'));
    if (tag.length !== expected.length || !timingSafeEqual(tag, expected)) throw invalid();
    // Past the tag the payload is ours; the shape is still checked so a key shared with an
    // older format cannot produce a crash.
    let body: unknown;
    try {
      const raw = Buffer.from(payload, 'base64url');
      const decipher = createDecipheriv('aes-256-ctr', this.encKey, raw.subarray(0, IV_BYTES));
      body = JSON.parse(Buffer.concat([decipher.update(raw.subarray(IV_BYTES)), decipher.final()]).toString('utf8'));
    } catch {
      throw invalid();
    }
    const b = body as { v?: unknown; d?: unknown; t?: unknown; k?: unknown };
    if (b.v !== VERSION || (b.d !== 'n' && b.d !== 'p') || typeof b.t !== 'string' || !Array.isArray(b.k)) throw invalid();
    return { direction: b.d === 'n' ? 'next' : 'previous', type: b.t, values: b.k };
  }

  private tag(payload: string, binding: string): Buffer {
    return createHmac('sha256', this.macKey).update(`custodian-cursor/${VERSION}\n${binding}\n${payload}`).digest().subarray(0, TAG_BYTES);
  }
}

/**
 * The canonical form of a search a cursor is bound to: where it searches (one type or the
 * system) and every parameter except the unbound ones, keys sorted. Values keep their order,
 * since the order of repeated `_sort` parameters matters.
 */
export function cursorBinding(scope: string, query: Readonly<Record<string, readonly string[]>>): string {
  const keys = Object.keys(query)
    .filter((k) => !UNBOUND.has(k))
    .sort();
  return JSON.stringify([scope, keys.map((k) => [k, query[k]])]);
}
