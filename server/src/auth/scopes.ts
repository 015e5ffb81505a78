/**
 * SMART clinical-data scopes (SMART App Launch 2.x, "Scopes for requesting FHIR resources",
 * https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html):
 *
 *   v2  `patient/Observation.rs`, `user/*.cruds`, `system/*.rs`, granular
 *       `patient/Observation.rs?category=http://…|laboratory`
 *   v1  `patient/*.read`, `user/Patient.write`, `system/*.*`
 *
 * v1 maps onto v2 permissions (`read` = rs, `write` = cud, `*` = cruds), so everything
 * downstream speaks v2. Scopes that are not about resources (`openid`, `fhirUser`,
 * `launch/patient`, `offline_access`, …) are kept aside; a string that starts like a resource
 * scope but does not parse is invalid and grants nothing.
 */

export type ScopeContext = 'patient' | 'user' | 'system';

/** c create, r read, u update, d delete, s search — in the order SMART v2 writes them. */
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';

export const PERMISSIONS: readonly Permission[] = Object.freeze(['c', 'r', 'u', 'd', 's'] as const);

export interface SmartScope {
  /** The scope as granted, e.g. "patient/Observation.rs?category=laboratory". */
  readonly raw: string;
  readonly context: ScopeContext;
  /** A resource type, or "*" for every type. */
  readonly resourceType: string;
  readonly permissions: readonly Permission[];
  /** Granular (v2) scopes: search parameters that further restrict what the scope reaches. */
  readonly query?: Readonly<Record<string, readonly string[]>>;
  readonly version: 1 | 2;
}

export interface ParsedScopes {
  readonly resource: readonly SmartScope[];
  /** Well-formed scopes that are not about resources (openid, launch/patient, …). */
  readonly other: readonly string[];
  /** Scopes that look like resource scopes but do not parse; they grant nothing. */
  readonly invalid: readonly string[];
}

const RESOURCE_SCOPE = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]{0,63})\.([^?]*)(?:\?(.*))?$/s;
const V2_PERMISSIONS = /^c?r?u?d?s?$/;
const V1_PERMISSIONS: Readonly<Record<string, readonly Permission[]>> = {
  read: ['r', 's'],
  write: ['c', 'u', 'd'],
  '*': ['c', 'r', 'u', 'd', 's'],
};

/**
 * Search result parameters are not restrictions; a granular scope naming one (`?_count=1`)
 * is refused rather than read as something it cannot mean.
 */
const RESULT_PARAMETERS = new Set(['_sort', '_count', '_offset', '_cursor', '_total', '_summary', '_elements', '_include', '_revinclude', '_contained', '_containedType', '_format', '_pretty', '_type']);

/**
 * One scope: a SmartScope, `'other'` for a scope that is not about resources, or `'invalid'`
 * for a malformed resource scope.
 */
export function parseScope(raw: string): SmartScope | 'other' | 'invalid' {
  const m = RESOURCE_SCOPE.exec(raw);
  if (!m) return /^(patient|user|system)\//.test(raw) ? 'invalid' : 'other';
  const [, context, resourceType, perms, query] = m as unknown as [string, ScopeContext, string, string, string | undefined];
  let permissions: readonly Permission[];
  let version: 1 | 2;
  const v1 = V1_PERMISSIONS[perms];
  if (v1) {
    // Granular restrictions exist only in v2.
    if (query !== undefined) return 'invalid';
    permissions = v1;
    version = 1;
  } else {
    if (perms === '' || !V2_PERMISSIONS.test(perms)) return 'invalid';
    permissions = [...perms] as Permission[];
    version = 2;
  }
  let parsedQuery: Record<string, string[]> | undefined;
  if (query !== undefined) {
    parsedQuery = Object.create(null) as Record<string, string[]>;
    let any = false;
    for (const [k, v] of new URLSearchParams(query)) {
      if (k === '' || RESULT_PARAMETERS.has(k.split(':')[0] as string)) return 'invalid';
      (parsedQuery[k] ??= []).push(v);
      any = true;
    }
    if (!any) return 'invalid';
    for (const values of Object.values(parsedQuery)) Object.freeze(values);
    Object.freeze(parsedQuery);
  }
  return Object.freeze({
    raw,
    context,
    resourceType,
    permissions: Object.freeze(permissions),
    ...(parsedQuery ? { query: parsedQuery } : {}),
    version,
  });
}

const cache = new Map<string, ParsedScopes>();
const CACHE_LIMIT = 1000;

/**
 * A space-separated scope string (the `scope` claim). Tokens repeat the same few strings, so
 * parses are cached; the results are frozen and safe to share.
 */
export function parseScopes(scope: string): ParsedScopes {
  const hit = cache.get(scope);
  if (hit) return hit;
  const resource: SmartScope[] = [];
  const other: string[] = [];
  const invalid: string[] = [];
  for (const raw of scope.split(/\s+/)) {
    if (raw === '') continue;
    const s = parseScope(raw);
    if (s === 'other') other.push(raw);
    else if (s === 'invalid') invalid.push(raw);
    else resource.push(s);
  }
  const parsed: ParsedScopes = Object.freeze({ resource: Object.freeze(resource), other: Object.freeze(other), invalid: Object.freeze(invalid) });
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(scope, parsed);
  return parsed;
}

/** Does this scope grant `permission` on resources of `resourceType` (before any restriction)? */
export function scopeGrants(scope: SmartScope, permission: Permission, resourceType: string): boolean {
  return (scope.resourceType === '*' || scope.resourceType === resourceType) && scope.permissions.includes(permission);
}

/**
 * The permission each FHIR interaction needs (SMART App Launch 2.x scope table): read, vread
 * and instance history are `r`; type search, system search and type history are `s`; create
 * `c`; update and patch `u`; delete `d`.
 */
export type ScopedInteraction =
  | 'read'
  | 'vread'
  | 'history-instance'
  | 'history-type'
  | 'search-type'
  | 'search-system'
  | 'create'
  | 'update'
  | 'patch'
  | 'delete';

export function permissionFor(interaction: ScopedInteraction): Permission {
  switch (interaction) {
    case 'read':
    case 'vread':
    case 'history-instance':
      return 'r';
    case 'search-type':
    case 'search-system':
    case 'history-type':
      return 's';
    case 'create':
      return 'c';
    case 'update':
    case 'patch':
      return 'u';
    case 'delete':
      return 'd';
  }
}
