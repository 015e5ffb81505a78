import { spawn, type ChildProcess } from 'node:child_process';

/** A server running in its own child process. */
export interface ServerProcess {
  readonly name: string;
  /** FHIR base URL, e.g. http://127.0.0.1:40123/fhir (no trailing slash). */
  readonly baseUrl: string;
  readonly pid: number;
  /** Set once the child has exited (expectedly or not). */
  exited(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Last few KiB of the child's stderr and stdout, for error messages. */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
let hooksInstalled = false;

/** Kills every child still running. Synchronous, so it also works from process.on('exit'). */
export function killAllChildrenNow(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  live.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllChildrenNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig} received, stopping servers\n`);
      killAllChildrenNow();
      process.exit(130);
    });
  }
}

/**
 * Spawns `node <nodeArgs>` and resolves once its stdout prints "listening on <url>".
 * Rejects (and kills the child) if it exits first or does not listen within `timeoutMs`.
 */
export function spawnServer(opts: {
  name: string;
  nodeArgs: string[];
  env: Record<string, string>;
  cwd: string;
  timeoutMs?: number;
  /** Turns the URL printed after "listening on" into the FHIR base the bench uses. */
  mapUrl?: (printed: string) => string;
}): Promise<ServerProcess> {
  installHooks();
  const child = spawn(process.execPath, opts.nodeArgs, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    // stdin stays a pipe: the bench's own children exit when it closes.
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  live.add(child);
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-8192);
  };
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitedPromise = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      live.delete(child);
      resolve();
    });
  });
  child.stderr?.on('data', keep);
  child.stdin?.on('error', () => undefined);

  return new Promise<ServerProcess>((resolve, reject) => {
    let settled = false;
    let stdoutBuf = '';
    const fail = (msg: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!exitInfo) child.kill('SIGKILL');
      reject(new Error(`${opts.name}: ${msg}\n--- last output ---\n${tail.trim()}`));
    };
    const timer = setTimeout(() => fail(`did not print "listening on" within ${opts.timeoutMs ?? 60_000} ms`), opts.timeoutMs ?? 60_000);
    child.on('error', (err) => fail(`could not spawn: ${err.message}`));
    child.on('exit', (code, signal) => fail(`exited before listening (code ${code}, signal ${signal})`));
    child.stdout?.on('data', (chunk: Buffer) => {
      keep(chunk);
      if (settled) return;
      stdoutBuf += chunk.toString('utf8');
      const m = /listening on (https?:\/\/\S+)/.exec(stdoutBuf);
      if (!m) return;
      settled = true;
      clearTimeout(timer);
      const printed = (m[1] as string).replace(/\/+$/, '');
      resolve({
        name: opts.name,
        baseUrl: opts.mapUrl ? opts.mapUrl(printed) : printed,
        pid: child.pid ?? -1,
        exited: () => exitInfo,
        output: () => tail,
        async stop(graceMs = 5000) {
          if (exitInfo) return;
          child.kill('SIGTERM');
          child.stdin?.end();
          const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
          await exitedPromise;
          clearTimeout(t);
        },
      });
    });
  });
}
