import type { JSONWebKeySet } from 'jose';
import { z } from 'zod';
import { ROLES, type Role } from '../auth/principal.js';
import { isPurposeOfUse } from '../auth/purpose-of-use.js';
import { isRegistrableScope } from './scope-grant.js';

export { ROLES, type Role };

/**
 * One registered client, as stored in `DATA_DIR/clients.json`.
 * - `backend`: SMART Backend Services (https://hl7.org/fhir/smart-app-launch/backend-services.html),
 *   `client_credentials` authenticated with a private_key_jwt assertion (RFC 7523) signed by a
 *   key in `jwks`.
 * - `public`: an app launched by a user that keeps no secret (SMART "client-public"); PKCE
 *   alone protects its authorization code.
 * - `confidential`: an app launched by a user that authenticates with private_key_jwt too
 *   (SMART "client-confidential-asymmetric").
 */
export interface ClientRegistration {
  client_id: string;
  name: string;
  kind: 'backend' | 'public' | 'confidential';
  /** Public keys (never private parts) that verify the client's assertions. */
  jwks?: JSONWebKeySet;
  /** Exact redirect URIs for the authorization code flow. */
  redirect_uris: string[];
  /** The most the client may be granted; requests get the covered subset. */
  scopes: string[];
  /** HL7 v3 PurposeOfUse codes the client may act for; the first is the default. */
  purposes_of_use: string[];
  /** Roles of a backend client's tokens (app launches take the user's roles). */
  roles: Role[];
  /** Who a backend client acts as, e.g. "Organization/org-insurer". */
  fhirUser?: string;
}

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

const Jwk = z
  .looseObject({ kty: z.enum(['RSA', 'EC', 'OKP']), kid: z.string().optional(), alg: z.string().optional() })
  .refine((k) => PRIVATE_JWK_MEMBERS.every((m) => !(m in k)), 'a registered key must be public: it has private key members');

const RedirectUri = z.url().refine((u) => {
  const url = new URL(u);
  if (url.hash !== '') return false;
  // RFC 8252 §7.3 / OAuth 2.0 Security BCP: plain http only for loopback redirects.
  return url.protocol === 'https:' || (url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname));
}, 'redirect URIs must be https (or http on localhost/127.0.0.1/[::1]) and have no fragment');

const FhirUser = z
  .string()
  .regex(
    /^(?:https?:\/\/\S+\/)?(Practitioner|PractitionerRole|Patient|RelatedPerson|Person|Organization|Device)\/[A-Za-z0-9.-]{1,64}$/,
    'fhirUser must be a reference such as Organization/org-insurer (or an absolute URL ending in one)',
  );

export const ClientRegistrationSchema = z
  .strictObject({
    client_id: z.string().regex(/^[A-Za-z0-9._~-]{1,128}$/, 'client_id: 1-128 characters of A-Z a-z 0-9 . _ ~ -'),
    name: z.string().min(1).max(200),
    kind: z.enum(['backend', 'public', 'confidential']),
    jwks: z.strictObject({ keys: z.array(Jwk).min(1) }).optional(),
    redirect_uris: z.array(RedirectUri).default([]),
    scopes: z.array(z.string().refine(isRegistrableScope, 'not a SMART scope this server can grant')).min(1),
    purposes_of_use: z.array(z.string().refine(isPurposeOfUse, 'not an HL7 v3 PurposeOfUse code')).min(1),
    roles: z.array(z.enum(ROLES)).default([]),
    fhirUser: FhirUser.optional(),
  })
  .refine((c) => c.kind === 'public' || c.jwks !== undefined, { message: 'backend and confidential clients need jwks (their public keys)', path: ['jwks'] })
  .refine((c) => c.kind !== 'public' || c.jwks === undefined, { message: 'a public client has no keys; register it as confidential to use private_key_jwt', path: ['jwks'] })
  .refine((c) => c.kind === 'backend' || c.redirect_uris.length > 0, { message: 'apps launched by a user need at least one redirect URI', path: ['redirect_uris'] })
  .refine((c) => c.kind !== 'backend' || c.scopes.every((s) => !s.startsWith('patient/') && !s.startsWith('user/')), {
    message: 'backend clients act for themselves: register system/ scopes only',
    path: ['scopes'],
  });

export const RegistryFileSchema = z.strictObject({ clients: z.array(ClientRegistrationSchema) }).refine(
  (f) => new Set(f.clients.map((c) => c.client_id)).size === f.clients.length,
  { message: 'client_id values must be unique', path: ['clients'] },
);

/** Validates one registration; throws an Error naming every problem. */
export function parseClientRegistration(value: unknown): ClientRegistration {
  const parsed = ClientRegistrationSchema.safeParse(value);
  if (!parsed.success) throw new Error(`Invalid client registration:\n${formatIssues(parsed.error.issues)}`);
  return parsed.data as ClientRegistration;
}

export function formatIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues.map((i) => `  ${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('\n');
}
