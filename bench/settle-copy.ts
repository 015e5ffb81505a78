import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/**
 * Writes back the dirty pages of a fresh store copy before anything is timed. A copy of the
 * 10k-patient store is ~7.7 GB of dirty page cache; left alone, the kernel writes it back during
 * the first seconds of the measured run, and that I/O (and the CPU it takes) lands on whichever
 * side runs first. `sync -f` (syncfs) flushes the copy's filesystem and waits for it.
 * Returns the seconds it took, or undefined where `sync -f` is unavailable (not Linux).
 */
export function settleCopy(dir: string): number | undefined {
  const t0 = performance.now();
  try {
    execFileSync('sync', ['-f', dir], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  return (performance.now() - t0) / 1000;
}
