import { Query } from 'mingo';
import type {
  CommitRequest,
  HistoryQuery,
  HistoryResult,
  IndexValues,
  ResourceStore,
  SearchQuery,
  SearchMatch,
  SearchResult,
  StoredDocument,
  StoredVersion,
  WriteOp,
} from '../store/resource-store.js';
import type { Definitions } from '../fhir/definitions.js';
import { FhirError } from '../fhir/outcomes.js';
import { computeIndex } from '../fhir/search/index-values.js';
import type { Doc } from '../fhir/search/query-doc.js';
import type { ConsentGate } from '../consent/consent-gate.js';
import type { AccessTrace } from '../audit/access-trace.js';
import type { Access, AccessPolicy } from './access-policy.js';
import type { Permission } from './scopes.js';

/**
 * The store a request's interactions see (Medplum's `getRepoForLogin` idea): built per request
 * around the real store, it enforces the principal's scopes inside every query, so a handler
 * cannot forget the check and paging, totals, `_include`/`_revinclude`, chains and `_has` see
 * only what the token allows.
 *
 * - Reads (search, readCurrent, readVersion, history) see what `readAs` reaches; the access
 *   clause is AND-ed into search filters before the engine pages, so counts and pages agree.
 * - A resource the scopes do not reach reads exactly as an absent one (undefined → 404): a
 *   client cannot learn whether it exists. Deleted versions count as visible when the version
 *   before the deletion was.
 * - Writes are checked at commit, for every op of a transaction: create needs `c` and the new
 *   content inside the scope; update `u` for both the current and the new content (and `c` as
 *   well when it creates: update-as-create); delete `d` for the current version. A failure
 *   refuses the whole commit with 403.
 */
export interface ScopedStoreDeps {
  readonly base: ResourceStore;
  readonly policy: AccessPolicy;
  readonly defs: Definitions;
  /** The permissions whose reach this request may read (e.g. ['r'] for a read, ['s'] for a search). */
  readonly readAs: readonly Permission[];
  /**
   * The request's consent gate (consent/consent-gate.ts): its clause is AND-ed with the scopes'
   * on every read, so what a patient's Consents deny reads exactly as what the scopes do not
   * reach. Absent only where the caller builds a store without consent on purpose.
   */
  readonly consent?: ConsentGate;
  /** Where the versions this request reads are noted for its AuditEvents (audit/access-trace.ts). */
  readonly trace?: AccessTrace;
}

/** How many versions a restricted history scans before it asks the client to narrow it. */
export const HISTORY_SCAN_LIMIT = 20_000;
const HISTORY_CHUNK = 500;

export class ScopedStore implements ResourceStore {
  readonly engine: ResourceStore['engine'];

  constructor(private readonly deps: ScopedStoreDeps) {
    this.engine = deps.base.engine;
  }

  /** The real store is opened and closed by the composition root, never per request. */
  async init(): Promise<void> {}
  async close(): Promise<void> {}

  async readCurrent(resourceType: string, id: string): Promise<StoredVersion | undefined> {
    return this.shown(await this.readCurrentGated(resourceType, id));
  }

  private async readCurrentGated(resourceType: string, id: string): Promise<StoredVersion | undefined> {
    const fast = await this.readCurrentByConsentField(resourceType, id);
    if (fast !== NOT_APPLICABLE) return fast;
    const access = await this.reach(resourceType);
    if (access.kind === 'all') return this.glass(await this.deps.base.readCurrent(resourceType, id));
    if (access.kind === 'none') return undefined;
    // One engine search answers both "does it exist" and "may this request see it".
    const hit = await this.deps.base.search({ resourceType, filter: and({ id }, access.filter), limit: 1 });
    const found = hit.resources[0];
    if (found) return this.glass(stripMatch(found));
    const v = await this.deps.base.readCurrent(resourceType, id);
    return v?.deleted && (await this.beforeDeletionVisible(v, access.filter)) ? v : undefined;
  }

  async readVersion(resourceType: string, id: string, versionId: string): Promise<StoredVersion | undefined> {
    const access = await this.reach(resourceType);
    if (access.kind === 'all') return this.shown(await this.glass(await this.deps.base.readVersion(resourceType, id, versionId)));
    if (access.kind === 'none') return undefined;
    const v = await this.deps.base.readVersion(resourceType, id, versionId);
    return v && (await this.versionVisible(v, access.filter)) ? this.shown(await this.glass(v)) : undefined;
  }

