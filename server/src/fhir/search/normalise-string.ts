/** FHIR string search is case- and accent-insensitive (R4 search, https://hl7.org/fhir/R4/search.html#string): compare normalised forms. */
export function normaliseString(s: string): string {
  return s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}
