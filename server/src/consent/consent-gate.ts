import type { Resource } from '@medplum/fhirtypes';
import { isServerPrincipal, type Principal } from '../auth/principal.js';
import type { Doc } from '../fhir/search/query-doc.js';
import type { IndexValues, ResourceStore, StoredVersion } from '../store/resource-store.js';
import type { ConsentEngine } from './consent-engine.js';
import type { ConsentRegistry } from './consent-registry.js';
import { computeIndex } from '../fhir/search/index-values.js';
import { indexWithDecisions } from './consent-indexing-store.js';
import { consentClause } from './consent-tokens.js';
import { BREAK_GLASS_LABEL } from '../audit/audit-codes.js';
import { decide, mayReveal, type Decision, type Requester } from './evaluate-consent.js';
import { purposeGroup, type PurposeGroup } from './purpose-groups.js';
import { requesterIdentities } from './requester.js';
import { normaliseReference } from './resource-facts.js';

export interface BreakGlassAccess {
  readonly resourceType: string;
  readonly id: string;
  readonly versionId: string;
  readonly patients: readonly string[];
}

export interface ConsentGateOptions {
  /** Roles that may break the glass with purpose ETREAT (CONSENT_BREAK_GLASS_ROLES). Empty: nobody. */
  readonly breakGlassRoles: readonly string[];
}

/**
 * One request's consent gate: what the request's principal may see, as a query clause the
 * scoped store ANDs into every read (auth/scoped-store.ts), and the break-the-glass record.
 *
 * - The server itself, and a patient reading their own record through `patient/` scopes, are
 *   not limited by consent (a patient's Consents are about others).
 * - Everyone else is decided for the request's purpose of use (the X-Purpose-Of-Use header, or
 *   the token's first purpose) and identities (requester.ts).
 * - Break-the-glass: a principal whose purpose is ETREAT and who holds a role allowed to break
 *   the glass sees what consent would deny; every such resource is marked in the response
 *   (meta.security BTG, the X-Break-The-Glass header) and recorded by the request's AuditEvents (audit/).
 */
export class ConsentGate {
  readonly mode: 'exempt' | 'enforce' | 'break-glass';
  readonly group: PurposeGroup | undefined;
  private clausePromise: Promise<Doc> | undefined;
  private requesterPromise: Promise<Requester> | undefined;
  readonly breakGlassAccesses: BreakGlassAccess[] = [];

  constructor(
    readonly principal: Principal,
    /** The process's consent engine (for operations that explain decisions, `$consent-decision`). */
    readonly engine: ConsentEngine,
    private readonly store: Pick<ResourceStore, 'search'>,
    opts: ConsentGateOptions,
  ) {
    const purpose = principal.purposeOfUse[0];
    this.group = purpose === undefined ? undefined : purposeGroup(purpose);
    if (isServerPrincipal(principal)) this.mode = 'exempt';
    else if (readsOwnRecordOnly(principal)) this.mode = 'exempt';
    else if (this.group === 'emergency' && principal.roles.some((r) => opts.breakGlassRoles.includes(r))) this.mode = 'break-glass';
    else this.mode = 'enforce';
  }

  /** The clause restricting this request's reads, or undefined when consent does not restrict them. */
  async restriction(): Promise<Doc | undefined> {
    if (this.mode !== 'enforce') {
      if (this.mode === 'break-glass') await this.engine.catchUp();
      return undefined;
    }
    return this.clause();
  }

  /** What consent alone permits this principal (for break-the-glass: what it would see without it). */
  clause(): Promise<Doc> {
    this.clausePromise ??= (async () => {
      await this.engine.catchUp();
      // No purpose of use, or one outside PurposeOfUse: nothing (the interaction check refuses earlier).
      if (this.group === undefined) return { id: { $in: [] } };
      // Taken before the identity lookups below, so a change while they run leaves it stale.
      const stamp = { engine: this.engine, registry: this.engine.registry, registryVersion: this.engine.registry.version, directoryVersion: this.engine.directoryVersion };
      const hit = remembered.get(this.principal);
      if (hit && sameStamp(hit, stamp)) return hit.clause;
      const requester = await this.requester();
      const named = [...requester.identities].filter((i) => this.engine.registry.isNamed(i)).sort();
      // One clause object per (purpose group, named identities): requests alike share it, and
      // with it the compiled mingo query the stores cache per clause object.
      const key = `${this.group}\n${named.join('\n')}`;
      let cache = clauses.get(this.engine);
      if (!cache) clauses.set(this.engine, (cache = new Map()));
      let clause = cache.get(key);
      if (!clause) {
        if (cache.size >= 10_000) cache.clear();
        clause = consentClause(this.engine.deps.base, this.group, named);
        cache.set(key, clause);
      }
      remembered.set(this.principal, { ...stamp, clause });
      return clause;
    })();
    return this.clausePromise;
  }