  async search(query: SearchQuery): Promise<SearchResult> {
    const access = await this.reach(query.resourceType);
    if (access.kind === 'none') return { resources: [], ...(query.total ? { total: 0 } : {}) };
    const result = access.kind === 'all' ? await this.deps.base.search(query) : await this.deps.base.search({ ...query, filter: and(query.filter, access.filter) });
    const page = this.deps.consent?.mode === 'break-glass' && !query.idsOnly ? await this.glassPage(query.resourceType, result) : result;
    if (!query.idsOnly && this.deps.trace) for (const r of page.resources) this.deps.trace.show(r);
    return page;
  }

  /**
   * A read that must tell "consent withholds it" apart from "it is not there" (Claim/$evidence
   * lists withheld evidence; ops/evidence/README rule). Only consent is disclosed: a target that
   * does not exist, is deleted, or lies outside the token's scopes is `unavailable`, the same
   * answer for each, so scopes still never reveal existence. A withheld version is noted for
   * the request's AuditEvents with its deciding Consent, like a denied read-by-id.
   */
  async readForDisclosure(resourceType: string, id: string, versionId?: string): Promise<Disclosure> {
    const scope = await this.deps.policy.access(resourceType, this.deps.readAs);
    if (scope.kind === 'none') return UNAVAILABLE;
    const base = this.deps.base;
    const v = versionId === undefined ? await base.readCurrent(resourceType, id) : await base.readVersion(resourceType, id, versionId);
    if (!v || v.deleted || !v.resource) return UNAVAILABLE;
    // The current version is tested on its stored index values, an older one on recomputed ones (as history does).
    const visible = (filter: Doc): Promise<boolean> => (versionId === undefined ? this.currentVisible(resourceType, id, filter) : this.versionVisible(v, filter));
    if (scope.kind === 'some' && !(await visible(scope.filter))) return UNAVAILABLE;
    const gate = this.deps.consent;
    if (gate?.mode === 'enforce' && !(await visible(await gate.clause()))) {
      this.deps.trace?.withhold(v);
      return { kind: 'withheld', version: v };
    }
    return { kind: 'shown', version: this.shown(await this.glass(v)) as StoredVersion };
  }

  async history(query: HistoryQuery): Promise<HistoryResult> {
    const access = await this.reach(query.resourceType);
    if (access.kind === 'all') return this.shownHistory(await this.glassHistory(await this.deps.base.history(query)));
    if (access.kind === 'none') return { entries: [], total: 0 };
    // The history port cannot filter, so versions are filtered here and paged afterwards;
    // that keeps totals and pages exact, at the cost of a bounded scan.
    const visible: StoredVersion[] = [];
    for (let skip = 0; ; ) {
      const page = await this.deps.base.history({ ...query, skip, limit: HISTORY_CHUNK });
      for (const v of page.entries) if (await this.versionVisible(v, access.filter)) visible.push(v);
      skip += page.entries.length;
      if (page.entries.length < HISTORY_CHUNK || skip >= page.total) break;
      if (skip >= HISTORY_SCAN_LIMIT) {
        const text = `This history has more than ${HISTORY_SCAN_LIMIT} versions to check against the token's scopes; narrow it with _since`;
        throw new FhirError('bad-request', text, '_since', [{ severity: 'error', code: 'too-costly', details: { text } }]);
      }
    }
    const from = query.skip ?? 0;
    return this.shownHistory(await this.glassHistory({ entries: visible.slice(from, from + query.limit), total: visible.length }));
  }

  /** Notes what a read returns for the request's AuditEvents. */
  private shown<T extends StoredVersion>(v: T | undefined): T | undefined {
    if (v && this.deps.trace) this.deps.trace.show(v);
    return v;
  }

  private shownHistory(h: HistoryResult): HistoryResult {
    if (this.deps.trace) for (const v of h.entries) this.deps.trace.show(v);
    return h;
  }

