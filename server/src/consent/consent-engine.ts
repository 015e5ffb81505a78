import { createHash } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import { compartmentParamsOf, patientCompartmentClause } from '../auth/compartment.js';
import type { Definitions } from '../fhir/definitions.js';
import { KeyedLock } from '../fhir/keyed-lock.js';
import { computeIndex } from '../fhir/search/index-values.js';
import type { IndexValues, ResourceStore } from '../store/resource-store.js';
import type { BasePolicy } from './base-policy.js';
import { CONSENT_FIELD, consentTokens } from './consent-tokens.js';
import { ConsentRegistry } from './consent-registry.js';
import type { EvaluationContext } from './evaluate-consent.js';
import type { Labeler } from './labeler.js';
import { parseConsent } from './parse-consent.js';
import type { ConsentPolicy } from './consent-policy.js';
import { factsOf, type ResourceFacts } from './resource-facts.js';

/** Bump when consentTokens would store something different for the same inputs. */
export const CONSENT_TOKEN_FORMAT = 1;
export const CONSENT_FINGERPRINT_SETTING = 'consent.fingerprint';
/** Patients whose stored decisions are being recomputed; finished at next start after a crash. */
export const CONSENT_PENDING_SETTING = 'consent.pending';
/** Bumped on every Consent change, so other processes sharing the store reload their registry. */
export const CONSENT_EPOCH_SETTING = 'consent.epoch';

const PAGE = 500;

export interface ConsentEngineDeps {
  readonly defs: Definitions;
  readonly labeler: Labeler;
  readonly base: BasePolicy;
  readonly baseUrl: string;
  readonly clock?: () => number;
  readonly logger?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
}

/**
 * The consent engine of one server process: the registry of Consents, the decisions stored in
 * the index (consent-tokens.ts) and keeping them true — when a Consent changes, when a Consent
 * period starts or ends, after a crash in between, and when the rules or mappings change.
 * The store it keeps is the real one (unscoped); consent-indexing-store.ts routes writes here.
 */
export class ConsentEngine {
  registry = new ConsentRegistry();
  /** Serialises, per patient, computing a resource's decisions with committing them. */
  readonly patientLocks = new KeyedLock();
  private checkedUntil = 0;
  private nextBoundaryAt = Infinity;
  private epoch = '';
  /** Bumped when a CareTeam, Group, PractitionerRole or ResearchStudy changes (requester.ts caches). */
  directoryVersion = 0;

  constructor(
    readonly deps: ConsentEngineDeps,
    private readonly store: ResourceStore,
  ) {}

  now(): number {
    return (this.deps.clock ?? Date.now)();
  }

  get fingerprint(): string {
    return createHash('sha256').update(`custodian/consent/v${CONSENT_TOKEN_FORMAT}\n${this.deps.base.canonical}\n${this.deps.labeler.fingerprint}`).digest('hex');
  }

  evaluation(registry: ConsentRegistry = this.registry, now = this.now()): EvaluationContext {
    return { consentsOf: registry.consentsOf, base: this.deps.base, now };
  }

  facts(resource: Resource, idx: IndexValues): ResourceFacts {
    return factsOf(this.deps, resource, idx);
  }

  tokens(resource: Resource, idx: IndexValues, registry: ConsentRegistry = this.registry, now = this.now()): string[] {
    return consentTokens(this.evaluation(registry, now), this.facts(resource, idx));
  }

  tokensOf(facts: ResourceFacts, registry: ConsentRegistry = this.registry, now = this.now()): string[] {
    return consentTokens(this.evaluation(registry, now), facts);
  }

  /** A Consent as the engine reads it; a stored one that no longer parses denies everything for its patient. */
  policyOf(resource: Resource): ConsentPolicy {
    try {
      return parseConsent(resource as Parameters<typeof parseConsent>[0], this.deps.baseUrl, { isResourceType: (t) => this.deps.defs.isResourceType(t) });
    } catch (err) {
      const patient = /Patient\/([A-Za-z0-9\-.]{1,64})$/.exec((resource as { patient?: { reference?: string } }).patient?.reference ?? '')?.[1] ?? '';
      this.deps.logger?.warn({ consent: resource.id, err: (err as Error).message }, 'stored Consent does not parse: it denies all access to its patient until corrected');
      return {
        id: resource.id as string,
        versionId: resource.meta?.versionId ?? '0',
        patient,
        scope: 'patient-privacy',
        status: 'active',
        root: { path: 'provision', type: 'deny', actors: [], purposes: [], classes: { resourceTypes: [], categories: [], profiles: [] }, codes: [], securityLabels: [], data: [], children: [] },
      };
    }
  }

  /** An incoming Consent, parsed strictly: throws the 422 that refuses it. */
  policyOfIncoming(resource: Resource, id: string): ConsentPolicy {
    const policy = parseConsent({ ...(resource as Parameters<typeof parseConsent>[0]), id }, this.deps.baseUrl, { isResourceType: (t) => this.deps.defs.isResourceType(t) });
    return policy;
  }

