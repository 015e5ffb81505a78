/**
 * The read-by-id part's store: an embedded store (the directory a server opens as DATA_DIR)
 * seeded in process through the server's own FHIR core, as `npm run seed` does — the server
 * acting as itself, so the seed is not audited but every version becomes a Merkle log leaf.
 * `openDependencies` on the empty directory is exactly a first start (conformance resources,
 * fingerprints, the ledger's log and keys), so a server started on a copy has nothing to redo.
 *
 * One transaction Bundle per patient: the Patient of bench/seed.ts (`seedPatient(i)`) and
 * `observationsPerPatient` laboratory Observations referring to it.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Bundle, BundleEntry, Observation } from '@medplum/fhirtypes';
import { pino } from 'pino';
import { loadConfig } from '../../server/src/config/config.js';
import { openDependencies } from '../../server/src/dependencies.js';
import { seedPatient } from '../seed.js';

/** The base URL the store is written with (the servers are started with their own). */
export const BUILD_BASE_URL = 'http://localhost:8080/fhir';

const LABS = [
  { code: '2339-0', display: 'Glucose [Mass/volume] in Blood', unit: 'mg/dL', base: 90, spread: 40 },
  { code: '718-7', display: 'Hemoglobin [Mass/volume] in Blood', unit: 'g/dL', base: 12, spread: 5 },
  { code: '2160-0', display: 'Creatinine [Mass/volume] in Serum or Plasma', unit: 'mg/dL', base: 0.7, spread: 0.6 },
  { code: '2093-3', display: 'Cholesterol [Mass/volume] in Serum or Plasma', unit: 'mg/dL', base: 150, spread: 90 },
] as const;

function observation(patientUrn: string, i: number, j: number): Observation {
  const lab = LABS[(i + j) % LABS.length] as (typeof LABS)[number];
  const value = Math.round((lab.base + (((i * 37 + j * 101) % 100) / 100) * lab.spread) * 10) / 10;
  const day = String(1 + ((i + j * 7) % 28)).padStart(2, '0');
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory', display: 'Laboratory' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: lab.code, display: lab.display }], text: lab.display },
    subject: { reference: patientUrn },
    effectiveDateTime: `2025-0${1 + (j % 9)}-${day}T09:30:00Z`,
    issued: `2025-0${1 + (j % 9)}-${day}T11:00:00Z`,
    valueQuantity: { value, unit: lab.unit, system: 'http://unitsofmeasure.org', code: lab.unit },
  };
}

export interface ReadStore {
  patients: number;
  observationsPerPatient: number;
  resources: number;
  observationIds: string[];
  seconds: number;
  resourcesPerSecond: number;
}

export async function buildReadStore(opts: { dataDir: string; patients: number; observationsPerPatient: number; log: (msg: string) => void }): Promise<ReadStore> {
  const config = loadConfig({ DATA_DIR: opts.dataDir, LOG_LEVEL: 'silent', BASE_URL: BUILD_BASE_URL, SEED_ON_FIRST_START: 'false' });
  const deps = await openDependencies(config, pino({ level: 'silent' }));
  const observationIds: string[] = [];
  const t0 = performance.now();
  try {
    let next = 0;
    // A few bundles in flight, so their commits share fsyncs.
    const worker = async (): Promise<void> => {
      while (next < opts.patients) {
        const i = next++;
        const urn = `urn:uuid:${randomUUID()}`;
        const entry: BundleEntry[] = [{ fullUrl: urn, resource: seedPatient(i) as unknown as BundleEntry['resource'], request: { method: 'POST', url: 'Patient' } }];
        for (let j = 0; j < opts.observationsPerPatient; j++) entry.push({ fullUrl: `urn:uuid:${randomUUID()}`, resource: observation(urn, i, j), request: { method: 'POST', url: 'Observation' } });
        const bundle: Bundle = { resourceType: 'Bundle', type: 'transaction', entry };
        const res = await deps.fhir.handle({ method: 'POST', path: '', query: {}, body: bundle, headers: { 'content-type': 'application/fhir+json' }, baseUrl: BUILD_BASE_URL });
        const body = (res.body ?? (res.json !== undefined ? JSON.parse(res.json) : undefined)) as Bundle | undefined;
        if (res.status < 200 || res.status >= 300) throw new Error(`seeding patient ${i}: transaction answered ${res.status}: ${JSON.stringify(body).slice(0, 500)}`);
        for (const e of body?.entry ?? []) {
          const m = /(?:^|\/)Observation\/([^/]+)\/_history\//.exec(e.response?.location ?? '');
          if (m) observationIds.push(m[1] as string);
        }
        if ((i + 1) % 250 === 0) opts.log(`  ${i + 1} / ${opts.patients} patients`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, opts.patients) }, worker));
  } finally {
    await deps.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  const resources = opts.patients * (1 + opts.observationsPerPatient);
  if (observationIds.length !== opts.patients * opts.observationsPerPatient) {
    throw new Error(`seeding: ${observationIds.length} Observation ids in the transaction responses, expected ${opts.patients * opts.observationsPerPatient}`);
  }
  return { patients: opts.patients, observationsPerPatient: opts.observationsPerPatient, resources, observationIds: observationIds.sort(), seconds, resourcesPerSecond: resources / seconds };
}
