import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * Configuration of the Fabric ledger, from the environment. FABRIC_PEER_ENDPOINT selects it:
 * without it the server anchors in the embedded chain and every other FABRIC_* variable must
 * be unset. Key and certificate files are read and parsed here, at start, so a wrong path or a
 * key that does not match its certificate stops the server instead of the first anchor.
 */

export interface FabricConfig {
  /** `host:port` of the gateway peer. */
  readonly peerEndpoint: string;
  /** TLS server name to expect instead of the endpoint's host (the peer's certificate name). */
  readonly peerHostAlias?: string;
  /** `off` only on loopback, for tests against an in-process gateway. */
  readonly tls: Readonly<{ enabled: true; caFile: string; caPem: Buffer }> | Readonly<{ enabled: false }>;
  readonly mspId: string;
  readonly certFile: string;
  /** The client's X.509 certificate, PEM: the identity's credentials. */
  readonly certificatePem: Buffer;
  readonly keyFile: string;
  readonly privateKey: KeyObject;
  /** P-256 keys sign a SHA-256 digest; Ed25519 signs the whole message (fabric-gateway's hash.none). */
  readonly keyType: 'p256' | 'ed25519';
  readonly channel: string;
  readonly chaincode: string;
  /** Deadline of each call kind, milliseconds. */
  readonly timeouts: Readonly<{ evaluateMs: number; endorseMs: number; submitMs: number; commitStatusMs: number }>;
  /** Tries per stage (evaluate, endorse, submit, commit status) on transient failures. */
  readonly maxAttempts: number;
  /** Reruns of the whole anchoring flow after a read conflict or a stale previous size. */
  readonly maxReruns: number;
}

export interface FabricEnvVar {
  name: string;
  description: string;
  default?: string;
}

/** Every variable, in the order the README lists them. */
export const FABRIC_ENV_VARS: readonly FabricEnvVar[] = [
  { name: 'FABRIC_PEER_ENDPOINT', description: 'host:port of the Fabric Gateway peer; setting it anchors checkpoints in Fabric instead of the embedded chain' },
  { name: 'FABRIC_PEER_HOST_ALIAS', description: "TLS server name of the peer when it differs from the endpoint's host" },
  { name: 'FABRIC_TLS', description: 'on or off; off only for a loopback endpoint (tests)', default: 'on' },
  { name: 'FABRIC_TLS_CA_FILE', description: "PEM file of the CA that signed the peer's TLS certificate (required unless FABRIC_TLS=off)" },
  { name: 'FABRIC_MSP_ID', description: "MSP ID of the client's organization" },
  { name: 'FABRIC_CERT_FILE', description: "PEM file of the client's X.509 certificate" },
  { name: 'FABRIC_KEY_FILE', description: "PEM file of the client's private key (PKCS#8, EC P-256 or Ed25519)" },
  { name: 'FABRIC_CHANNEL', description: 'channel the anchor chaincode is deployed on', default: 'custodian' },
  { name: 'FABRIC_CHAINCODE', description: 'name of the anchor chaincode', default: 'custodian-anchor' },
  { name: 'FABRIC_EVALUATE_TIMEOUT_MS', description: 'deadline of a query (evaluate)', default: '5000' },
  { name: 'FABRIC_ENDORSE_TIMEOUT_MS', description: 'deadline of collecting endorsements', default: '15000' },
  { name: 'FABRIC_SUBMIT_TIMEOUT_MS', description: 'deadline of handing a transaction to ordering', default: '5000' },
  { name: 'FABRIC_COMMIT_STATUS_TIMEOUT_MS', description: 'deadline of waiting for a transaction to commit', default: '60000' },
  { name: 'FABRIC_MAX_ATTEMPTS', description: 'tries per stage on transient failures before giving up for now', default: '5' },
  { name: 'FABRIC_MAX_RERUNS', description: 'reruns of an anchor after a read conflict or a stale previous size', default: '5' },
];

export class FabricConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid Fabric configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'FabricConfigError';
  }
}

export interface FabricConfigDeps {
  /** Reads a configured file (injectable for tests). */
  readFile?: (path: string) => Buffer | string;
}

const ENDPOINT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):(\d{1,5})$/;

const millis = (fallback: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'must be a whole number of milliseconds')
    .default(String(fallback))
    .transform(Number)
    .pipe(z.number().int().min(1, 'must be at least 1 ms').max(3_600_000, 'must be at most one hour'));

