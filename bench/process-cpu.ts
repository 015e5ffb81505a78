import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/**
 * CPU time a process has used so far (user + system, all its threads: the event loop, LMDB's
 * writer, the garbage collector's helpers), in µs, from /proc/<pid>/stat; undefined where /proc
 * is absent. Unlike a CPU profile's samples, which count wall time while a thread is scheduled
 * or waiting for a core, this does not grow when the machine is shared, so CPU per request is
 * the steadier figure of the two when both servers and the load generator share two cores.
 * Resolution: one clock tick (10 ms at the usual 100 Hz).
 */
export function processCpuUs(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may hold spaces, hence the last ')'): utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  ticksPerSecond ??= clockTicks();
  return ((utime + stime) * 1e6) / ticksPerSecond;
}

function clockTicks(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}
