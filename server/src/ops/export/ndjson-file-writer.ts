import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';

/** What a finished NDJSON file holds: lines, bytes, and the SHA-256 (hex) of exactly those bytes. */
export interface NdjsonSummary {
  readonly count: number;
  readonly bytes: number;
  readonly sha256: string;
}

/**
 * Appends NDJSON lines to one file, hashing as it writes, so a file of any size costs the
 * memory of one page. Each page is one awaited write (the caller never runs ahead of the
 * disk), and `finish` resolves once the bytes are on disk (fsync), so a manifest never lists
 * a file the disk does not hold.
 */
export class NdjsonFileWriter {
  private handle: Promise<FileHandle> | undefined;
  private readonly hash: Hash = createHash('sha256');
  private count = 0;
  private bytes = 0;

  constructor(readonly path: string) {}

  /** Appends one line per JSON text (each already a single line: JSON.stringify never emits raw newlines). */
  async write(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    this.handle ??= open(this.path, 'wx', 0o600);
    const fh = await this.handle;
    const chunk = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
    this.hash.update(chunk);
    this.count += lines.length;
    this.bytes += chunk.length;
    await fh.write(chunk);
  }

  async finish(): Promise<NdjsonSummary> {
    this.handle ??= open(this.path, 'wx', 0o600);
    const fh = await this.handle;
    await fh.sync();
    await fh.close();
    return { count: this.count, bytes: this.bytes, sha256: this.hash.digest('hex') };
  }

  /** Closes without caring about the content (the job was cancelled or failed; its directory is removed). */
  async abandon(): Promise<void> {
    if (!this.handle) return;
    const fh = await this.handle.catch(() => undefined);
    await fh?.close().catch(() => undefined);
  }
}