const count = (fallback: number, min: number) =>
  z
    .string()
    .regex(/^\d{1,4}$/, 'must be a whole number')
    .default(String(fallback))
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(100, 'must be at most 100'));

const Schema = z.object({
  FABRIC_PEER_ENDPOINT: z
    .string()
    .regex(ENDPOINT, { message: 'must be host:port (a DNS name, an IPv4 address or a bracketed IPv6 address)', abort: true })
    .refine((v) => {
      const port = Number(v.slice(v.lastIndexOf(':') + 1));
      return port >= 1 && port <= 65535;
    }, 'the port must be between 1 and 65535'),
  FABRIC_PEER_HOST_ALIAS: z
    .string()
    .regex(/^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/, 'must be a DNS name')
    .optional(),
  FABRIC_TLS: z.enum(['on', 'off'], { message: 'must be on or off' }).default('on'),
  FABRIC_TLS_CA_FILE: z.string().optional(),
  FABRIC_MSP_ID: z.string({ message: 'is required' }).regex(/^[^\s]{1,128}$/, 'must be an MSP ID (no spaces)'),
  FABRIC_CERT_FILE: z.string({ message: 'is required' }),
  FABRIC_KEY_FILE: z.string({ message: 'is required' }),
  FABRIC_CHANNEL: z
    .string()
    .regex(/^[a-z][a-z0-9.-]{0,248}$/, 'must be a Fabric channel name: lowercase letters, digits, dots and dashes, starting with a letter')
    .default('custodian'),
  FABRIC_CHAINCODE: z
    .string()
    .regex(/^[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*$/, 'must be a chaincode name: letters and digits, single dashes or underscores between them')
    .default('custodian-anchor'),
  FABRIC_EVALUATE_TIMEOUT_MS: millis(5000),
  FABRIC_ENDORSE_TIMEOUT_MS: millis(15000),
  FABRIC_SUBMIT_TIMEOUT_MS: millis(5000),
  FABRIC_COMMIT_STATUS_TIMEOUT_MS: millis(60000),
  FABRIC_MAX_ATTEMPTS: count(5, 1),
  FABRIC_MAX_RERUNS: count(5, 0),
});

/** Whether a `host:port` endpoint is on this machine (the only place FABRIC_TLS=off is allowed). */
export function isLoopbackEndpoint(endpoint: string): boolean {
  const host = endpoint.slice(0, endpoint.lastIndexOf(':')).toLowerCase();
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Reads the Fabric configuration. Returns undefined when FABRIC_PEER_ENDPOINT is unset (and no
 * other FABRIC_* variable is set); throws FabricConfigError naming every variable at fault.
 */
export function fabricConfigFromEnv(env: Record<string, string | undefined>, deps: FabricConfigDeps = {}): FabricConfig | undefined {
  const readFile = deps.readFile ?? readFileSync;
  const known = new Set(FABRIC_ENV_VARS.map((v) => v.name));
  // Empty means unset, as in the server's own configuration (`FOO= cmd`).
  const cleaned = Object.fromEntries(Object.entries(env).filter(([k, v]) => known.has(k) && v !== undefined && v !== '')) as Record<string, string>;
  if (cleaned.FABRIC_PEER_ENDPOINT === undefined) {
    const stray = Object.keys(cleaned);
    if (stray.length === 0) return undefined;
    throw new FabricConfigError([`FABRIC_PEER_ENDPOINT: is required when ${stray.join(', ')} ${stray.length === 1 ? 'is' : 'are'} set`]);
  }
  const parsed = Schema.safeParse(cleaned);
  if (!parsed.success) {
    throw new FabricConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  }
  const e = parsed.data;
  const problems: string[] = [];

  let tls: FabricConfig['tls'] = { enabled: false };
  if (e.FABRIC_TLS === 'off') {
    if (!isLoopbackEndpoint(e.FABRIC_PEER_ENDPOINT)) {
      problems.push(`FABRIC_TLS: off is only allowed for a loopback endpoint (localhost, 127.x.x.x, [::1]), not ${e.FABRIC_PEER_ENDPOINT}`);
    }
  } else if (e.FABRIC_TLS_CA_FILE === undefined) {
    problems.push('FABRIC_TLS_CA_FILE: is required unless FABRIC_TLS=off');
  } else {
    const caPem = readPem(readFile, e.FABRIC_TLS_CA_FILE, 'FABRIC_TLS_CA_FILE', problems);
    if (caPem && certificateOf(caPem, 'FABRIC_TLS_CA_FILE', problems)) tls = { enabled: true, caFile: e.FABRIC_TLS_CA_FILE, caPem };
  }

  const certificatePem = readPem(readFile, e.FABRIC_CERT_FILE, 'FABRIC_CERT_FILE', problems);
  const certificate = certificatePem && certificateOf(certificatePem, 'FABRIC_CERT_FILE', problems);
  const keyPem = readPem(readFile, e.FABRIC_KEY_FILE, 'FABRIC_KEY_FILE', problems);
  const key = keyPem && privateKeyOf(keyPem, problems);
  if (certificate && key && !certificate.checkPrivateKey(key.privateKey)) {
    problems.push('FABRIC_KEY_FILE: the key is not the private key of the certificate in FABRIC_CERT_FILE');
  }
  if (problems.length > 0 || !certificatePem || !key) throw new FabricConfigError(problems);

  return Object.freeze({
    peerEndpoint: e.FABRIC_PEER_ENDPOINT,
    ...(e.FABRIC_PEER_HOST_ALIAS !== undefined ? { peerHostAlias: e.FABRIC_PEER_HOST_ALIAS } : {}),
    tls: Object.freeze(tls),
    mspId: e.FABRIC_MSP_ID,
    certFile: e.FABRIC_CERT_FILE,
    certificatePem,
    keyFile: e.FABRIC_KEY_FILE,
    privateKey: key.privateKey,
    keyType: key.keyType,
    channel: e.FABRIC_CHANNEL,
    chaincode: e.FABRIC_CHAINCODE,
    timeouts: Object.freeze({
      evaluateMs: e.FABRIC_EVALUATE_TIMEOUT_MS,
      endorseMs: e.FABRIC_ENDORSE_TIMEOUT_MS,
      submitMs: e.FABRIC_SUBMIT_TIMEOUT_MS,
      commitStatusMs: e.FABRIC_COMMIT_STATUS_TIMEOUT_MS,
    }),
    maxAttempts: e.FABRIC_MAX_ATTEMPTS,
    maxReruns: e.FABRIC_MAX_RERUNS,
  });
}

function readPem(readFile: (path: string) => Buffer | string, path: string, name: string, problems: string[]): Buffer | undefined {
  let data: Buffer;
  try {
    const raw = readFile(path);
    data = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
  } catch (err) {
    problems.push(`${name}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    return undefined;
  }
  if (!data.toString('latin1').includes('-----BEGIN ')) {
    problems.push(`${name}: ${path} is not a PEM file`);
    return undefined;
  }
  return data;
}

function certificateOf(pem: Buffer, name: string, problems: string[]): X509Certificate | undefined {
  if (!pem.toString('latin1').includes('-----BEGIN CERTIFICATE-----')) {
    problems.push(`${name}: holds no PEM certificate`);
    return undefined;
  }
  try {
    return new X509Certificate(pem);
  } catch (err) {
    problems.push(`${name}: not a valid X.509 certificate: ${(err as Error).message}`);
    return undefined;
  }
}

function privateKeyOf(pem: Buffer, problems: string[]): { privateKey: KeyObject; keyType: FabricConfig['keyType'] } | undefined {
  // PKCS#8 only: the form Fabric CA and cryptogen write, and one label for both key types.
  if (!pem.toString('latin1').includes('-----BEGIN PRIVATE KEY-----')) {
    problems.push('FABRIC_KEY_FILE: must be a PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----)');
    return undefined;
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    problems.push(`FABRIC_KEY_FILE: not a valid private key: ${(err as Error).message}`);
    return undefined;
  }
  if (privateKey.asymmetricKeyType === 'ed25519') return { privateKey, keyType: 'ed25519' };
  if (privateKey.asymmetricKeyType === 'ec' && privateKey.asymmetricKeyDetails?.namedCurve === 'prime256v1') return { privateKey, keyType: 'p256' };
  const detail = privateKey.asymmetricKeyType === 'ec' ? `EC ${privateKey.asymmetricKeyDetails?.namedCurve}` : privateKey.asymmetricKeyType;
  problems.push(`FABRIC_KEY_FILE: must be an EC P-256 or Ed25519 key, not ${detail}`);
  return undefined;
}