  /**
   * Read-by-id when the scopes reach the whole type and only consent restricts it: the clause
   * is tested on that one document (readCurrentMatching: a few key lookups, on the very version
   * read), with no search, and the stored JSON is sent as is (the common case for backend
   * services and clinicians).
   */
  private async readCurrentByConsentField(resourceType: string, id: string): Promise<StoredVersion | undefined | typeof NOT_APPLICABLE> {
    const gate = this.deps.consent;
    if (!gate || gate.mode !== 'enforce' || !this.deps.base.readCurrentMatching) return NOT_APPLICABLE;
    const access = await this.deps.policy.access(resourceType, this.deps.readAs);
    if (access.kind !== 'all') return NOT_APPLICABLE;
    const clause = await gate.clause();
    const read = await this.deps.base.readCurrentMatching(resourceType, id, clause);
    if (!read) return undefined;
    const v = read.version;
    if (v.deleted) return (await this.beforeDeletionVisible(v, clause)) ? v : undefined;
    if (read.matches) return v;
    this.deps.trace?.withhold(v);
    return undefined;
  }

  /** What this request may read of a type: the scopes' reach narrowed by the consent gate. */
  private async reach(type: string): Promise<Access> {
    const access = await this.deps.policy.access(type, this.deps.readAs);
    if (access.kind === 'none' || !this.deps.consent) return access;
    const clause = await this.deps.consent.restriction();
    if (!clause) return access;
    return { kind: 'some', filter: access.kind === 'all' ? clause : and(access.filter, clause) };
  }

  /** Break-the-glass: a version consent alone would deny is marked and recorded. */
  private async glass<T extends StoredVersion>(v: T | undefined): Promise<T | undefined> {
    const gate = this.deps.consent;
    // The mode first: `resource` parses the stored JSON on first access, which a read that
    // sends the stored JSON as is never needs.
    if (gate?.mode !== 'break-glass' || !v || v.deleted || !v.resource) return v;
    const clause = await gate.clause();
    if (matches(clause, testDocument(v.resourceType, v.id, v.versionId, v.lastUpdated, gate.indexOf(v.resource)))) return v;
    return gate.markBrokenGlass(v, gate.patientsOf(v.resource));
  }

  private async glassPage(resourceType: string, result: SearchResult): Promise<SearchResult> {
    const gate = this.deps.consent as ConsentGate;
    const ids = result.resources.map((r) => r.id);
    if (ids.length === 0) return result;
    const clause = await gate.clause();
    const allowed = await this.deps.base.search({ resourceType, filter: and({ id: { $in: ids } }, clause), limit: ids.length, idsOnly: true });
    const ok = new Set(allowed.resources.map((r) => r.id));
    const resources = result.resources.map((r) => (ok.has(r.id) || !r.resource ? r : gate.markBrokenGlass(r, gate.patientsOf(r.resource))));
    return { ...result, resources };
  }

  private async glassHistory(result: HistoryResult): Promise<HistoryResult> {
    if (this.deps.consent?.mode !== 'break-glass') return result;
    const entries: StoredVersion[] = [];
    for (const v of result.entries) entries.push((await this.glass(v)) as StoredVersion);
    return { ...result, entries };
  }

  async commit(req: CommitRequest): Promise<StoredVersion[]> {
    for (const op of req.ops) await this.checkWrite(op, req.now);
    const versions = await this.deps.base.commit(req);
    if (this.deps.trace) for (const v of versions) if (v.versionId !== '0') this.deps.trace.wrote(v);
    return versions;
  }

  async *scan(resourceType: string): AsyncIterable<StoredDocument> {
    const access = await this.reach(resourceType);
    if (access.kind === 'none') return;
    for await (const doc of this.deps.base.scan(resourceType)) {
      if (access.kind === 'all' || matches(access.filter, doc)) yield doc;
    }
  }

  async updateIndex(): Promise<void> {
    throw new FhirError('forbidden', 'Only the server itself reindexes');
  }

  readSetting(key: string): Promise<string | undefined> {
    return this.deps.base.readSetting(key);
  }

  async writeSetting(): Promise<void> {
    throw new FhirError('forbidden', 'Only the server itself changes store settings');
  }

