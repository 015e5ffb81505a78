import type { HumanName, Identifier, Patient } from '@medplum/fhirtypes';
import type { Definitions } from '../fhir/definitions.js';
import { compileSearch } from '../fhir/search/compile-search.js';
import { parseSearchQuery } from '../fhir/search/parse-search-query.js';
import type { ResourceStore } from '../store/resource-store.js';

/** What the login and approval pages show about a patient. */
export interface PatientSummary {
  readonly id: string;
  readonly name: string;
  readonly birthDate?: string;
  readonly identifier?: string;
}

/**
 * The patients the authorization server can put in a launch context: the clinician's patient
 * picker lists them and a patient user is resolved to theirs. A port, so the pages and tests
 * do not need a FHIR store.
 */
export interface PatientDirectory {
  list(limit: number): Promise<PatientSummary[]>;
  get(id: string): Promise<PatientSummary | undefined>;
  /** By `system|value` identifier; undefined when no Patient or several carry it. */
  findByIdentifier(identifier: string): Promise<PatientSummary | undefined>;
}

/**
 * The directory over the server's own store. It reads the store directly, as an EHR's
 * patient picker would: it serves the signed-in user's choice of launch context, and the
 * resulting token is then confined by the FHIR gate like any other.
 */
export function storePatientDirectory(store: Pick<ResourceStore, 'search' | 'readCurrent'>, defs: Definitions): PatientDirectory {
  const search = async (query: Record<string, string>, limit: number): Promise<PatientSummary[]> => {
    const compiled = await compileSearch(defs, parseSearchQuery('Patient', query), { strict: true, store });
    const result = await store.search({ resourceType: 'Patient', filter: compiled.filter, sort: compiled.sort, limit });
    return result.resources.flatMap((m) => (m.resource ? [summarise(m.resource as Patient)] : []));
  };
  return {
    list: async (limit) => (await search({}, limit)).sort((a, b) => a.name.localeCompare(b.name)),
    get: async (id) => {
      if (!/^[A-Za-z0-9.-]{1,64}$/.test(id)) return undefined;
      const current = await store.readCurrent('Patient', id);
      return current && !current.deleted && current.resource ? summarise(current.resource as Patient) : undefined;
    },
    findByIdentifier: async (identifier) => {
      const found = await search({ identifier }, 2);
      return found.length === 1 ? found[0] : undefined;
    },
  };
}

export function summarise(p: Patient): PatientSummary {
  const id = p.id ?? '';
  const mrn = p.identifier?.find((i: Identifier) => i.value !== undefined);
  return {
    id,
    name: displayName(p.name) ?? `Patient/${id}`,
    ...(p.birthDate !== undefined ? { birthDate: p.birthDate } : {}),
    ...(mrn?.value !== undefined ? { identifier: mrn.value } : {}),
  };
}

function displayName(names: HumanName[] | undefined): string | undefined {
  const n = names?.find((x) => x.use === 'official') ?? names?.[0];
  if (!n) return undefined;
  if (n.text) return n.text;
  const text = [...(n.given ?? []), n.family ?? ''].join(' ').trim();
  return text === '' ? undefined : text;
}
