import type { ResourceStore } from '../store/resource-store.js';
import type { Definitions } from '../fhir/definitions.js';
import { compileSearch } from '../fhir/search/compile-search.js';
import { parseSearchQuery } from '../fhir/search/parse-search-query.js';
import { andOf, orOf, type Doc } from '../fhir/search/query-doc.js';
import { inPatientCompartment, patientCompartmentClause } from './compartment.js';
import type { Principal } from './principal.js';
import { scopeGrants, type Permission, type SmartScope } from './scopes.js';

/**
 * What a principal's scopes let it reach, as query documents over stored resources
 * (SMART App Launch 2.x scopes, https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html):
 *
 * - `patient/` scopes reach the launch patient's compartment (compartment.ts). Types outside the
 *   Patient compartment (Organization, Practitioner, Medication, …) hold no one patient's data:
 *   `patient/` scopes may read and search them but never write them. Binary is the exception:
 *   R4 gives it no compartment link although it carries patient content, so `patient/` scopes
 *   do not reach it. Without a `patient` claim, `patient/` scopes reach nothing.
 * - `user/` scopes reach what the scope names (per-category consent narrows this later).
 * - `system/` scopes, for backend services, reach what the scope names.
 * - Granular v2 scopes (`…rs?category=laboratory`) are compiled with the search compiler and
 *   AND-ed in; one that does not compile (unknown parameter) reaches nothing.
 *
 * Several scopes granting the same permission are OR-ed.
 */
export type Access = { readonly kind: 'all' } | { readonly kind: 'none' } | { readonly kind: 'some'; readonly filter: Doc };

export const ALL: Access = Object.freeze({ kind: 'all' });
export const NONE: Access = Object.freeze({ kind: 'none' });

export interface AccessPolicyDeps {
  readonly defs: Definitions;
  /**
   * The unscoped store, for granular scopes whose parameters need sub-searches (chains,
   * `:in`): a scope is the issuer's grant, not client input, so it is compiled as the server.
   */
  readonly store: Pick<ResourceStore, 'search' | 'readCurrent'>;
  /** The FHIR base URL; absolute references to the launch patient count too. */
  readonly baseUrl: string;
}

export class AccessPolicy {
  private readonly memo = new Map<string, Promise<Access>>();

  constructor(
    readonly principal: Principal,
    private readonly deps: AccessPolicyDeps,
  ) {}

  /** The FHIR base URL the request came in on (route hooks read the caller's fhirUser against it). */
  get baseUrl(): string {
    return this.deps.baseUrl;
  }

  /** Whether some scope grants `permission` on `type` at all (the type-level 403 check). */
  grants(type: string, permission: Permission): boolean {
    return this.principal.scopes.some((s) => this.usable(s, type, permission));
  }

  /** The resources of `type` that any of `permissions` reaches. */
  access(type: string, permissions: readonly Permission[]): Promise<Access> {
    const key = `${type}|${permissions.join('')}`;
    let hit = this.memo.get(key);
    if (!hit) {
      hit = this.compute(type, permissions);
      this.memo.set(key, hit);
    }
    return hit;
  }

  private async compute(type: string, permissions: readonly Permission[]): Promise<Access> {
    const clauses: Doc[] = [];
    const seen = new Set<SmartScope>();
    for (const permission of permissions) {
      for (const scope of this.principal.scopes) {
        if (seen.has(scope) || !this.usable(scope, type, permission)) continue;
        seen.add(scope);
        const clause = await this.scopeClause(scope, type);
        if (clause === 'all') return ALL;
        if (clause !== 'none') clauses.push(clause);
      }
    }
    return clauses.length === 0 ? NONE : { kind: 'some', filter: orOf(clauses) };
  }

  private usable(scope: SmartScope, type: string, permission: Permission): boolean {
    if (!scopeGrants(scope, permission, type)) return false;
    if (scope.context !== 'patient') return true;
    if (this.principal.launchPatient === undefined) return false;
    if (inPatientCompartment(type)) return true;
    return type !== 'Binary' && (permission === 'r' || permission === 's');
  }

  private async scopeClause(scope: SmartScope, type: string): Promise<Doc | 'all' | 'none'> {
    const parts: Doc[] = [];
    if (scope.context === 'patient') {
      const compartment = patientCompartmentClause(this.deps.defs, type, this.principal.launchPatient as string, this.deps.baseUrl);
      if (compartment) parts.push(compartment);
    }
    if (scope.query) {
      const restriction = await compileScopeQuery(this.deps, scope, type);
      if (restriction === undefined) return 'none';
      parts.push(restriction);
    }
    return parts.length === 0 ? 'all' : andOf(parts);
  }
}

const compiledScopes = new Map<string, Doc | undefined>();
const COMPILED_LIMIT = 2000;

/**
 * A granular scope's parameters as a query document for `type` (strict: an unknown parameter
 * makes the scope reach nothing rather than everything). Results are cached unless the query
 * reads other resources (chains, `_has`, `_list`, `:in`), whose answers change with the data.
 */
async function compileScopeQuery(deps: AccessPolicyDeps, scope: SmartScope, type: string): Promise<Doc | undefined> {
  const query = scope.query as Readonly<Record<string, readonly string[]>>;
  const readsData = Object.keys(query).some((k) => k.includes('.') || k.startsWith('_has') || k.startsWith('_list') || /:(not-)?in$/.test(k));
  const key = `${type}\n${scope.raw}`;
  if (!readsData && compiledScopes.has(key)) return compiledScopes.get(key);
  let filter: Doc | undefined;
  try {
    const copy: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
    for (const [k, v] of Object.entries(query)) copy[k] = [...v];
    const compiled = await compileSearch(deps.defs, parseSearchQuery(type, copy), { strict: true, store: deps.store });
    filter = Object.keys(compiled.filter).length > 0 ? compiled.filter : undefined;
  } catch {
    filter = undefined;
  }
  if (!readsData) {
    if (compiledScopes.size >= COMPILED_LIMIT) compiledScopes.delete(compiledScopes.keys().next().value as string);
    compiledScopes.set(key, filter);
  }
  return filter;
}
