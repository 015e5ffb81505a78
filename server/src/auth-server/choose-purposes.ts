/**
 * Purpose of use at issuance (IHE IUA `purpose_of_use`, HL7 v3 PurposeOfUse codes, see
 * server/src/auth/purpose-of-use.ts): a token may carry only purposes its client is
 * registered for.
 */

/**
 * The purposes a token will carry: those requested (space-separated, like `scope`), each of
 * which must be registered for the client; nothing requested → the client's default (its
 * first registered purpose). Returns undefined when a requested purpose is not allowed.
 */
export function choosePurposes(registered: readonly string[], requested: string | undefined): string[] | undefined {
  const asked = (requested ?? '').split(' ').filter((p) => p !== '');
  if (asked.length === 0) return registered.length > 0 ? [registered[0]!] : [];
  if (!asked.every((p) => registered.includes(p))) return undefined;
  return [...new Set(asked)];
}
