import type { ResourceStore } from '../store/resource-store.js';
import type { ConsentEngine } from './consent-engine.js';

/**
 * Who a requester is, for Consent actor matching (README "Consent rules", rule 6): the token's
 * `fhirUser` and every party it acts as through the directory —
 *   Practitioner → its PractitionerRoles and their Organizations;
 *   any of those → the CareTeams listing it as a participant (status active) and the Groups
 *   listing it as a member (actual, not inactive);
 *   any Organization or the person → the ResearchStudies it sponsors or leads.
 * Lookups run only for resource types some Consent names, and are cached per `fhirUser` until
 * a directory resource changes in this process.
 */
export async function requesterIdentities(store: Pick<ResourceStore, 'search'>, consent: ConsentEngine, who: string | undefined): Promise<ReadonlySet<string>> {
  if (!who) return new Set();
  let cache = caches.get(consent);
  if (!cache) caches.set(consent, (cache = new Map()));
  const key = `${who}@${consent.directoryVersion}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const ids = new Set<string>([who]);
  const reg = consent.registry;
  const refs = (): string[] => [...ids];
  if (who.startsWith('Practitioner/') && (reg.namesType('PractitionerRole') || reg.namesType('Organization') || reg.namesType('CareTeam') || reg.namesType('Group') || reg.namesType('ResearchStudy'))) {
    const roles = await store.search({ resourceType: 'PractitionerRole', filter: { 'idx.practitioner': who }, limit: 100, indexFields: ['organization'] });
    for (const r of roles.resources) {
      ids.add(`PractitionerRole/${r.id}`);
      for (const o of (r.index?.organization as unknown[] | undefined) ?? []) if (typeof o === 'string' && o.startsWith('Organization/')) ids.add(o);
    }
  }
  if (reg.namesType('CareTeam')) {
    const teams = await store.search({ resourceType: 'CareTeam', filter: { 'idx.participant': { $in: refs() } }, limit: 1000, indexFields: ['status'] });
    for (const t of teams.resources) if (statusCode(t.index?.status) === 'active') ids.add(`CareTeam/${t.id}`);
  }
  if (reg.namesType('Group')) {
    const groups = await store.search({ resourceType: 'Group', filter: { 'idx.member': { $in: refs() } }, limit: 1000 });
    for (const g of groups.resources) ids.add(`Group/${g.id}`);
  }
  if (reg.namesType('ResearchStudy')) {
    const studies = await store.search({
      resourceType: 'ResearchStudy',
      filter: { $or: [{ 'idx.sponsor': { $in: refs() } }, { 'idx.principalinvestigator': { $in: refs() } }] },
      limit: 1000,
    });
    for (const s of studies.resources) ids.add(`ResearchStudy/${s.id}`);
  }
  const frozen: ReadonlySet<string> = ids;
  if (cache.size >= 5000) cache.clear();
  cache.set(key, frozen);
  return frozen;
}

const caches = new WeakMap<ConsentEngine, Map<string, ReadonlySet<string>>>();

function statusCode(v: unknown): string | undefined {
  const first = Array.isArray(v) ? (v[0] as { c?: unknown } | undefined) : undefined;
  return typeof first?.c === 'string' ? first.c : undefined;
}
