import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

/**
 * The identity provider Custodian trusts during a benchmark: an ES256 key made for this run,
 * its JWKS served on loopback (the server is started with AUTH_ISSUER / AUTH_JWKS_URL, as with
 * any external provider), and an admin backend token (`system/*.cruds`) for the requests. Real
 * token verification therefore runs on every measured request.
 */
export const BENCH_ISSUER = 'https://bench.custodian.invalid/auth';

interface Issuer {
  jwksUrl: string;
  privateKey: CryptoKey;
}

let started: Promise<Issuer> | undefined;

function issuer(): Promise<Issuer> {
  started ??= (async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256', use: 'sig' };
    const body = JSON.stringify({ keys: [jwk] });
    const server = createServer((req, res) => {
      if (req.url === '/jwks.json') res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    // The bench exits when its work is done; the key server must not keep it alive.
    server.unref();
    return { jwksUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`, privateKey };
  })();
  return started;
}

/** Environment that makes a Custodian process trust the bench issuer. */
export async function benchIssuerEnv(): Promise<Record<string, string>> {
  return { AUTH_ISSUER: BENCH_ISSUER, AUTH_JWKS_URL: (await issuer()).jwksUrl };
}

/** Claims of a bench access token beyond iss/aud/sub/iat/exp (SMART + Custodian's purpose_of_use, roles). */
export interface BenchClaims {
  client_id?: string;
  scope: string;
  purpose_of_use: string[];
  roles?: string[];
  fhirUser?: string;
  patient?: string;
}

/**
 * `Authorization` header carrying a token with these claims for the server whose audience is
 * `audience` (its base URL unless AUTH_AUDIENCE says otherwise), valid for a day.
 */
export async function benchToken(audience: string, claims: BenchClaims, subject = 'bench'): Promise<string> {
  const { privateKey } = await issuer();
  const token = await new SignJWT({ client_id: 'bench', ...claims, jti: randomUUID() })
    .setProtectedHeader({ alg: 'ES256', kid: 'bench', typ: 'at+jwt' })
    .setIssuer(BENCH_ISSUER)
    .setAudience(audience)
    .setSubject(subject)
    .setIssuedAt()
    .setExpirationTime('24h')
    .sign(privateKey);
  return `Bearer ${token}`;
}

/** `Authorization` header of an admin backend for the server at `baseUrl`, valid for a day. */
export function benchAuthorization(baseUrl: string): Promise<string> {
  return benchToken(baseUrl, { scope: 'system/*.cruds', purpose_of_use: ['HSYSADMIN'], roles: ['admin'] });
}
