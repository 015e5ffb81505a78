import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

/**
 * The embedded anchor chain's entry format: canonical JSON, hashing, signing, keys, parsing.
 * Nothing here touches the disk; the checks built on it are in anchor-verify.ts.
 *
 * The chain file holds one line per entry, in order, each the canonical JSON of
 *
 *   { "entry": { "anchoredAt", "note", "origin", "prevEntryHash", "rootHash", "sequence", "size" },
 *     "entryHash": hex SHA-256 of the canonical JSON of `entry`,
 *     "signature": base64 Ed25519 signature of ENTRY_SIGNATURE_CONTEXT || the 32 entryHash bytes }
 *
 * `sequence` counts from 0 and equals the line's position; `prevEntryHash` is the previous
 * entry's `entryHash` (64 zeros for the first), so editing, deleting, inserting or reordering
 * an entry breaks a hash, a link or a sequence number, and repairing those needs the key to
 * sign again. Cutting entries off the end leaves a well-formed shorter chain: that is caught
 * only against a head someone kept — any receipt handed out names its entry's position and
 * hash (`verifyAnchorChain(entries, key, { heads: [receiptHead(receipt)] })`).
 */

export interface AnchorEntry {
  sequence: number;
  origin: string;
  size: number;
  /** Base64 of the 32-byte root hash. */
  rootHash: string;
  /** The C2SP signed checkpoint note, as the log signed it. */
  note: string;
  /** ISO 8601, from the anchor's clock. */
  anchoredAt: string;
  /** Hex SHA-256 of the previous entry's canonical JSON; GENESIS_PREV for the first entry. */
  prevEntryHash: string;
}

export interface SignedAnchorEntry {
  entry: AnchorEntry;
  /** Hex SHA-256 of canonicalEntryJson(entry). */
  entryHash: string;
  /** Base64 Ed25519 signature over ENTRY_SIGNATURE_CONTEXT || entryHash bytes. */
  signature: string;
}

/** The `proof` of an embedded anchor receipt: the entry and its signature. */
export interface EmbeddedAnchorProof {
  format: typeof EMBEDDED_PROOF_FORMAT;
  entry: AnchorEntry;
  entryHash: string;
  signature: string;
  /** anchorKeyId of the signing key: which key to check it with, when keys were rotated. */
  keyId: string;
}

export const EMBEDDED_PROOF_FORMAT = 'custodian-embedded-anchor/v1';
export const GENESIS_PREV = '0'.repeat(64);
/** Domain separation: an anchor signature can never be mistaken for any other signature made with the key. */
export const ENTRY_SIGNATURE_CONTEXT = 'custodian anchor entry v1\n';

const HEX64 = /^[0-9a-f]{64}$/;
const BASE64_32 = /^[A-Za-z0-9+/]{43}=$/;
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

// ---------------------------------------------------------------------------------------------
// Canonical JSON for this fixed shape

type Canon = string | number | { [key: string]: Canon };

/**
 * Deterministic JSON for the chain's own records: objects with sorted keys (UTF-16 order, as
 * RFC 8785), strings as JSON.stringify writes them (RFC 8785's escaping), numbers only as
 * non-negative safe integers (so no float formatting question arises). Anything else throws:
 * the shape is fixed, and a value outside it is a bug, not something to hash.
 */
export function canonicalJson(value: Canon): string {
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) throw new TypeError('canonicalJson: lone surrogate in a string');
    return JSON.stringify(value);
  }
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`canonicalJson: ${value} is not a non-negative safe integer`);
    return String(value);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new TypeError('canonicalJson: unsupported value');
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
}

function entryRecord(e: AnchorEntry): Canon {
  return {
    anchoredAt: e.anchoredAt,
    note: e.note,
    origin: e.origin,
    prevEntryHash: e.prevEntryHash,
    rootHash: e.rootHash,
    sequence: e.sequence,
    size: e.size,
  };
}

export function computeEntryHash(entry: AnchorEntry): string {
  return createHash('sha256').update(canonicalJson(entryRecord(entry)), 'utf8').digest('hex');
}

function signedMessage(entryHash: string): Buffer {
  return Buffer.concat([Buffer.from(ENTRY_SIGNATURE_CONTEXT, 'utf8'), Buffer.from(entryHash, 'hex')]);
}

/** Hashes and signs an entry. */
export function signAnchorEntry(entry: AnchorEntry, privateKey: KeyObject): SignedAnchorEntry {
  const entryHash = computeEntryHash(entry);
  const signature = sign(null, signedMessage(entryHash), privateKey).toString('base64');
  return { entry, entryHash, signature };
}