  /**
   * The patients among these whose compartments may hold something this request can see
   * (evaluate-consent.ts `mayReveal`), in their order. A job that reads patient by patient skips
   * the rest: the clause would refuse everything of theirs anyway, and skipping them saves
   * reading their postings only to refuse each resource.
   */
  async patientsWithVisibleData(patients: readonly string[]): Promise<readonly string[]> {
    if (this.mode !== 'enforce') return patients;
    await this.engine.catchUp();
    const group = this.group;
    if (group === undefined) return [];
    const ctx = { consentsOf: this.engine.registry.consentsOf, base: this.engine.deps.base };
    return patients.filter((p) => mayReveal(ctx, p, group));
  }

  requester(): Promise<Requester> {
    this.requesterPromise ??= (async () => ({
      identities: await requesterIdentities(this.store, this.engine, this.principal.who && normaliseReference(this.principal.who, this.engine.deps.baseUrl)),
      group: this.group ?? 'marketing',
    }))();
    return this.requesterPromise;
  }

  /** Every party `who` (a `Type/id`) acts as, for deciding on someone else's behalf (requester.ts). */
  identitiesOf(who: string): Promise<ReadonlySet<string>> {
    return requesterIdentities(this.store, this.engine, normaliseReference(who, this.engine.deps.baseUrl));
  }

  /** Index values of a version not in the search index (history), with its decisions as of now. */
  indexOf(resource: Resource): IndexValues {
    return indexWithDecisions(this.engine, resource);
  }

  /** The full decision for one resource version, with its explanation. */
  async explain(resource: Resource): Promise<Decision> {
    const requester = await this.requester();
    const facts = this.engine.facts(resource, computeIndex(this.engine.deps.defs, resource));
    return decide(this.engine.evaluation(), facts, requester);
  }

  /** Marks versions shown only because the glass was broken, and records them. */
  markBrokenGlass<T extends StoredVersion>(v: T, patients: readonly string[]): T {
    this.breakGlassAccesses.push({ resourceType: v.resourceType, id: v.id, versionId: v.versionId, patients });
    if (!v.resource) return v;
    const meta = v.resource.meta ?? {};
    const resource = { ...v.resource, meta: { ...meta, security: [...(meta.security ?? []), { ...BREAK_GLASS_LABEL }] } } as Resource;
    const copy = { ...v, resource };
    delete (copy as { json?: string }).json;
    return copy;
  }

  patientsOf(resource: Resource): readonly string[] {
    return this.engine.facts(resource, computeIndex(this.engine.deps.defs, resource)).patients;
  }
}

const clauses = new WeakMap<ConsentEngine, Map<string, Doc>>();

/**
 * The clause last built for a principal object, with what it was derived from. Principals are
 * reused while their token is (auth/authenticate.ts), so a client's repeated requests skip the
 * identity lookup and the clause key; any Consent or directory change in this process, or a
 * registry reloaded for another process's change, makes the entry stale. The purpose group is
 * the principal's own, so it needs no check.
 */
interface ClauseStamp {
  readonly engine: ConsentEngine;
  readonly registry: ConsentRegistry;
  readonly registryVersion: number;
  readonly directoryVersion: number;
}
const remembered = new WeakMap<Principal, ClauseStamp & { readonly clause: Doc }>();

function sameStamp(a: ClauseStamp, b: ClauseStamp): boolean {
  return a.engine === b.engine && a.registry === b.registry && a.registryVersion === b.registryVersion && a.directoryVersion === b.directoryVersion;
}

/** A patient token confined to its own compartment, reading as that patient. */
function readsOwnRecordOnly(p: Principal): boolean {
  if (p.launchPatient === undefined || !(p.who === `Patient/${p.launchPatient}` || p.who?.endsWith(`/Patient/${p.launchPatient}`))) return false;
  return p.scopes.length > 0 && p.scopes.every((s) => s.context === 'patient');
}
