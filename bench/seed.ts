import type { CapturedResponse } from './servers/raw-limit.js';

const GIVEN = ['Ada', 'Grace', 'Alan', 'Barbara', 'Edsger', 'Frances', 'Donald', 'Radia', 'Ken', 'Margaret'];
const FAMILY = ['Lovelace', 'Hopper', 'Turing', 'Liskov', 'Dijkstra', 'Allen', 'Knuth', 'Perlman', 'Thompson', 'Hamilton'];

/** The i-th seeded Patient: the same for every server. */
export function seedPatient(i: number): Record<string, unknown> {
  return {
    resourceType: 'Patient',
    identifier: [{ system: 'urn:custodian:bench', value: `bench-${i}` }],
    active: true,
    name: [{ use: 'official', family: FAMILY[i % FAMILY.length], given: [GIVEN[(i * 7) % GIVEN.length]] }],
    telecom: [{ system: 'phone', value: `+44 20 7946 ${String(i % 10000).padStart(4, '0')}`, use: 'home' }],
    gender: i % 2 === 0 ? 'female' : 'male',
    birthDate: `19${String(40 + (i % 60)).padStart(2, '0')}-${String(1 + (i % 12)).padStart(2, '0')}-${String(1 + (i % 28)).padStart(2, '0')}`,
    address: [{ line: [`${1 + (i % 200)} Bench Street`], city: 'London', postalCode: `N${i % 20} ${i % 9}AB`, country: 'GB' }],
  };
}

/** The body every create in the load test POSTs: a small valid Patient. */
export const CREATE_BODY = JSON.stringify({
  resourceType: 'Patient',
  name: [{ family: 'Load', given: ['Bench'] }],
  gender: 'unknown',
  birthDate: '1970-01-01',
});

const HEADERS = { accept: 'application/fhir+json', 'content-type': 'application/fhir+json' };

/**
 * POSTs `count` Patients (a few in flight at a time) and returns their ids in order.
 * `headers` go with every request (Custodian's bearer token).
 */
export async function seedPatients(baseUrl: string, count: number, headers: Readonly<Record<string, string>> = {}, inFlight = 8): Promise<string[]> {
  const ids: string[] = new Array<string>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const res = await fetch(`${baseUrl}/Patient`, { method: 'POST', headers: { ...HEADERS, ...headers }, body: JSON.stringify(seedPatient(i)) });
      const text = await res.text();
      if (res.status !== 201) throw new Error(`seeding ${baseUrl}: POST Patient #${i} answered ${res.status}: ${text.slice(0, 300)}`);
      const id = (JSON.parse(text) as { id?: unknown }).id;
      if (typeof id !== 'string' || id === '') throw new Error(`seeding ${baseUrl}: POST Patient #${i} returned no id: ${text.slice(0, 300)}`);
      ids[i] = id;
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
  return ids;
}

const KEEP_HEADERS = ['content-type', 'etag', 'last-modified', 'location'];

/** Performs one request and keeps what the raw limit needs to replay it byte for byte. */
export async function capture(url: string, init?: RequestInit): Promise<CapturedResponse> {
  const res = await fetch(url, { ...init, headers: { ...HEADERS, ...(init?.headers as Record<string, string> | undefined) } });
  const body = await res.text();
  const headers: Record<string, string> = {};
  for (const name of KEEP_HEADERS) {
    const v = res.headers.get(name);
    if (v !== null) headers[name] = v;
  }
  return { status: res.status, headers, body };
}
