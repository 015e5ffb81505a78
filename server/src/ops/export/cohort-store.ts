import { AccessPolicy } from '../../auth/access-policy.js';
import type { Principal } from '../../auth/principal.js';
import { ScopedStore } from '../../auth/scoped-store.js';
import type { Definitions } from '../../fhir/definitions.js';
import { ForwardingStore } from '../../store/forwarding-store.js';
import type { ResourceStore, StoredVersion } from '../../store/resource-store.js';

/**
 * The store a Group export resolves its cohort through (ops/cohort/resolve-cohort.ts): the
 * requester's gated store for everything (characteristics are evaluated on data consent lets
 * the requester see, so a hidden result cannot put a patient in the cohort), except reading
 * the Group itself, which the requester's **scopes** alone decide.
 *
 * Why: a study's Group lists its participants, so it sits in each member's compartment, and
 * the consent gate permits a resource in several compartments only when every member permits
 * it (README "Consent rules", 7) — one participant without a research opt-in would hide the
 * whole roster from its own study. The roster itself is not exported; what leaves is each
 * member's data, and that still passes the gate resource by resource.
 */
export class CohortStore extends ForwardingStore {
  private readonly roster: ScopedStore;

  constructor(gated: ResourceStore, unscoped: ResourceStore, principal: Principal, defs: Definitions, baseUrl: string) {
    super(gated);
    const policy = new AccessPolicy(principal, { defs, store: unscoped, baseUrl });
    this.roster = new ScopedStore({ base: unscoped, policy, defs, readAs: ['r', 's'] });
  }

  override readCurrent(resourceType: string, id: string): Promise<StoredVersion | undefined> {
    return resourceType === 'Group' ? this.roster.readCurrent(resourceType, id) : this.base.readCurrent(resourceType, id);
  }
}
