import { constants as fsConstants } from 'node:fs';
import { access, mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  EMBEDDED_PROOF_FORMAT,
  GENESIS_PREV,
  parseAnchorChain,
  parseSignedEntry,
  serializeSignedEntry,
  signAnchorEntry,
  type AnchorEntry,
  type EmbeddedAnchorProof,
  type ParsedChain,
  type SignedAnchorEntry,
} from './anchor-entry.js';
import { AnchorChainVerifier, verifyAnchorReceipt } from './anchor-verify.js';
import { loadOrCreateAnchorKey, type AnchorKey } from './anchor-key.js';
import { AnchorIndex, existingOrAppend, validateCheckpoint } from './anchor-rules.js';
import { syncDir } from './durable-file.js';
import {
  AnchorChainCorruptError,
  LedgerUnavailableError,
  type AnchorReceipt,
  type CheckpointToAnchor,
  type LedgerPort,
  type LedgerStatus,
} from './ledger-port.js';

/**
 * The default ledger: an append-only, hash-chained anchor chain signed with its own Ed25519
 * key, in a directory of the caller's choosing:
 *
 *   anchor-chain.jsonl        one signed entry per line (format: anchor-entry.ts)
 *   anchor-key.ed25519.pem    the anchor key, PKCS#8, mode 0600
 *
 * Storage: a plain append-only file, not LMDB. The chain *is* the artifact a third party
 * checks, so it is kept in the form they read: a line per entry, copyable with `cp`, checkable
 * with `verifyAnchorChain` and nothing else, and an edit in it is an edit of the bytes that are
 * hashed and signed (LMDB pages would add a layer between the two). Appends come about once a
 * second, so one write + fdatasync per anchor is cheap; `anchor` resolves only after it.
 * A crash mid-write can leave a torn last line: it was never acknowledged, and opening the
 * chain cuts it off. One process at a time per directory.
 *
 * Trust, honestly: the anchor key lives on the same machine as the log. The chain protects
 * against accidental or after-the-fact edits by someone without that key (any edit, deletion,
 * insertion or reordering breaks hashes, links or signatures), and against silent rewrites
 * once a receipt was handed out (the receipt pins an entry's position and hash, so a rewritten
 * or truncated chain no longer holds it). It does not protect against an operator who holds
 * the key: they can re-sign a whole new chain, and only receipts kept elsewhere would show it.
 * Anchoring where no single operator can rewrite is what the Fabric ledger (issue 7) is for.
 */

export const ANCHOR_CHAIN_FILE = 'anchor-chain.jsonl';

export interface EmbeddedAnchorOptions {
  dir: string;
  /** The anchor's clock (anchoredAt); injectable for tests. */
  now?: () => Date;
}

const openDirs = new Set<string>();

