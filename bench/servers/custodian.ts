import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { benchAuthorization, benchIssuerEnv } from './bench-issuer.js';
import { spawnServer, type ServerProcess } from './spawn.js';

/** Asks the OS for a free TCP port on 127.0.0.1 (so the server's configured base URL is right). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A Custodian process and the headers every request to it carries (its bearer token). */
export interface CustodianProcess extends ServerProcess {
  readonly requestHeaders: Readonly<Record<string, string>>;
}

/**
 * Custodian exactly as `npm start` runs it (server/src/main.ts, embedded LMDB storage), in its
 * own process, with an empty data directory and no demo seed. It trusts the bench's identity
 * provider (bench-issuer.ts); requests authenticate with `requestHeaders`.
 */
export async function startCustodian(opts: {
  repoRoot: string;
  dataDir: string;
  cpuProfDir?: string;
  /** Process name in logs and errors (default "custodian"). */
  name?: string;
  /** How long start-up may take (a large store may need longer than the default minute). */
  timeoutMs?: number;
  /** Extra environment (e.g. MAX_PAGE_SIZE). */
  env?: Record<string, string>;
  /**
   * Entry point relative to the repository (default `server/src/main.ts`); the consent
   * benchmark passes its unenforced twin, bench/servers/custodian-unenforced.ts.
   */
  entry?: string;
}): Promise<CustodianProcess> {
  const port = await freePort();
  const nodeArgs = [
    ...(opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : []),
    '--import',
    'tsx',
    '--import',
    pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'exit-with-parent.ts')).href,
    opts.entry ?? 'server/src/main.ts',
  ];
  const server = await spawnServer({
    name: opts.name ?? 'custodian',
    nodeArgs,
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    cwd: opts.repoRoot,
    env: {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: opts.dataDir,
      SEED_ON_FIRST_START: 'false',
      LOG_LEVEL: 'silent',
      ...(await benchIssuerEnv()),
      ...opts.env,
    },
    // Custodian prints http://localhost:<port>/fhir; connect to the address it binds.
    mapUrl: (printed) => printed.replace('//localhost:', '//127.0.0.1:'),
  });
  // The token's audience is the base URL the server was configured with (it prints localhost).
  const authorization = await benchAuthorization((opts.env?.AUTH_AUDIENCE ?? opts.env?.BASE_URL ?? `http://localhost:${port}/fhir`).replace(/\/+$/, ''));
  return Object.assign(server, { requestHeaders: Object.freeze({ authorization }) });
}
