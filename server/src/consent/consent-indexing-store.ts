import type { Resource } from '@medplum/fhirtypes';
import { ForwardingStore } from '../store/forwarding-store.js';
import type { CommitRequest, IndexValues, ResourceStore, StoredVersion, WriteOp } from '../store/resource-store.js';
import { computeIndex } from '../fhir/search/index-values.js';
import type { ConsentEngine } from './consent-engine.js';
import type { ConsentPolicy } from './consent-policy.js';
import { CONSENT_FIELD } from './consent-tokens.js';
import { extended } from '../fhir/extended.js';

/** Types whose changes alter who a requester is (requester.ts), not any stored decision. */
const DIRECTORY_TYPES: ReadonlySet<string> = new Set(['CareTeam', 'Group', 'PractitionerRole', 'ResearchStudy']);

/**
 * The real store as every other part of the server sees it: it keeps each resource's consent
 * decisions (consent-tokens.ts) true on every write.
 *
 * - Each written version gets its decisions computed from its patients' Consents as they will
 *   be after the commit (a transaction that writes a Consent and data for the same patient
 *   decides the data by the new Consent).
 * - A Consent is parsed before anything is written (422 for one the engine cannot enforce).
 *   When Consents change, the decisions of every resource of the patients concerned are
 *   recomputed before commit() returns, so the next request is decided by the new Consents. The
 *   patients are recorded as pending first: a crash in between is finished at the next start.
 * - Per-patient locks keep a concurrent write from storing decisions computed from a Consent
 *   state that a simultaneous Consent commit is replacing (within this process).
 * - updateIndex (reindex, relabel) fills in decisions an entry lacks.
 */
export class ConsentIndexingStore extends ForwardingStore {
  constructor(
    base: ResourceStore,
    private readonly consent: ConsentEngine,
  ) {
    super(base);
  }

  override async commit(req: CommitRequest): Promise<StoredVersion[]> {
    const changes: Array<{ id: string; policy?: ConsentPolicy }> = [];
    const touched = new Set<string>();
    for (const op of req.ops) {
      if (op.resourceType !== 'Consent') continue;
      const before = this.consent.registry.get(op.id);
      if (before) touched.add(before.patient);
      if (op.kind === 'delete') changes.push({ id: op.id });
      else {
        // Parsing throws the 422 for a Consent the engine cannot enforce, before any write.
        const policy = this.consent.policyOfIncoming(op.resource as Resource, op.id);
        changes.push({ id: op.id, policy });
        touched.add(policy.patient);
      }
    }
    const registry = changes.length > 0 ? this.consent.registry.overlay(changes) : this.consent.registry;
    const patients = new Set(touched);
    const now = this.consent.now();
    const facts = req.ops.map((op) => (op.resource && op.kind !== 'delete' ? this.consent.facts(op.resource, op.index ?? {}) : undefined));
    for (const f of facts) for (const pid of f?.patients ?? []) patients.add(pid);
    return this.consent.patientLocks.run([...patients].map((p) => `patient:${p}`), async () => {
      const ops = req.ops.map((op, i): WriteOp => {
        const f = facts[i];
        if (!f) return op;
        return extended(op, { index: extended(op.index, { [CONSENT_FIELD]: this.consent.tokensOf(f, registry, now) }) });
      });
      if (changes.length > 0) await this.consent.markPending([...touched]);
      const versions = await this.base.commit({ ...req, ops });
      if (req.ops.some((op) => DIRECTORY_TYPES.has(op.resourceType))) this.consent.directoryVersion++;
      if (changes.length > 0) {
        // The registry follows what was committed (versionIds are the store's).
        for (const v of versions) {
          if (v.resourceType !== 'Consent') continue;
          if (v.deleted || !v.resource) this.consent.registry.remove(v.id);
          else this.consent.registry.put(this.consent.policyOf(v.resource));
        }
        await this.consent.rematerialize([...touched], true);
        await this.consent.consentsChanged();
      }
      return versions;
    });
  }

  override async updateIndex(resourceType: string, entries: Array<{ id: string; index: IndexValues; resource?: Resource }>): Promise<void> {
    const now = this.consent.now();
    const filled = [];
    for (const e of entries) {
      if (e.index[CONSENT_FIELD] !== undefined) {
        filled.push(e);
        continue;
      }
      const resource = e.resource ?? (await this.base.readCurrent(resourceType, e.id))?.resource;
      if (!resource) continue;
      filled.push({ ...e, index: { ...e.index, [CONSENT_FIELD]: this.consent.tokens(resource, e.index, this.consent.registry, now) } });
    }
    await this.base.updateIndex(resourceType, filled);
  }
}

/** The index a historical version would have, with its decisions as of now (for vread/history). */
export function indexWithDecisions(consent: ConsentEngine, resource: Resource): IndexValues {
  const index = computeIndex(consent.deps.defs, resource);
  index[CONSENT_FIELD] = consent.tokens(resource, index);
  return index;
}
