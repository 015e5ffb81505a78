import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { fromBase64Strict, toBase64 } from '../merkle/base64.js';
import { parsed, refused, type Parsed } from './result.js';

/**
 * C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 signatures:
 *
 *   <text, ending in a newline>
 *   <blank line>
 *   — <key name> <base64(4-byte key ID || 64-byte Ed25519 signature of the text)>
 *
 * The signed text includes its final newline but not the blank line. Key ID =
 * SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]. A verifier key is written
 * `<name>+<8 hex digits of the key ID>+<base64(0x01 || public key)>` (the Go sumdb/note form).
 */

export const ED25519_TYPE = 0x01;
const EM_DASH_PREFIX = '\u2014 ';
/** The C2SP floor is 16; Go's note package stops at 100. */
const MAX_SIGNATURES = 100;
const MAX_NOTE_LENGTH = 1 << 20;
/** In a `u` regex a surrogate range only matches unpaired halves: text that UTF-8 cannot carry. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

export interface VerifierKey {
  name: string;
  keyId: Uint8Array;
  /** The 32-byte Ed25519 public key. */
  rawKey: Uint8Array;
  publicKey: KeyObject;
}

/** Key names: non-empty, no Unicode spaces, no plus, no control characters, well-formed UTF-16. */
export function isValidKeyName(name: unknown): name is string {
  return typeof name === 'string' && name.length > 0 && !/[\s+\p{Cc}]/u.test(name) && !LONE_SURROGATE.test(name);
}

/** The raw 32-byte Ed25519 public key of a public or private KeyObject. */
export function rawPublicKey(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== 'ed25519') throw new TypeError(`expected an Ed25519 key, got ${pub.asymmetricKeyType}`);
  const jwk = pub.export({ format: 'jwk' });
  return Buffer.from(jwk.x as string, 'base64url');
}

export function ed25519PublicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new TypeError('an Ed25519 public key is 32 bytes');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

export function keyIdOf(name: string, rawKey: Uint8Array): Uint8Array {
  return createHash('sha256')
    .update(Buffer.from(name, 'utf8'))
    .update(Buffer.from([0x0a, ED25519_TYPE]))
    .update(rawKey)
    .digest()
    .subarray(0, 4);
}

/** `<name>+<hex key ID>+<base64(0x01 || public key)>`. */
export function verifierKeyOf(name: string, key: KeyObject | Uint8Array): string {
  if (!isValidKeyName(name)) throw new TypeError(`invalid key name ${JSON.stringify(name)}`);
  const raw = key instanceof Uint8Array ? key : rawPublicKey(key);
  if (raw.length !== 32) throw new TypeError('an Ed25519 public key is 32 bytes');
  return `${name}+${Buffer.from(keyIdOf(name, raw)).toString('hex')}+${toBase64(Buffer.concat([Buffer.from([ED25519_TYPE]), raw]))}`;
}

export function parseVerifierKey(text: unknown): Parsed<VerifierKey> {
  if (typeof text !== 'string') return refused('a verifier key is a string');
  // The name and the hex ID hold no plus; the base64 key may.
  const first = text.indexOf('+');
  const second = first < 0 ? -1 : text.indexOf('+', first + 1);
  if (second < 0) return refused('a verifier key is <name>+<key ID>+<key>');
  const name = text.slice(0, first);
  const idHex = text.slice(first + 1, second);
  const keyB64 = text.slice(second + 1);
  if (!isValidKeyName(name)) return refused('invalid key name');
  if (!/^[0-9a-f]{8}$/.test(idHex)) return refused('the key ID must be 8 lowercase hex digits');
  const key = fromBase64Strict(keyB64);
  if (!key || key.length !== 33) return refused('the key must be base64 of 33 bytes (type byte and Ed25519 key)');
  if (key[0] !== ED25519_TYPE) return refused(`unsupported signature type 0x${key[0].toString(16).padStart(2, '0')}`);
  const rawKey = key.subarray(1);
  const keyId = keyIdOf(name, rawKey);
  if (Buffer.from(keyId).toString('hex') !== idHex) return refused('the key ID does not match the key');
  try {
    return parsed({ name, keyId, rawKey, publicKey: ed25519PublicKeyFromRaw(rawKey) });
  } catch {
    return refused('not an Ed25519 public key');
  }
}

