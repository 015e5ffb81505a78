import { fromBase64Strict, toBase64 } from '../merkle/base64.js';
import { HASH_SIZE } from '../merkle/hash.js';
import { openNote, type VerifierKey } from './note.js';
import { parsed, refused, type Parsed } from './result.js';

/**
 * C2SP checkpoints (https://c2sp.org/tlog-checkpoint): the text of a signed note made of
 *
 *   <origin>\n
 *   <tree size, decimal, no leading zeroes>\n
 *   <base64 of the 32-byte RFC 9162 root hash>\n
 *   [<extension line>\n ...]      (optional, non-empty; we write none)
 */
export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  extensions?: string[];
}

const SIZE = /^(?:0|[1-9][0-9]*)$/;

export function formatCheckpoint(c: Checkpoint): string {
  if (typeof c.origin !== 'string' || c.origin.length === 0 || c.origin.includes('\n')) {
    throw new TypeError('origin must be a non-empty single line');
  }
  if (!Number.isSafeInteger(c.size) || c.size < 0) throw new TypeError('size must be a non-negative safe integer');
  if (!(c.rootHash instanceof Uint8Array) || c.rootHash.length !== HASH_SIZE) throw new TypeError('rootHash must be 32 bytes');
  const ext = c.extensions ?? [];
  for (const line of ext) {
    if (typeof line !== 'string' || line.length === 0 || line.includes('\n')) throw new TypeError('extension lines must be non-empty single lines');
  }
  return [c.origin, String(c.size), toBase64(c.rootHash), ...ext].map((l) => `${l}\n`).join('');
}

export function parseCheckpoint(text: unknown): Parsed<Checkpoint> {
  if (typeof text !== 'string') return refused('a checkpoint is a string');
  if (!text.endsWith('\n')) return refused('a checkpoint ends with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) return refused('a checkpoint has at least three lines');
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (origin.length === 0) return refused('the origin line is empty');
  if (!SIZE.test(sizeText)) return refused('the size line is not a decimal number without leading zeroes');
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) return refused('the tree size is too large');
  const rootHash = fromBase64Strict(rootText);
  if (!rootHash || rootHash.length !== HASH_SIZE) return refused('the root hash line is not base64 of 32 bytes');
  if (extensions.some((l) => l.length === 0)) return refused('an extension line is empty');
  return parsed(extensions.length > 0 ? { origin, size, rootHash, extensions } : { origin, size, rootHash });
}

/** Opens a signed checkpoint note with a trusted key and parses its text. Never throws. */
export function openCheckpoint(note: unknown, verifierKey: string | VerifierKey): Parsed<Checkpoint> {
  const opened = openNote(note, verifierKey);
  if (!opened.ok) return opened;
  return parseCheckpoint(opened.value.text);
}
