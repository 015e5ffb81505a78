import { isDataCategory, type DataCategory } from './data-categories.js';
import { PURPOSE_GROUPS, type PurposeGroup } from './purpose-groups.js';

export type Verdict = 'permit' | 'deny';

/**
 * What applies when none of a patient's Consents decides an access (README "Consent rules",
 * rule 5): a verdict per purpose group, optionally refined per data category. Configured by
 * CONSENT_BASE_POLICY, e.g. `research=deny,marketing=deny,payment:substance-use=deny`.
 * Default: treatment, emergency, payment, operations, patient requests and public health are
 * opt-out (permit unless a Consent denies); research and marketing are opt-in (deny unless a
 * Consent permits).
 */
export interface BasePolicy {
  /** The group's verdict before categories: what stored decisions are recorded against. */
  groupDefault(group: PurposeGroup): Verdict;
  /** A category the group configures `deny` denies; else one it configures `permit` permits; else the default. */
  decide(group: PurposeGroup, categories: ReadonlySet<DataCategory>): Verdict;
  /** Whether `decide` permits the group anything at all (its default, or some category it configures `permit`). */
  mayPermit(group: PurposeGroup): boolean;
  /** Canonical text, part of the consent fingerprint (stored decisions depend on it). */
  readonly canonical: string;
}

export const DEFAULT_BASE_POLICY = 'treatment=permit,emergency=permit,payment=permit,operations=permit,patient-request=permit,public-health=permit,research=deny,marketing=deny';

export function parseBasePolicy(text: string): BasePolicy {
  const groups = new Map<PurposeGroup, Verdict>();
  const refined = new Map<PurposeGroup, Map<DataCategory, Verdict>>();
  for (const raw of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^([a-z-]+)(?::([a-z-]+))?=(permit|deny)$/.exec(raw);
    if (!m) throw new Error(`CONSENT_BASE_POLICY entry '${raw}' is not <group>[:<category>]=permit|deny`);
    const [, g, c, v] = m as unknown as [string, string, string | undefined, Verdict];
    if (!(PURPOSE_GROUPS as readonly string[]).includes(g)) throw new Error(`CONSENT_BASE_POLICY: unknown purpose group '${g}' (known: ${PURPOSE_GROUPS.join(', ')})`);
    const group = g as PurposeGroup;
    if (c === undefined) groups.set(group, v);
    else {
      if (!isDataCategory(c)) throw new Error(`CONSENT_BASE_POLICY: unknown data category '${c}'`);
      let map = refined.get(group);
      if (!map) refined.set(group, (map = new Map()));
      map.set(c, v);
    }
  }
  const defaults = parseDefaults();
  const groupDefault = (g: PurposeGroup): Verdict => groups.get(g) ?? defaults.get(g) ?? 'deny';
  const canonical = PURPOSE_GROUPS.map((g) => {
    const extra = [...(refined.get(g) ?? new Map<DataCategory, Verdict>())].sort(([a], [b]) => a.localeCompare(b)).map(([c, v]) => `${g}:${c}=${v}`);
    return [`${g}=${groupDefault(g)}`, ...extra].join(',');
  }).join(',');
  return Object.freeze({
    groupDefault,
    decide(group: PurposeGroup, categories: ReadonlySet<DataCategory>): Verdict {
      const map = refined.get(group);
      if (map) {
        let permit = false;
        for (const c of categories) {
          const v = map.get(c);
          if (v === 'deny') return 'deny';
          if (v === 'permit') permit = true;
        }
        if (permit) return 'permit';
      }
      return groupDefault(group);
    },
    mayPermit(group: PurposeGroup): boolean {
      if (groupDefault(group) === 'permit') return true;
      for (const v of refined.get(group)?.values() ?? []) if (v === 'permit') return true;
      return false;
    },
    canonical,
  });
}

function parseDefaults(): Map<PurposeGroup, Verdict> {
  const out = new Map<PurposeGroup, Verdict>();
  for (const entry of DEFAULT_BASE_POLICY.split(',')) {
    const [g, v] = entry.split('=') as [PurposeGroup, Verdict];
    out.set(g, v);
  }
  return out;
}
