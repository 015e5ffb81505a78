import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** A stretch of the run, in process.hrtime microseconds (CLOCK_MONOTONIC, shared with the child). */
export interface ProfileWindow {
  label: string;
  startUs: number;
  endUs: number;
  /** Requests completed in the window, to express CPU time per request. */
  requests: number;
}

export const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** Where a frame's code lives: a package, a repository file, node internals, or the VM. */
function owner(url: string, repoRoot: string): string {
  if (!url) return '(native)';
  if (url.startsWith('node:')) return 'node:internal';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? path);
  }
  return path.startsWith(repoRoot) ? path.slice(repoRoot.length + 1) : path;
}

const IDLE = new Set(['(idle)', '(program)']);

/** Rows per list in a summary: BENCH_CPU_PROF_TOP, default 12. */
function profileTop(): number {
  const n = Number(process.env.BENCH_CPU_PROF_TOP ?? 12);
  return Number.isInteger(n) && n > 0 ? n : 12;
}

/**
 * Self time in a server child's CPU profile(s) (`node --cpu-prof`; one per thread),
 * restricted to each measured window, by owner (package or source file) and by function.
 * Idle time is left out; "busy" is the share of the window the thread spent running.
 */
export function summariseCpuProfiles(title: string, dir: string, repoRoot: string, windows: readonly ProfileWindow[], top = profileTop()): string {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) return `\nNo CPU profile found in ${dir}.\n`;
  const profiles = files.map((f) => ({ file: f, prof: JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile }));
  const out: string[] = ['', `${title} CPU profile (${files.length} thread profile(s) in ${dir}), self time within each measured run, idle excluded:`];
  for (const w of windows) {
    const byFn = new Map<string, number>();
    const byOwner = new Map<string, number>();
    /** Inclusive time of the repository's own functions (not node_modules): who causes the cost. */
    const inclusive = new Map<string, number>();
    const busyPerThread: string[] = [];
    let total = 0;
    for (const { prof } of profiles) {
      const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
      const parent = new Map<number, number>();
      for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
      const ownKey = (n: ProfileNode): string | undefined => {
        const { functionName, url, lineNumber } = n.callFrame;
        if (!url || url.includes('/node_modules/') || url.startsWith('node:')) return undefined;
        return `${functionName || '(anonymous)'}  ${owner(url, repoRoot)}:${lineNumber + 1}`;
      };
      const samples = prof.samples ?? [];
      const deltas = prof.timeDeltas ?? [];
      let t = prof.startTime;
      let busy = 0;
      for (let i = 0; i < samples.length; i++) {
        const d = Math.max(0, deltas[i] ?? 0);
        t += d;
        if (t < w.startUs || t > w.endUs) continue;
        const n = nodes.get(samples[i] as number);
        if (!n || IDLE.has(n.callFrame.functionName)) continue;
        const { functionName, url, lineNumber } = n.callFrame;
        const o = owner(url, repoRoot);
        const key = `${functionName || '(anonymous)'}  ${o}${url ? `:${lineNumber + 1}` : ''}`;
        byFn.set(key, (byFn.get(key) ?? 0) + d);
        byOwner.set(o, (byOwner.get(o) ?? 0) + d);
        busy += d;
        const seen = new Set<string>();
        for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
          const frame = nodes.get(id);
          const k = frame ? ownKey(frame) : undefined;
          if (k && !seen.has(k)) {
            seen.add(k);
            inclusive.set(k, (inclusive.get(k) ?? 0) + d);
          }
        }
      }
      total += busy;
      busyPerThread.push(`${((100 * busy) / (w.endUs - w.startUs)).toFixed(0)}%`);
    }
    if (total === 0) continue;
    const perReq = (us: number): string => (w.requests > 0 ? `${(us / w.requests).toFixed(1).padStart(6)} µs/req` : '');
    const fmt = (m: Map<string, number>): string[] =>
      [...m.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([k, us]) => `      ${((100 * us) / total).toFixed(1).padStart(5)}% ${perReq(us)}  ${k}`);
    out.push(`  ${w.label} — threads busy ${busyPerThread.join(' / ')} of the window; CPU ${perReq(total).trim()} over ${w.requests} requests`);
    out.push('    self time by owner:', ...fmt(byOwner), '    self time by function:', ...fmt(byFn));
    if (inclusive.size > 0) out.push("    inclusive time of the repository's own functions:", ...fmt(inclusive));
  }
  out.push('');
  return out.join('\n');
}
