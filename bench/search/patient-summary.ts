/**
 * What the benchmark remembers about each imported patient, taken from the server's own
 * transaction response (so ids are the ones the server assigned): enough to build queries that
 * are known to match, without asking the server under test.
 */
import type { Resource } from '@medplum/fhirtypes';

export interface PatientSummary {
  /** Index in the generated population. */
  index: number;
  /** Patient id assigned by the server. */
  id: string;
  family: string;
  birthDate: string;
  /** Distinct Observation.code codes of this patient, sorted. */
  observationCodes: string[];
  /** laboratory Observations effective on or after LAB_SINCE. */
  recentLabs: number;
  imagingStudies: number;
}

/** The date the lab query filters on: `date=ge2020-01-01`. */
export const LAB_SINCE = '2020-01-01';

/** Summarises one patient's committed resources (the Patient among them). */
export function summarisePatient(index: number, resources: readonly Resource[]): PatientSummary {
  let patient: Resource | undefined;
  const codes = new Set<string>();
  let recentLabs = 0;
  let imagingStudies = 0;
  for (const r of resources) {
    if (r.resourceType === 'Patient') patient = r;
    else if (r.resourceType === 'ImagingStudy') imagingStudies++;
    else if (r.resourceType === 'Observation') {
      const code = r.code?.coding?.[0]?.code;
      if (code) codes.add(code);
      const lab = r.category?.some((c) => c.coding?.some((x) => x.code === 'laboratory'));
      if (lab && (r.effectiveDateTime ?? '') >= LAB_SINCE) recentLabs++;
    }
  }
  if (patient?.resourceType !== 'Patient' || !patient.id) throw new Error(`patient ${index}: no Patient with an id among the committed resources`);
  return {
    index,
    id: patient.id,
    family: patient.name?.[0]?.family ?? '',
    birthDate: patient.birthDate ?? '',
    observationCodes: [...codes].sort(),
    recentLabs,
    imagingStudies,
  };
}
