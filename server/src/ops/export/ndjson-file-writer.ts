import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';

/** What a finished NDJSON file holds: lines, bytes, and the SHA-256 (hex) of exactly those bytes. */
export interface NdjsonSummary {
  readonly count: number;
  readonly bytes: number;
  readonly sha256: string;
}

/**
 * Bytes gathered before one write: large enough that a file costs few syscalls, small enough
 * that the open files of a job (one per type) hold little memory between them.
 */
export const NDJSON_CHUNK_BYTES = 256 * 1024;

/** UTF-8 needs at most 3 bytes per UTF-16 code unit (a surrogate pair: 4 bytes for 2 units). */
const MAX_UTF8_PER_UNIT = 3;

/**
 * Appends NDJSON lines to one file, hashing as it writes, so a file of any size costs the
 * memory of one chunk. Each line is encoded straight into a reused chunk buffer (no joined
 * page string, no per-page Buffer); a full chunk is hashed and written, awaited, before the
 * buffer is reused, so the caller never runs ahead of the disk by more than one chunk.
 * `finish` writes the rest and resolves once the bytes are on disk (fsync), so a manifest
 * never lists a file the disk does not hold.
 */
export class NdjsonFileWriter {
  private handle: Promise<FileHandle> | undefined;
  private readonly hash: Hash = createHash('sha256');
  private chunk: Buffer | undefined;
  private used = 0;
  private count = 0;
  private bytes = 0;

  constructor(
    readonly path: string,
    private readonly chunkBytes: number = NDJSON_CHUNK_BYTES,
  ) {}

  /** Appends one line per JSON text (each already a single line: JSON.stringify never emits raw newlines). */
  async write(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    // Opened with the first lines, so an existing file is refused (EEXIST) by the first write.
    const fh = await this.file();
    for (const line of lines) {
      const buf = (this.chunk ??= Buffer.allocUnsafe(this.chunkBytes));
      const room = buf.length - this.used;
      // The cheap bound first; the exact length only for a line that may not fit.
      if (line.length * MAX_UTF8_PER_UNIT + 1 <= room || Buffer.byteLength(line, 'utf8') + 1 <= room) {
        this.used += buf.write(line, this.used, 'utf8');
        buf[this.used++] = 0x0a;
      } else {
        await this.flush(fh);
        if (Buffer.byteLength(line, 'utf8') + 1 <= buf.length) {
          this.used = buf.write(line, 0, 'utf8');
          buf[this.used++] = 0x0a;
        } else {
          // A line longer than a chunk is written on its own.
          await this.emit(fh, Buffer.from(`${line}\n`, 'utf8'));
        }
      }
      this.count++;
    }
  }

  async finish(): Promise<NdjsonSummary> {
    const fh = await this.file();
    await this.flush(fh);
    this.chunk = undefined;
    await fh.sync();
    await fh.close();
    return { count: this.count, bytes: this.bytes, sha256: this.hash.digest('hex') };
  }

  /** Closes without caring about the content (the job was cancelled or failed; its directory is removed). */
  async abandon(): Promise<void> {
    this.chunk = undefined;
    if (!this.handle) return;
    const fh = await this.handle.catch(() => undefined);
    await fh?.close().catch(() => undefined);
  }

  private file(): Promise<FileHandle> {
    return (this.handle ??= open(this.path, 'wx', 0o600));
  }

  private async flush(fh: FileHandle): Promise<void> {
    if (this.used === 0 || !this.chunk) return;
    const bytes = this.chunk.subarray(0, this.used);
    this.used = 0;
    await this.emit(fh, bytes);
  }

  /** Hashes and writes exactly `bytes`, all of them (a write may take fewer than asked). */
  private async emit(fh: FileHandle, bytes: Buffer): Promise<void> {
    this.hash.update(bytes);
    this.bytes += bytes.length;
    for (let at = 0; at < bytes.length; ) {
      const { bytesWritten } = await fh.write(bytes, at, bytes.length - at);
      at += bytesWritten;
    }
  }
}