  private async checkWrite(op: WriteOp, now: string): Promise<void> {
    if (op.kind === 'create') {
      await this.checkContent(op, 'c', now);
      return;
    }
    const current = await this.deps.base.readCurrent(op.resourceType, op.id);
    const exists = current !== undefined && !current.deleted;
    if (op.kind === 'update') {
      await this.checkContent(op, 'u', now);
      // An update that brings a resource into being (update-as-create) creates it.
      if (!exists) await this.checkContent(op, 'c', now);
    }
    if (!exists) return;
    const permission: Permission = op.kind === 'update' ? 'u' : 'd';
    const access = await this.deps.policy.access(op.resourceType, [permission]);
    if (access.kind === 'all') return;
    if (access.kind === 'none' || !(await this.currentVisible(op.resourceType, op.id, access.filter))) {
      throw new FhirError('forbidden', `The access token's scopes do not allow ${op.kind} on ${op.resourceType}/${op.id}`);
    }
  }

  /** The content an op writes must lie inside what `permission` reaches. */
  private async checkContent(op: WriteOp, permission: Permission, now: string): Promise<void> {
    const verb = permission === 'c' ? 'create' : permission === 'u' ? 'update' : 'delete';
    const { policy } = this.deps;
    const access = policy.grants(op.resourceType, permission) ? await policy.access(op.resourceType, [permission]) : undefined;
    if (access === undefined || access.kind === 'none') {
      throw new FhirError('forbidden', `The access token's scopes do not allow ${verb} on ${op.resourceType}`);
    }
    if (access.kind === 'all') return;
    if (!matches(access.filter, testDocument(op.resourceType, op.id, '0', now, op.index ?? {}))) {
      throw new FhirError('forbidden', `${op.resourceType}/${op.id} would be outside what the access token's scopes allow to ${verb}`);
    }
  }

  /** The current version as the engine indexed it, tested with the engine itself. */
  private async currentVisible(resourceType: string, id: string, filter: Doc): Promise<boolean> {
    const r = await this.deps.base.search({ resourceType, filter: and({ id }, filter), limit: 1, idsOnly: true });
    return r.resources.length > 0;
  }

  /** Older versions are not in the search index: their index values are computed to test them. */
  private async versionVisible(v: StoredVersion, filter: Doc): Promise<boolean> {
    if (v.deleted) return this.beforeDeletionVisible(v, filter);
    if (!v.resource) return false;
    const idx = this.deps.consent ? this.deps.consent.indexOf(v.resource) : computeIndex(this.deps.defs, v.resource);
    return matches(filter, testDocument(v.resourceType, v.id, v.versionId, v.lastUpdated, idx));
  }

  private async beforeDeletionVisible(tombstone: StoredVersion, filter: Doc): Promise<boolean> {
    const n = Number.parseInt(tombstone.versionId, 10);
    if (!(n > 1)) return false;
    const before = await this.deps.base.readVersion(tombstone.resourceType, tombstone.id, String(n - 1));
    return before !== undefined && !before.deleted && (await this.versionVisible(before, filter));
  }
}

/** A search hit as a plain version (the keyset fields are the search's business). */
function stripMatch(m: SearchMatch): StoredVersion {
  const { sortValues: _s, index: _i, ...v } = m;
  return v;
}

function and(a: Doc, b: Doc): Doc {
  if (Object.keys(a).length === 0) return b;
  return { $and: [a, b] };
}

/** The fields access clauses are written against (id, lastUpdatedMs, idx.*). */
function testDocument(resourceType: string, id: string, versionId: string, lastUpdated: string, idx: IndexValues): Omit<StoredDocument, 'resource'> {
  return { resourceType, id, versionId, lastUpdated, lastUpdatedMs: Date.parse(lastUpdated), deleted: false, idx };
}

const NOT_APPLICABLE = Symbol('not applicable');

/** What `readForDisclosure` found: shown (read like any read), withheld by consent, or unavailable (absent, deleted or out of scope, not told apart). */
export type Disclosure = { readonly kind: 'shown'; readonly version: StoredVersion } | { readonly kind: 'withheld'; readonly version: StoredVersion } | { readonly kind: 'unavailable' };
const UNAVAILABLE: Disclosure = Object.freeze({ kind: 'unavailable' });

const queries = new WeakMap<Doc, Query>();

/** Evaluates an access clause with mingo, the same evaluator the embedded engine uses. */
function matches(filter: Doc, doc: Omit<StoredDocument, 'resource'>): boolean {
  let q = queries.get(filter);
  if (!q) {
    q = new Query(filter);
    queries.set(filter, q);
  }
  return q.test(doc as unknown as Record<string, unknown>);
}