  /** Loads every stored Consent, finishes recomputations a crash interrupted, recomputes all when the rules changed. */
  async open(recompute: (store: ResourceStore) => Promise<unknown>): Promise<void> {
    await this.reloadRegistry();
    const pending = await this.readPending();
    if (pending.length > 0) {
      this.deps.logger?.info({ patients: pending.length }, 'finishing consent recomputation interrupted by a stop');
      await this.rematerialize(pending);
    }
    const recorded = await this.store.readSetting(CONSENT_FINGERPRINT_SETTING);
    if (recorded !== this.fingerprint) {
      this.deps.logger?.info({ recorded: recorded ?? null }, 'consent rules or labels changed since decisions were stored: recomputing them');
      await recompute(this.store);
      await this.store.writeSetting(CONSENT_FINGERPRINT_SETTING, this.fingerprint);
    }
    this.checkedUntil = this.now();
    this.nextBoundaryAt = this.registry.nextBoundary(this.checkedUntil)?.at ?? Infinity;
  }

  private async reloadRegistry(): Promise<void> {
    const registry = new ConsentRegistry();
    for await (const doc of this.store.scan('Consent')) {
      if (doc.resource) registry.put(this.policyOf(doc.resource));
    }
    this.registry = registry;
    this.epoch = (await this.store.readSetting(CONSENT_EPOCH_SETTING)) ?? '';
  }

  /**
   * Called before a request reads anything: picks up Consent changes other processes made, and
   * recomputes the decisions of patients a Consent period boundary has passed for, so the very
   * next request after the boundary is decided by the new state.
   */
  async catchUp(): Promise<void> {
    const epoch = (await this.store.readSetting(CONSENT_EPOCH_SETTING)) ?? '';
    if (epoch !== this.epoch) {
      await this.reloadRegistry();
      this.nextBoundaryAt = this.registry.nextBoundary(this.checkedUntil)?.at ?? Infinity;
    }
    const now = this.now();
    if (now < this.nextBoundaryAt) return;
    const due = new Set<string>();
    let from = this.checkedUntil;
    for (let b = this.registry.nextBoundary(from); b && b.at <= now; b = this.registry.nextBoundary(from)) {
      for (const p of b.patients) due.add(p);
      from = b.at;
    }
    this.checkedUntil = now;
    this.nextBoundaryAt = this.registry.nextBoundary(now)?.at ?? Infinity;
    if (due.size > 0) await this.rematerialize([...due]);
  }

  /** Records that the registry changed in this process (after a Consent commit). */
  async consentsChanged(): Promise<void> {
    this.epoch = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
    await this.store.writeSetting(CONSENT_EPOCH_SETTING, this.epoch);
    this.nextBoundaryAt = Math.min(this.nextBoundaryAt, this.registry.nextBoundary(this.checkedUntil)?.at ?? Infinity);
  }

  async markPending(patients: readonly string[]): Promise<void> {
    await this.updatePending(async () => {
      const set = new Set([...(await this.readPending()), ...patients]);
      await this.store.writeSetting(CONSENT_PENDING_SETTING, JSON.stringify([...set].sort()));
    });
  }

  private async clearPending(patients: readonly string[]): Promise<void> {
    await this.updatePending(async () => {
      const done = new Set(patients);
      const left = (await this.readPending()).filter((p) => !done.has(p));
      await this.store.writeSetting(CONSENT_PENDING_SETTING, JSON.stringify(left));
    });
  }

  /**
   * The pending list is one setting read, changed and written back: Consent commits for
   * different patients run concurrently (their locks differ), so its updates are serialised
   * here, or one would overwrite another's and leave patients pending for ever.
   */
  private updatePending(update: () => Promise<void>): Promise<void> {
    const run = this.pendingChain.then(update, update);
    this.pendingChain = run.catch(() => undefined);
    return run;
  }
  private pendingChain: Promise<void> = Promise.resolve();

  private async readPending(): Promise<string[]> {
    const raw = await this.store.readSetting(CONSENT_PENDING_SETTING);
    if (!raw) return [];
    try {
      const v = JSON.parse(raw) as unknown;
      return Array.isArray(v) ? v.filter((p): p is string => typeof p === 'string') : [];
    } catch {
      return [];
    }
  }

  /**
   * Recomputes the stored decisions of every resource in these patients' compartments, under
   * their locks (callers that already hold them pass `locked`), then clears them from pending.
   */
  async rematerialize(patients: readonly string[], locked = false): Promise<number> {
    const run = async (): Promise<number> => {
      let n = 0;
      for (const p of patients) n += await this.rematerializePatient(p);
      await this.clearPending(patients);
      return n;
    };
    return locked ? run() : this.patientLocks.run(patients.map((p) => `patient:${p}`), run);
  }

  private async rematerializePatient(patient: string): Promise<number> {
    const { defs, baseUrl } = this.deps;
    let n = 0;
    for (const type of compartmentTypes(defs)) {
      const filter = patientCompartmentClause(defs, type, patient, baseUrl);
      if (!filter) continue;
      let after: unknown[] | undefined;
      for (;;) {
        const page = await this.store.search({ resourceType: type, filter, limit: PAGE, ...(after ? { after } : {}) });
        const entries: Array<{ id: string; index: IndexValues }> = [];
        const now = this.now();
        for (const m of page.resources) {
          if (!m.resource) continue;
          const index = computeIndex(defs, m.resource);
          index[CONSENT_FIELD] = this.tokens(m.resource, index, this.registry, now);
          entries.push({ id: m.id, index });
        }
        if (entries.length > 0) await this.store.updateIndex(type, entries);
        n += entries.length;
        if (page.resources.length < PAGE) break;
        after = page.resources[page.resources.length - 1]?.sortValues;
      }
    }
    return n;
  }
}

let types: string[] | undefined;
function compartmentTypes(defs: Definitions): string[] {
  types ??= defs.resourceTypes.filter((t) => t === 'Patient' || compartmentParamsOf(t).length > 0);
  return types;
}
