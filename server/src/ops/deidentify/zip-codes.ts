/**
 * Safe Harbor's ZIP code rule (45 CFR 164.514(b)(2)(i)(B)): only the first three digits of a
 * ZIP code may stay, and not even those where all ZIP codes sharing them hold 20,000 people or
 * fewer. HHS listed those prefixes from the 2000 Census in the preamble of the August 2002
 * final rule (67 FR 53182); they become 000. A newer census table replaces this list, not code.
 */
export const RESTRICTED_ZIP3: ReadonlySet<string> = new Set([
  '036', '059', '063', '102', '203', '556', '692', '790', '821',
  '823', '830', '831', '878', '879', '884', '890', '893',
]);

const US_COUNTRY = new Set(['US', 'USA', 'UNITED STATES', 'UNITED STATES OF AMERICA']);

/**
 * The postal code a de-identified Address keeps, or undefined to drop it. Only US ZIP codes
 * are generalised; the rule gives no safe prefix length for other countries' postal codes, so
 * those are removed.
 */
export function generaliseZip(postalCode: string, country: string | undefined): string | undefined {
  if (country !== undefined && !US_COUNTRY.has(country.trim().toUpperCase())) return undefined;
  const m = /^\s*(\d{3})\d{2}(?:-?\d{4})?\s*$/.exec(postalCode);
  if (!m) return undefined;
  const prefix = m[1] as string;
  return RESTRICTED_ZIP3.has(prefix) ? '000' : prefix;
}
