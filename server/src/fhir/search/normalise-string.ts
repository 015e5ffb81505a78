/** FHIR string search is case- and accent-insensitive (R4 §3.1.1.4.8): compare normalised forms. */
export function normaliseString(s: string): string {
  return s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}
