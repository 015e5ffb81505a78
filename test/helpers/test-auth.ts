import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JSONWebKeySet, type JWK } from 'jose';
import { createTokenVerifier, keysFromJwks, type TokenVerifier } from '../../server/src/auth/verify-token.js';

/**
 * A fake SMART issuer for tests: in-memory key pairs (ES256 by default, RS256 and EdDSA on
 * request), its JWKS, and a `token()` that mints access tokens with any scopes and claims —
 * expired, not yet valid, for another audience or issuer, or forged (signed by a key the JWKS
 * does not hold) when a test asks. Tests hand `verifier` to createApp (an explicit dependency,
 * so production wiring has no switch that a configuration could flip); end-to-end tests serve
 * the JWKS over HTTP (`serveJwks`) and start the server with AUTH_ISSUER / AUTH_JWKS_URL, the
 * same way an external identity provider is connected.
 */
export type TestAlg = 'ES256' | 'RS256' | 'EdDSA';

export interface TokenOptions {
  sub?: string;
  client_id?: string;
  /** Space-separated scopes. Default: `system/*.cruds`. */
  scope?: string;
  patient?: string;
  fhirUser?: string;
  /** Default ['TREAT']; null leaves the claim out. */
  purpose_of_use?: string | string[] | null;
  roles?: string[];
  /** Seconds from now until `exp` (negative: already expired). Default 3600. */
  expiresIn?: number;
  /** Seconds from now of `nbf` (positive: not valid yet). Default: no nbf. */
  notBefore?: number;
  issuer?: string;
  audience?: string | string[];
  alg?: TestAlg;
  /** Sign with a key pair the issuer does not publish (same kid): a forged token. */
  forged?: boolean;
  /** Further claims, or `undefined` values to remove default ones (e.g. `{ sub: undefined }`). */
  claims?: Record<string, unknown>;
}

export interface TestAuth {
  readonly issuer: string;
  readonly audience: string;
  readonly verifier: TokenVerifier;
  jwks(): Promise<JSONWebKeySet>;
  token(opts?: TokenOptions): Promise<string>;
  /** An admin backend: `system/*.cruds`, purpose HSYSADMIN (what existing tests act as). */
  adminToken(audience?: string): Promise<string>;
}

export const TEST_ISSUER = 'https://issuer.test.invalid/auth';

interface KeyPair {
  kid: string;
  alg: TestAlg;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

// Key generation (RSA especially) is slow; one set per process serves every test issuer.
const trusted = new Map<TestAlg, Promise<KeyPair>>();
const forgers = new Map<TestAlg, Promise<KeyPair>>();

function keyPair(alg: TestAlg, pool: Map<TestAlg, Promise<KeyPair>>, kid: string): Promise<KeyPair> {
  let p = pool.get(alg);
  if (!p) {
    p = (async () => {
      const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
      return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
    })();
    pool.set(alg, p);
  }
  return p;
}

export async function createTestAuth(opts: { audience: string; issuer?: string; now?: () => number; clockSkewSeconds?: number }): Promise<TestAuth> {
  const issuer = opts.issuer ?? TEST_ISSUER;
  await keyPair('ES256', trusted, 'test-es256');
  const jwks = async (): Promise<JSONWebKeySet> => {
    // Only the algorithms some test has used are published; each is generated on first use.
    const keys = await Promise.all([...trusted.values()]);
    return { keys: keys.map((k) => k.publicJwk) };
  };
  // A stable object per call set, so keysFromJwks can reuse its local key set.
  let published: { n: number; set: JSONWebKeySet } | undefined;
  const stableJwks = async (): Promise<JSONWebKeySet> => {
    if (!published || published.n !== trusted.size) published = { n: trusted.size, set: await jwks() };
    return published.set;
  };
  const now = opts.now ?? Date.now;
  const verifier = createTokenVerifier({
    issuer,
    audience: opts.audience,
    clockSkewSeconds: opts.clockSkewSeconds ?? 30,
    keys: keysFromJwks(stableJwks),
    now,
    // Tests move the clock and reuse tokens; remembering verifications would hide that.
    cacheTtlMs: 0,
  });
  const token = async (o: TokenOptions = {}): Promise<string> => {
    const alg = o.alg ?? 'ES256';
    const key = o.forged ? await keyPair(alg, forgers, `test-${alg.toLowerCase()}`) : await keyPair(alg, trusted, `test-${alg.toLowerCase()}`);
    if (o.forged) await keyPair(alg, trusted, `test-${alg.toLowerCase()}`);
    const t = Math.floor(now() / 1000);
    const claims: Record<string, unknown> = {
      sub: o.sub ?? 'test-user',
      client_id: o.client_id ?? 'test-client',
      scope: o.scope ?? 'system/*.cruds',
      jti: randomUUID(),
      ...(o.patient !== undefined ? { patient: o.patient } : {}),
      ...(o.fhirUser !== undefined ? { fhirUser: o.fhirUser } : {}),
      ...(o.purpose_of_use === null ? {} : { purpose_of_use: o.purpose_of_use ?? ['TREAT'] }),
      ...(o.roles !== undefined ? { roles: o.roles } : {}),
      ...(o.notBefore !== undefined ? { nbf: t + o.notBefore } : {}),
      ...o.claims,
    };
    for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
    return new SignJWT(claims)
      .setProtectedHeader({ alg, kid: key.kid, typ: 'at+jwt' })
      .setIssuer(o.issuer ?? issuer)
      .setAudience(o.audience ?? opts.audience)
      .setIssuedAt(t)
      .setExpirationTime(t + (o.expiresIn ?? 3600))
      .sign(key.privateKey);
  };
  return {
    issuer,
    audience: opts.audience,
    verifier,
    jwks,
    token,
    adminToken: (audience) =>
      token({ sub: 'test-admin', client_id: 'test-admin', scope: 'system/*.cruds', roles: ['admin'], purpose_of_use: ['HSYSADMIN'], ...(audience ? { audience } : {}) }),
  };
}

/**
 * The app as a client holding `token` sees it: requests without an Authorization header get
 * `Bearer <token>`; requests that set one (the auth tests) keep theirs.
 */
export function withBearer(app: RequestListener, token: string): RequestListener {
  const value = `Bearer ${token}`;
  return (req: IncomingMessage, res: ServerResponse) => {
    if (req.headers.authorization === undefined) req.headers.authorization = value;
    app(req, res);
  };
}

/**
 * Publishes the issuer's JWKS over HTTP on loopback, for a server process configured with
 * AUTH_ISSUER=<issuer> and AUTH_JWKS_URL=<jwksUrl>.
 */
export async function serveJwks(auth: TestAuth): Promise<{ jwksUrl: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.url !== '/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    auth.jwks().then(
      (set) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(set)),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    jwksUrl: `http://127.0.0.1:${port}/jwks.json`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
