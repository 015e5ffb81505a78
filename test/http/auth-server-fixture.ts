import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { randomUUID } from 'node:crypto';
import type { AuthConfig } from '../../server/src/config/config.js';
import { createAuthServer, type AuthServer, type ClientRegistration, type PatientDirectory, type PatientSummary } from '../../server/src/auth-server/index.js';

/**
 * The built-in authorization server on its own, for unit and HTTP tests: a temp DATA_DIR, a
 * movable clock, an in-memory patient directory, and helpers to register clients with fresh
 * key pairs and to sign their assertions.
 */
export const FHIR_BASE = 'http://fhir.test/fhir';
export const ISSUER = 'http://fhir.test/auth';
export const TOKEN_URL = `${ISSUER}/token`;

export const PATIENTS: readonly PatientSummary[] = [
  { id: 'pat-1', name: 'Ada Lovelace', birthDate: '1815-12-10', identifier: 'MRN-1' },
  { id: 'pat-2', name: 'Alan Turing', birthDate: '1912-06-23', identifier: 'MRN-2' },
];

export function memoryPatients(patients: readonly PatientSummary[] = PATIENTS): PatientDirectory {
  return {
    list: async (limit) => patients.slice(0, limit),
    get: async (id) => patients.find((p) => p.id === id),
    findByIdentifier: async (identifier) => patients.find((p) => `sys|${p.identifier}` === identifier),
  };
}

export interface Clock {
  now(): number;
  advance(ms: number): void;
}

export function clock(start = Date.now()): Clock {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

export interface ClientKey {
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
  readonly kid: string;
  readonly alg: string;
}

export async function clientKey(alg = 'ES384'): Promise<ClientKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { privateKey, publicJwk: { ...jwk, kid, alg }, kid, alg };
}

export interface AssertionOptions {
  iss?: string;
  sub?: string;
  aud?: string;
  jti?: string;
  /** Seconds from `nowSeconds`. Default 300. */
  expiresIn?: number;
  nowSeconds?: number;
  kid?: string | null;
  alg?: string;
}

export async function assertion(clientId: string, key: ClientKey, o: AssertionOptions = {}): Promise<string> {
  const now = o.nowSeconds ?? Math.floor(Date.now() / 1000);
  const header: { alg: string; kid?: string; typ: string } = { alg: o.alg ?? key.alg, typ: 'JWT' };
  if (o.kid !== null) header.kid = o.kid ?? key.kid;
  return new SignJWT({})
    .setProtectedHeader(header)
    .setIssuer(o.iss ?? clientId)
    .setSubject(o.sub ?? clientId)
    .setAudience(o.aud ?? TOKEN_URL)
    .setJti(o.jti ?? randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + (o.expiresIn ?? 300))
    .sign(key.privateKey);
}

export interface Fixture {
  readonly dataDir: string;
  readonly clock: Clock;
  readonly server: AuthServer;
  /** express app with the router at /auth, like the real app mounts it. */
  readonly app: express.Express;
  registerBackend(clientId: string, overrides?: Partial<ClientRegistration>, alg?: string): Promise<ClientKey>;
  registerApp(clientId: string, overrides?: Partial<ClientRegistration>): void;
  addUser(username: string, password: string, roles: ('clinician' | 'patient')[], link: { fhirUser?: string; patientIdentifier?: string }): Promise<void>;
  /** Closes and reopens the server on the same DATA_DIR (a restart). */
  restart(): Promise<Fixture>;
  close(): Promise<void>;
}

export function authConfig(overrides: Partial<AuthConfig> = {}): AuthConfig {
  return {
    mode: 'builtin',
    issuer: ISSUER,
    audience: FHIR_BASE,
    clockSkewSeconds: 30,
    accessTokenTtlSeconds: 900,
    refreshTokenTtlSeconds: 86_400,
    tokenRateLimitPerMinute: 10_000,
    ...overrides,
  };
}

export async function startAuthServer(
  opts: { auth?: Partial<AuthConfig>; clock?: Clock; dataDir?: string; patients?: PatientDirectory } = {},
  ownsDir = opts.dataDir === undefined,
): Promise<Fixture> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'custodian-authz-'));
  let closed = false;
  const c = opts.clock ?? clock();
  const server = await createAuthServer({
    auth: authConfig(opts.auth),
    baseUrl: FHIR_BASE,
    dataDir,
    patients: opts.patients ?? memoryPatients(),
    now: c.now,
  });
  const app = express();
  app.set('query parser', false);
  app.use('/auth', server.router);
  const fixture: Fixture = {
    dataDir,
    clock: c,
    server,
    app,
    async registerBackend(clientId, overrides = {}, alg = 'ES384') {
      const key = await clientKey(alg);
      server.registry.upsert({
        client_id: clientId,
        name: `${clientId} (test)`,
        kind: 'backend',
        jwks: { keys: [key.publicJwk] },
        redirect_uris: [],
        scopes: ['system/*.rs'],
        purposes_of_use: ['HPAYMT', 'CLMATTCH'],
        roles: ['insurer'],
        fhirUser: 'Organization/org-insurer',
        ...overrides,
      });
      return key;
    },
    registerApp(clientId, overrides = {}) {
      server.registry.upsert({
        client_id: clientId,
        name: `${clientId} (test app)`,
        kind: 'public',
        redirect_uris: ['http://127.0.0.1/callback', 'https://app.test/cb'],
        scopes: ['launch/patient', 'fhirUser', 'offline_access', 'online_access', 'patient/*.rs', 'user/*.cruds'],
        purposes_of_use: ['TREAT', 'ETREAT'],
        roles: [],
        ...overrides,
      });
    },
    async addUser(username, password, roles, link) {
      await server.users.upsert({ username, displayName: username, roles, ...link }, password);
    },
    async restart() {
      closed = true;
      await server.close();
      return startAuthServer({ ...opts, dataDir, clock: c }, ownsDir);
    },
    async close() {
      if (closed) return;
      closed = true;
      await server.close();
      if (ownsDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return fixture;
}