/** One line of the chain file, without its newline. */
export function serializeSignedEntry(s: SignedAnchorEntry): string {
  return canonicalJson({ entry: entryRecord(s.entry), entryHash: s.entryHash, signature: s.signature });
}

// ---------------------------------------------------------------------------------------------
// Keys

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** An Ed25519 public key from a KeyObject (public or private), SPKI PEM, or the raw 32 bytes (or their base64). */
export function toAnchorPublicKey(key: KeyObject | string | Uint8Array): KeyObject {
  let pub: KeyObject;
  if (typeof key === 'string' && key.includes('-----BEGIN')) pub = createPublicKey(key);
  else if (typeof key === 'string' || key instanceof Uint8Array) {
    const raw = typeof key === 'string' ? Buffer.from(key, 'base64') : Buffer.from(key);
    if (raw.length !== 32) throw new TypeError('a raw Ed25519 public key is 32 bytes');
    pub = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
  } else pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== 'ed25519') throw new TypeError(`expected an Ed25519 key, got ${pub.asymmetricKeyType}`);
  return pub;
}

/** Base64 of the raw 32-byte public key: the compact form to publish. */
export function rawAnchorPublicKey(key: KeyObject | string | Uint8Array): string {
  const der = toAnchorPublicKey(key).export({ format: 'der', type: 'spki' });
  return der.subarray(SPKI_ED25519_PREFIX.length).toString('base64');
}

/** First 16 hex digits of SHA-256 of the raw public key. */
export function anchorKeyId(key: KeyObject | string | Uint8Array): string {
  return createHash('sha256').update(Buffer.from(rawAnchorPublicKey(key), 'base64')).digest('hex').slice(0, 16);
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** Parses one chain line; a string result says why it is not an entry. */
export function parseSignedEntry(line: string): SignedAnchorEntry | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  if (!isObject(v) || !isObject(v.entry)) return 'not an anchor entry';
  const e = v.entry;
  const fields: [string, boolean][] = [
    ['sequence', Number.isSafeInteger(e.sequence) && (e.sequence as number) >= 0],
    ['origin', typeof e.origin === 'string' && e.origin.length > 0],
    ['size', Number.isSafeInteger(e.size) && (e.size as number) >= 0],
    ['rootHash', typeof e.rootHash === 'string' && BASE64_32.test(e.rootHash)],
    ['note', typeof e.note === 'string'],
    ['anchoredAt', typeof e.anchoredAt === 'string'],
    ['prevEntryHash', typeof e.prevEntryHash === 'string' && HEX64.test(e.prevEntryHash)],
  ];
  for (const [name, ok] of fields) if (!ok) return `bad ${name}`;
  if (Object.keys(e).length !== fields.length) return 'unexpected fields in entry';
  if (typeof v.entryHash !== 'string' || !HEX64.test(v.entryHash)) return 'bad entryHash';
  if (typeof v.signature !== 'string') return 'bad signature field';
  return { entry: e as unknown as AnchorEntry, entryHash: v.entryHash, signature: v.signature };
}

export interface ParsedChain {
  entries: SignedAnchorEntry[];
  /** Lines that are not entries, by line index (0-based). */
  malformed: { line: number; reason: string }[];
}

/** Parses the text of a chain file (one entry per line; a trailing newline is expected). */
export function parseAnchorChain(text: string): ParsedChain {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const entries: SignedAnchorEntry[] = [];
  const malformed: ParsedChain['malformed'] = [];
  lines.forEach((line, i) => {
    const p = parseSignedEntry(line);
    if (typeof p === 'string') malformed.push({ line: i, reason: p });
    else entries.push(p);
  });
  return { entries, malformed };
}

/** Whether the entry hash is signed by `key` (the entry itself is not re-hashed here). */
export function verifyEntrySignature(s: SignedAnchorEntry, key: KeyObject): boolean {
  const sig = Buffer.from(s.signature, 'base64');
  if (sig.length !== 64 || !HEX64.test(s.entryHash)) return false;
  try {
    return verify(null, signedMessage(s.entryHash), key, sig);
  } catch {
    return false;
  }
}

/** The note's first three lines are the checkpoint's origin, size and base64 root (C2SP tlog-checkpoint). */
export function noteMatches(e: { origin: string; size: number; rootHash: string; note: string }): boolean {
  return e.note.startsWith(`${e.origin}\n${e.size}\n${e.rootHash}\n`);
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
