import { FhirError } from '../fhir/outcomes.js';
import type { AccessPolicy } from './access-policy.js';
import type { Principal } from './principal.js';
import { PERMISSIONS, permissionFor, type Permission, type ScopedInteraction } from './scopes.js';

/**
 * The type-level half of scope enforcement (SMART App Launch 2.x scopes,
 * https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html); the scoped store does
 * the resource-level half.
 *
 * The 403/404 rule: a client gets 403 when no scope it holds grants the interaction on the
 * resource type at all — something it can tell from its own token, so the answer reveals
 * nothing about the data. When a scope grants the interaction but the resource lies outside
 * it (another patient's compartment, a category a granular scope excludes), the resource reads
 * as absent: 404, exactly as for an id that does not exist.
 *
 * Every interaction on data also needs a purpose of use; a token without one gets 403.
 */
export class InsufficientScopeError extends FhirError {
  constructor(message: string) {
    super('forbidden', message);
    this.name = 'InsufficientScopeError';
  }
}

export type RouteInteraction = ScopedInteraction | 'transaction' | 'batch' | 'capabilities' | 'operation';

export interface InteractionRequest {
  interaction: RouteInteraction;
  /** The resource type in the URL, when there is one. */
  type?: string;
  /** For system search: the types `_type` names (undefined: every type, filtered by scope). */
  searchTypes?: readonly string[];
}

/**
 * The one refusal of a token without a purpose of use (IHE IUA `purpose_of_use`): every route
 * that reads or writes data calls it, including those that authorize themselves (`$export`,
 * `$full-audit`), so the rule and its wording cannot drift apart.
 */
export function requirePurposeOfUse(principal: Principal): void {
  if (principal.purposeOfUse.length === 0) {
    throw new FhirError('forbidden', 'The access token carries no purpose of use (purpose_of_use); every access to data must state one');
  }
}

/**
 * Checks the interaction against the principal's scopes and purpose, and returns the
 * permissions whose reach the request's reads may see; undefined for public interactions.
 */
export function authorizeInteraction(policy: AccessPolicy, req: InteractionRequest): readonly Permission[] | undefined {
  if (req.interaction === 'capabilities') return undefined;
  requirePurposeOfUse(policy.principal);
  switch (req.interaction) {
    case 'transaction':
    case 'batch':
      // Each entry is checked on its own: reads through the router, writes at commit.
      return PERMISSIONS;
    case 'operation': {
      const type = req.type as string;
      if (!PERMISSIONS.some((p) => policy.grants(type, p))) throw new InsufficientScopeError(`The access token grants nothing on ${type}`);
      return ['r', 's'];
    }
    case 'search-system': {
      for (const type of req.searchTypes ?? []) {
        if (!policy.grants(type, 's')) throw new InsufficientScopeError(`The access token's scopes do not allow searching ${type}`);
      }
      return ['s'];
    }
    default: {
      const permission = permissionFor(req.interaction);
      const type = req.type as string;
      if (!policy.grants(type, permission)) {
        throw new InsufficientScopeError(`The access token's scopes do not allow ${req.interaction} on ${type} (needs a scope with '${permission}' on ${type})`);
      }
      // A write also reads (conditional matches, the current version); the commit check is
      // what decides whether it may write.
      return permission === 'r' || permission === 's' ? [permission] : ['r', 's', permission];
    }
  }
}

/**
 * The general check of an operation on the route's type (a purpose is stated, some scope
 * reaches the type), for route hooks that refuse more after it (Route.authorize).
 */
export function authorizeOperation(policy: AccessPolicy, type: string | undefined): readonly Permission[] {
  return authorizeInteraction(policy, { interaction: 'operation', ...(type !== undefined ? { type } : {}) }) ?? [];
}