function textProblem(text: string): string | undefined {
  if (text.length > MAX_NOTE_LENGTH) return 'too long';
  if (LONE_SURROGATE.test(text)) return 'not valid UTF-8 (lone surrogate)';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0009\u000b-\u001f]/.test(text)) return 'contains a control character other than newline';
  return undefined;
}

/** Signs `text` (non-empty, ending in a newline) and returns the signed note. */
export function signNote(text: string, name: string, privateKey: KeyObject): string {
  if (typeof text !== 'string' || text.length === 0 || !text.endsWith('\n')) {
    throw new TypeError('note text must be non-empty and end with a newline');
  }
  const problem = textProblem(text);
  if (problem) throw new TypeError(`note text ${problem}`);
  if (!isValidKeyName(name)) throw new TypeError(`invalid key name ${JSON.stringify(name)}`);
  const keyId = keyIdOf(name, rawPublicKey(privateKey));
  const signature = sign(null, Buffer.from(text, 'utf8'), privateKey);
  return `${text}\n${EM_DASH_PREFIX}${name} ${toBase64(Buffer.concat([keyId, signature]))}\n`;
}

export interface OpenedNote {
  /** The signed text, including its final newline. */
  text: string;
  /** Signature lines by keys other than the verifier's (ignored, as the spec requires). */
  otherSignatures: number;
}

/**
 * Checks a signed note against one trusted key and returns its text. Signatures by other keys
 * are ignored; a signature by the trusted key that fails rejects the note; a note with no
 * valid signature by the trusted key is rejected. Never throws.
 */
export function openNote(note: unknown, verifierKey: string | VerifierKey): Parsed<OpenedNote> {
  let key: VerifierKey;
  if (typeof verifierKey === 'string') {
    const k = parseVerifierKey(verifierKey);
    if (!k.ok) return refused(`verifier key: ${k.reason}`);
    key = k.value;
  } else {
    key = verifierKey;
  }
  if (typeof note !== 'string') return refused('a note is a string');
  const problem = textProblem(note);
  if (problem) return refused(`the note ${problem}`);
  if (!note.endsWith('\n')) return refused('the note does not end with a newline');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) return refused('no blank line separates the text from the signatures');
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split('\n');
  if (lines.length === 1 && lines[0] === '') return refused('the note has no signature lines');
  if (lines.length > MAX_SIGNATURES) return refused(`more than ${MAX_SIGNATURES} signatures`);
  const keyIdHex = Buffer.from(key.keyId).toString('hex');
  let verified = false;
  let others = 0;
  for (const line of lines) {
    if (!line.startsWith(EM_DASH_PREFIX)) return refused('a signature line does not start with an em dash and a space');
    const fields = line.slice(EM_DASH_PREFIX.length).split(' ');
    if (fields.length !== 2 || !isValidKeyName(fields[0])) return refused('a signature line is not "— <name> <signature>"');
    const sig = fromBase64Strict(fields[1]);
    if (!sig || sig.length < 5) return refused('a signature is not base64 of a key ID and a signature');
    if (fields[0] !== key.name || Buffer.from(sig.subarray(0, 4)).toString('hex') !== keyIdHex) {
      others++;
      continue;
    }
    const ok = sig.length === 68 && verify(null, Buffer.from(text, 'utf8'), key.publicKey, sig.subarray(4));
    if (!ok) return refused(`the signature by ${key.name}+${keyIdHex} does not verify`);
    verified = true;
  }
  if (!verified) return refused(`no signature by ${key.name}+${keyIdHex}`);
  return parsed({ text, otherSignatures: others });
}
