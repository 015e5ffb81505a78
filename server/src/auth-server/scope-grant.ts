/**
 * What a client may be granted: the requested scopes that its registration covers (RFC 6749
 * §3.3 lets the server grant less than asked and say so in the response's `scope`).
 *
 * Resource scopes follow SMART App Launch 2.x "Scopes and Launch Context"
 * (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html): v2
 * `<patient|user|system>/<Type|*>.<cruds>[?query]` and v1 `.read`/`.write`/`.*`. This module only
 * decides issuance; enforcement per interaction belongs to the FHIR gate (server/src/auth).
 */

export type ScopeContext = 'patient' | 'user' | 'system';

export interface ResourceScope {
  readonly context: ScopeContext;
  /** A resource type or '*'. */
  readonly type: string;
  /** Subset of "cruds". */
  readonly permissions: ReadonlySet<string>;
  /** v2 granular query (without '?'), if any. */
  readonly query?: string;
}

/** Scopes that are not about resources; granted only when registered verbatim. */
export const CONTEXT_SCOPES: ReadonlySet<string> = new Set(['launch/patient', 'fhirUser', 'offline_access', 'online_access']);

const V2 = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]{0,63})\.(c?r?u?d?s?)(?:\?(.+))?$/;
const V1 = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]{0,63})\.(read|write|\*)$/;
const V1_PERMISSIONS: Readonly<Record<string, string>> = { read: 'rs', write: 'cud', '*': 'cruds' };

/** Parses one resource scope; undefined when it is not one (or malformed). */
export function parseResourceScope(scope: string): ResourceScope | undefined {
  const v1 = V1.exec(scope);
  if (v1) return { context: v1[1] as ScopeContext, type: v1[2]!, permissions: new Set(V1_PERMISSIONS[v1[3]!]) };
  const v2 = V2.exec(scope);
  if (!v2 || v2[3] === '') return undefined;
  const query = v2[4];
  return {
    context: v2[1] as ScopeContext,
    type: v2[2]!,
    permissions: new Set(v2[3]),
    ...(query !== undefined ? { query } : {}),
  };
}

/** True when `allowed` permits everything `requested` asks for. */
export function covers(allowed: string, requested: string): boolean {
  if (allowed === requested) return true;
  const a = parseResourceScope(allowed);
  const r = parseResourceScope(requested);
  if (!a || !r) return false;
  if (a.context !== r.context) return false;
  if (a.type !== '*' && a.type !== r.type) return false;
  for (const p of r.permissions) if (!a.permissions.has(p)) return false;
  // A granular registration grants only that exact query: comparing query semantics is the
  // gate's business, and "narrower than" cannot be decided by text.
  return a.query === undefined || a.query === r.query;
}

export function splitScope(scope: string | undefined): string[] {
  return [...new Set((scope ?? '').split(' ').filter((s) => s !== ''))];
}

/**
 * The requested scopes (as written, so a v1 request gets v1 scopes back) that some registered
 * scope covers, limited to `contexts` (e.g. only `system/` for client_credentials).
 */
export function grantScopes(requested: readonly string[], registered: readonly string[], contexts: ReadonlySet<ScopeContext>): string[] {
  return requested.filter((s) => {
    if (CONTEXT_SCOPES.has(s)) return registered.includes(s);
    const parsed = parseResourceScope(s);
    if (!parsed || !contexts.has(parsed.context)) return false;
    return registered.some((allowed) => covers(allowed, s));
  });
}

/** Valid as a registration entry: a context scope or a well-formed resource scope. */
export function isRegistrableScope(scope: string): boolean {
  return CONTEXT_SCOPES.has(scope) || parseResourceScope(scope) !== undefined;
}