export class EmbeddedAnchor implements LedgerPort {
  readonly name = 'embedded';
  private readonly index = new AnchorIndex();
  /** Byte offset of each entry's line; the line of entry i ends where entry i+1 starts. */
  private readonly offsets: number[] = [];
  private readonly latestCache = new Map<string, AnchorReceipt>();
  private fileSize = 0;
  private headHash = GENESIS_PREV;
  private tail: Promise<unknown> = Promise.resolve();
  private failure: unknown;
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly file: string,
    private readonly key: AnchorKey,
    private readonly fh: FileHandle,
    private readonly now: () => Date,
  ) {}

  /**
   * Opens (or creates) the chain in `dir`, checking it with the anchor key (every hash and
   * link, the last signature). A chain that does not verify is refused with
   * AnchorChainCorruptError: it must be looked at, not appended to.
   */
  static async open(options: EmbeddedAnchorOptions): Promise<EmbeddedAnchor> {
    const dir = resolve(options.dir);
    if (openDirs.has(dir)) throw new Error(`the anchor chain in ${dir} is already open in this process`);
    openDirs.add(dir);
    let fh: FileHandle | undefined;
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const key = await loadOrCreateAnchorKey(dir);
      const file = join(dir, ANCHOR_CHAIN_FILE);
      const existed = await access(file).then(
        () => true,
        () => false,
      );
      fh = await open(file, fsConstants.O_RDWR | fsConstants.O_APPEND | fsConstants.O_CREAT, 0o644);
      if (!existed) await syncDir(dir);
      const anchor = new EmbeddedAnchor(dir, file, key, fh, options.now ?? (() => new Date()));
      await anchor.load();
      return anchor;
    } catch (err) {
      await fh?.close();
      openDirs.delete(dir);
      throw err;
    }
  }

  /** SPKI PEM of the anchor's public key: give it to whoever checks receipts or the chain. */
  get publicKeyPem(): string {
    return this.key.publicKeyPem;
  }

  /** Base64 of the raw 32-byte anchor public key. */
  get publicKeyBase64(): string {
    return this.key.publicKeyBase64;
  }

  get keyId(): string {
    return this.key.keyId;
  }

  /** Number of entries and the hash of the last one. */
  head(): { length: number; entryHash: string } {
    return { length: this.offsets.length, entryHash: this.headHash };
  }

  async anchor(cp: CheckpointToAnchor): Promise<AnchorReceipt> {
    const v = validateCheckpoint(cp);
    return this.serial(async () => {
      this.assertWritable();
      const existing = await existingOrAppend(this.index, v, (seq) => this.receiptAt(seq));
      if (existing) return existing;
      const entry: AnchorEntry = {
        sequence: this.offsets.length,
        origin: v.origin,
        size: v.size,
        rootHash: v.rootHash,
        note: v.note,
        anchoredAt: this.now().toISOString(),
        prevEntryHash: this.headHash,
      };
      const signed = signAnchorEntry(entry, this.key.privateKey);
      const line = Buffer.from(`${serializeSignedEntry(signed)}\n`, 'utf8');
      try {
        let written = 0;
        while (written < line.length) {
          const { bytesWritten } = await this.fh.write(line, written, line.length - written, null);
          written += bytesWritten;
        }
        await this.fh.datasync();
      } catch (err) {
        // The file may now end in a torn line: take no more writes until reopened (which cuts it off).
        this.failure = err;
        throw new LedgerUnavailableError(`embedded anchor write failed, reopen the chain: ${(err as Error).message}`, { cause: err });
      }
      this.offsets.push(this.fileSize);
      this.fileSize += line.length;
      this.index.add(entry.origin, entry.size, entry.sequence);
      this.headHash = signed.entryHash;
      const receipt = this.toReceipt(signed);
      this.latestCache.set(entry.origin, receipt);
      return receipt;
    });
  }

  async latest(origin: string): Promise<AnchorReceipt | undefined> {
    this.assertOpen();
    const cached = this.latestCache.get(origin);
    if (cached) return cached;
    const l = this.index.latest(origin);
    return l === undefined ? undefined : this.receiptAt(l.sequence);
  }

  async covering(origin: string, size: number): Promise<AnchorReceipt | undefined> {
    this.assertOpen();
    const seq = this.index.covering(origin, size);
    return seq === undefined ? undefined : this.receiptAt(seq);
  }

  async status(): Promise<LedgerStatus> {
    if (this.closed) return { name: this.name, healthy: false, detail: 'closed' };
    if (this.failure !== undefined) {
      return { name: this.name, healthy: false, detail: `write failed, reopen the chain: ${(this.failure as Error)?.message ?? String(this.failure)}` };
    }
    return { name: this.name, healthy: true, detail: `${this.offsets.length} anchors, head ${this.headHash.slice(0, 16)}, key ${this.key.keyId}` };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
    await this.fh.close();
    openDirs.delete(this.dir);
  }

  // -------------------------------------------------------------------------------------------

  /** Reads the chain through the verifier, builds the index, and cuts off a torn last line. */
  private async load(): Promise<void> {
    // Hashes, links and order of every entry; the signature of the last one only, which
    // commits to all before it (a signature check costs ~0.1-0.2 ms, a day of anchors is 86,400).
    const verifier = new AnchorChainVerifier(this.key.publicKey, { signatures: 'last' });
    const problems: string[] = [];
    const chunk = Buffer.allocUnsafe(1 << 20);
    let carry = Buffer.alloc(0);
    let pos = 0;
    let lineStart = 0;
    const lastSize = new Map<string, number>();
    for (;;) {
      const { bytesRead } = await this.fh.read(chunk, 0, chunk.length, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      let buf = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      let nl: number;
      while ((nl = buf.indexOf(0x0a)) !== -1) {
        const line = buf.subarray(0, nl).toString('utf8');
        const seq = this.offsets.length;
        const parsed = parseSignedEntry(line);
        if (typeof parsed === 'string') {
          problems.push(`line ${seq}: ${parsed}`);
          // Keep the positions aligned with the file so later problems name the right line.
          verifier.push(placeholder(seq));
        } else {
          verifier.push(parsed);
          const e = parsed.entry;
          if (!(e.size <= (lastSize.get(e.origin) ?? -1))) {
            this.index.add(e.origin, e.size, seq);
            lastSize.set(e.origin, e.size);
          }
          this.headHash = parsed.entryHash;
        }
        this.offsets.push(lineStart);
        lineStart += nl + 1;
        buf = buf.subarray(nl + 1);
      }
      carry = Buffer.from(buf);
    }
    this.fileSize = lineStart;
    const verdict = verifier.finish();
    problems.push(...verdict.problems.filter((p) => !problems.some((q) => q.startsWith(`line ${p.index}:`))).map((p) => p.message));
    if (problems.length > 0) throw new AnchorChainCorruptError(this.file, problems);
    if (carry.length > 0) {
      // A torn last line: written but never fsync'd and acknowledged. Cut it off.
      await this.fh.truncate(lineStart);
      await this.fh.sync();
    }
  }

  private async receiptAt(sequence: number): Promise<AnchorReceipt> {
    const start = this.offsets[sequence];
    const end = sequence + 1 < this.offsets.length ? this.offsets[sequence + 1] : this.fileSize;
    const buf = Buffer.alloc(end - start);
    await this.fh.read(buf, 0, buf.length, start);
    const parsed = parseSignedEntry(buf.toString('utf8').replace(/\n$/, ''));
    // The file is re-read, so check it again: an edit made while the chain is open is reported, not served.
    const receipt = typeof parsed === 'string' ? undefined : this.toReceipt(parsed);
    const verdict = receipt && receipt.sequence === sequence ? verifyAnchorReceipt(receipt, this.key.publicKey) : undefined;
    if (!receipt || !verdict?.ok) {
      throw new AnchorChainCorruptError(this.file, [`entry ${sequence} changed on disk since the chain was opened`]);
    }
    return receipt;
  }

  private toReceipt(s: SignedAnchorEntry): AnchorReceipt {
    const proof: EmbeddedAnchorProof = { format: EMBEDDED_PROOF_FORMAT, entry: s.entry, entryHash: s.entryHash, signature: s.signature, keyId: this.key.keyId };
    const e = s.entry;
    return { ledger: this.name, origin: e.origin, size: e.size, rootHash: e.rootHash, anchoredAt: e.anchoredAt, sequence: e.sequence, txId: s.entryHash, proof };
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private assertOpen(): void {
    if (this.closed) throw new LedgerUnavailableError('embedded anchor is closed');
  }

  private assertWritable(): void {
    this.assertOpen();
    if (this.failure !== undefined) {
      throw new LedgerUnavailableError('embedded anchor: an earlier write failed, reopen the chain', { cause: this.failure });
    }
  }
}

/** An entry that cannot verify, standing in for an unparsable line. */
function placeholder(sequence: number): SignedAnchorEntry {
  return {
    entry: { sequence, origin: '?', size: 0, rootHash: '', note: '', anchoredAt: '', prevEntryHash: '' },
    entryHash: '',
    signature: '',
  };
}

export function openEmbeddedAnchor(options: EmbeddedAnchorOptions): Promise<EmbeddedAnchor> {
  return EmbeddedAnchor.open(options);
}

/** Reads and parses a chain file (for checking a copy with verifyAnchorChain). */
export async function readAnchorChain(dirOrFile: string): Promise<ParsedChain> {
  const file = dirOrFile.endsWith('.jsonl') ? dirOrFile : join(dirOrFile, ANCHOR_CHAIN_FILE);
  return parseAnchorChain(await readFile(file, 'utf8'));
}
