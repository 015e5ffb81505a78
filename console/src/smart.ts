import { sameOrigin, type ConsoleConfig } from './config';

/**
 * The SMART App Launch 2.x standalone launch as a public client
 * (https://hl7.org/fhir/smart-app-launch/app-launch.html): discovery, an authorization request
 * with PKCE (S256) and `state`, the code exchanged at the token endpoint. The page itself is the
 * redirect URI. The session lives in sessionStorage: it ends with the tab.
 */
export type Mode = 'patient' | 'steward';

export interface Session {
  readonly mode: Mode;
  readonly accessToken: string;
  readonly expiresAt: number;
  readonly scope: string;
  readonly patient?: string;
  readonly fhirUser?: string;
}

/** What each view asks for; the authorization server grants what the signed-in user may have. */
const REQUEST: Record<Mode, { scope: string; purpose: string }> = {
  patient: { scope: 'launch/patient fhirUser online_access patient/*.rs patient/Consent.cu', purpose: 'PATRQT' },
  steward: { scope: 'fhirUser user/*.rs', purpose: 'HOPERAT' },
};

const PENDING_KEY = 'custodian-console.pending';
const SESSION_KEY = 'custodian-console.session';

interface Pending {
  readonly mode: Mode;
  readonly state: string;
  readonly verifier: string;
  readonly redirectUri: string;
}

interface SmartConfiguration {
  readonly issuer?: string;
  readonly authorization_endpoint: string;
  readonly token_endpoint: string;
}

async function discover(config: ConsoleConfig): Promise<SmartConfiguration> {
  const res = await fetch(sameOrigin(`${config.fhirBaseUrl}/.well-known/smart-configuration`), { headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`SMART discovery answered ${res.status}`);
  const body = (await res.json()) as Partial<SmartConfiguration>;
  if (typeof body.authorization_endpoint !== 'string' || typeof body.token_endpoint !== 'string') throw new Error('SMART discovery names no authorization or token endpoint');
  return body as SmartConfiguration;
}

function base64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomToken(bytes: number): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

export function redirectUri(): string {
  return new URL('./', document.baseURI).toString();
}

export async function startLaunch(config: ConsoleConfig, mode: Mode): Promise<void> {
  if (!crypto.subtle) throw new Error('This page is not a secure context (https or localhost), so it cannot compute the PKCE challenge');
  const smart = await discover(config);
  const verifier = randomToken(32);
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  const pending: Pending = { mode, state: randomToken(16), verifier, redirectUri: redirectUri() };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const url = new URL(sameOrigin(smart.authorization_endpoint));
  const params = {
    response_type: 'code',
    client_id: config.clientId,
    redirect_uri: pending.redirectUri,
    scope: REQUEST[mode].scope,
    state: pending.state,
    aud: config.fhirBaseUrl,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    purpose_of_use: REQUEST[mode].purpose,
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  location.assign(url.toString());
}

/** The redirect back from the authorization server, if this page load is one. */
export function isCallback(): boolean {
  const q = new URLSearchParams(location.search);
  return q.has('code') || q.has('error');
}

/** Finishes a launch: checks state and issuer, exchanges the code, stores the session. */
export async function completeLaunch(config: ConsoleConfig): Promise<Session> {
  const q = new URLSearchParams(location.search);
  history.replaceState(null, '', redirectUri());
  const raw = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  const pending = raw ? (JSON.parse(raw) as Pending) : undefined;
  if (!pending || q.get('state') !== pending.state) throw new Error('This sign-in answer does not belong to a sign-in started in this tab; sign in again.');
  const error = q.get('error');
  if (error) throw new Error(`Sign-in did not complete: ${q.get('error_description') ?? error}`);
  const smart = await discover(config);
  const iss = q.get('iss');
  if (iss !== null && smart.issuer !== undefined && iss !== smart.issuer) throw new Error(`The answer names issuer ${iss}, not ${smart.issuer}`);
  const res = await fetch(sameOrigin(smart.token_endpoint), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: q.get('code') ?? '',
      redirect_uri: pending.redirectUri,
      code_verifier: pending.verifier,
      client_id: config.clientId,
    }).toString(),
  });
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok || typeof body.access_token !== 'string') {
    throw new Error(`The token endpoint refused the code: ${String(body.error_description ?? body.error ?? res.status)}`);
  }
  const session: Session = {
    mode: pending.mode,
    accessToken: body.access_token,
    expiresAt: Date.now() + Number(body.expires_in ?? 300) * 1000,
    scope: String(body.scope ?? ''),
    ...(typeof body.patient === 'string' ? { patient: body.patient } : {}),
    ...(typeof body.fhirUser === 'string' ? { fhirUser: body.fhirUser } : {}),
  };
  if (session.mode === 'patient' && !session.patient) throw new Error('The authorization server granted no patient context: sign in as a patient.');
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  return session;
}

export function currentSession(): Session | undefined {
  const raw = sessionStorage.getItem(SESSION_KEY);
  if (!raw) return undefined;
  const s = JSON.parse(raw) as Session;
  if (s.expiresAt <= Date.now()) {
    signOut();
    return undefined;
  }
  return s;
}

export function signOut(): void {
  sessionStorage.removeItem(SESSION_KEY);
  sessionStorage.removeItem(PENDING_KEY);
}
