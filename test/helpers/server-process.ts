import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveJwks, type TestAuth } from './test-auth.js';

/**
 * Starts the real server (`node --import tsx server/src/main.ts`) as a child process, the way
 * an operator would, for end-to-end tests. Every child is tracked: tests register `stop`
 * with `after`/`t.after`, and a process 'exit' hook SIGKILLs anything still running so a
 * failed or interrupted test run never leaves servers behind.
 */

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(REPO_ROOT, 'server', 'src', 'main.ts');
const READY = 'listening on';

export interface StartServerOptions {
  /** Existing data directory (e.g. to restart on the same data). Default: a fresh temp dir. */
  dataDir?: string;
  /** Extra environment, applied over the defaults below. */
  env?: Record<string, string>;
  /** How long to wait for the "listening on" line. Default 60 s. */
  timeoutMs?: number;
  /** A test context (or anything with `after`) to register `dispose` with. */
  t?: { after(fn: () => unknown): void };
  /**
   * Trust this test issuer instead of the built-in authorization server: its JWKS is served on
   * loopback and the server is started with AUTH_ISSUER / AUTH_JWKS_URL, exactly as an
   * external identity provider is connected. Without it the server runs its built-in one.
   */
  issuer?: TestAuth;
}

export interface ServerProcess {
  /** FHIR base URL as printed by the server, e.g. http://localhost:41234/fhir */
  baseUrl: string;
  port: number;
  dataDir: string;
  child: ChildProcess;
  /** Everything the child wrote so far. */
  output(): { stdout: string; stderr: string };
  /** Sends `signal` (default SIGTERM) and resolves once the child has exited; SIGKILLs after 10 s. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** stop(), then removes the data directory if this helper created it. Idempotent. */
  dispose(): Promise<void>;
  /**
   * With `issuer`: `Bearer <token>` of an admin backend (system/*.cruds) for this server's
   * base URL, for tests that exercise FHIR rather than authorization.
   */
  authorization?: string;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) {
      try {
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** A fresh, empty temporary data directory. The caller owns (and removes) it. */
export function makeTempDataDir(prefix = 'custodian-e2e-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A port that was free a moment ago (bind to 0, read it, close). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('could not obtain a free port'))));
    });
  });
}

class EarlyExit extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
  }
}

export async function startServer(opts: StartServerOptions = {}): Promise<ServerProcess> {
  const ownsDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? makeTempDataDir();
  // The free-port probe can race with another process grabbing the port; retry that case only.
  for (let attempt = 1; ; attempt++) {
    try {
      const srv = await spawnOnce(dataDir, ownsDir, opts);
      opts.t?.after(() => srv.dispose());
      return srv;
    } catch (err) {
      if (err instanceof EarlyExit && /EADDRINUSE/.test(err.output) && attempt < 3) continue;
      if (ownsDir) rmSync(dataDir, { recursive: true, force: true });
      throw err;
    }
  }
}

async function spawnOnce(dataDir: string, ownsDir: boolean, opts: StartServerOptions): Promise<ServerProcess> {
  installExitHook();
  const jwks = opts.issuer ? await serveJwks(opts.issuer) : undefined;
  try {
    const srv = await spawnChild(dataDir, ownsDir, opts, jwks?.jwksUrl);
    if (!jwks || !opts.issuer) return srv;
    const dispose = srv.dispose;
    return {
      ...srv,
      authorization: `Bearer ${await opts.issuer.adminToken(srv.baseUrl)}`,
      dispose: async () => {
        await dispose();
        await jwks.close();
      },
    };
  } catch (err) {
    await jwks?.close();
    throw err;
  }
}

async function spawnChild(dataDir: string, ownsDir: boolean, opts: StartServerOptions, jwksUrl: string | undefined): Promise<ServerProcess> {
  const port = await freePort();
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      SEED_ON_FIRST_START: 'false',
      // 'error' rather than 'silent': start-up failures (EADDRINUSE, fatal) must be visible.
      LOG_LEVEL: 'error',
      ...(opts.issuer && jwksUrl ? { AUTH_ISSUER: opts.issuer.issuer, AUTH_JWKS_URL: jwksUrl } : {}),
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });

  const baseUrl = await new Promise<string>((resolve, reject) => {
    const describe = (): string => `\n--- stdout ---\n${stdout.slice(-4000)}\n--- stderr ---\n${stderr.slice(-4000)}`;
    const timer = setTimeout(() => {
      cleanupListeners();
      child.kill('SIGKILL');
      // Reject only once the child is gone, so the caller can safely remove its data directory.
      const err = new Error(`server did not print "${READY}" within ${timeoutMs} ms (DATA_DIR=${dataDir})${describe()}`);
      void exited.then(() => reject(err));
    }, timeoutMs);
    const onData = (): void => {
      const line = stdout.split('\n').find((l) => l.includes(READY));
      if (!line) return;
      cleanupListeners();
      const m = /listening on (\S+)/.exec(line);
      resolve(m?.[1] ?? `http://127.0.0.1:${port}/fhir`);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      cleanupListeners();
      reject(new EarlyExit(`server exited before it was ready (code ${code}, signal ${signal}, DATA_DIR=${dataDir})${describe()}`, stdout + stderr));
    };
    const onError = (err: Error): void => {
      cleanupListeners();
      reject(err);
    };
    function cleanupListeners(): void {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
    }
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });

  let disposed = false;
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
      try {
        return await exited;
      } finally {
        clearTimeout(force);
      }
    }
    return exited;
  };
  return {
    baseUrl,
    port,
    dataDir,
    child,
    output: () => ({ stdout, stderr }),
    stop,
    dispose: async () => {
      if (disposed) return;
      disposed = true;
      await stop();
      if (ownsDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
