import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface FsyncRate {
  dir: string;
  fsyncs: number;
  seconds: number;
  perSecond: number;
  /** Median and 99th percentile of one write+fsync, in ms. */
  p50Ms: number;
  p99Ms: number;
}

/**
 * The durable-write limit of the disk: append 4 KiB and fsync, in a loop, for `seconds`, in a
 * scratch directory created inside `parentDir` (so it is on the data directory's filesystem).
 * One request in flight, like a log that syncs every record; anything that acknowledges more
 * durable writes per second than this must be sharing fsyncs between writes (group commit).
 */
export function measureFsyncRate(parentDir: string, seconds = 2): FsyncRate {
  const dir = mkdtempSync(join(parentDir, 'fsync-rate-'));
  const file = join(dir, 'probe.bin');
  const block = Buffer.alloc(4096, 0xab);
  const fd = openSync(file, 'w');
  const times: number[] = [];
  let offset = 0;
  try {
    // Warm-up: allocate the first blocks and settle the journal.
    for (let i = 0; i < 10; i++) {
      writeSync(fd, block, 0, block.length, offset);
      offset += block.length;
      fsyncSync(fd);
    }
    const start = process.hrtime.bigint();
    const end = start + BigInt(Math.round(seconds * 1e9));
    let now = start;
    while (now < end) {
      const t0 = now;
      writeSync(fd, block, 0, block.length, offset);
      offset += block.length;
      if (offset >= 64 * 1024 * 1024) offset = 0; // cap the file at 64 MiB
      fsyncSync(fd);
      now = process.hrtime.bigint();
      times.push(Number(now - t0) / 1e6);
    }
    const elapsed = Number(now - start) / 1e9;
    times.sort((a, b) => a - b);
    return {
      dir: parentDir,
      fsyncs: times.length,
      seconds: elapsed,
      perSecond: times.length / elapsed,
      p50Ms: percentile(times, 50),
      p99Ms: percentile(times, 99),
    };
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}
