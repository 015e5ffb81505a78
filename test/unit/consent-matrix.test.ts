import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Consent, ConsentProvision, Period, Resource } from '@medplum/fhirtypes';
import { Query } from 'mingo';
import { DEFAULT_BASE_POLICY, parseBasePolicy, type Verdict } from '../../server/src/consent/base-policy.js';
import { ConsentRegistry } from '../../server/src/consent/consent-registry.js';
import { consentClause, consentTokens } from '../../server/src/consent/consent-tokens.js';
import { CATEGORY_SYSTEM, type DataCategory } from '../../server/src/consent/data-categories.js';
import { decide, type Decision } from '../../server/src/consent/evaluate-consent.js';
import { loadLabeler } from '../../server/src/consent/load-labeler.js';
import { ACT_REASON_SYSTEM, CONSENT_SCOPE_SYSTEM, parseConsent } from '../../server/src/consent/parse-consent.js';
import { purposeGroup } from '../../server/src/consent/purpose-groups.js';
import { factsOf, type ResourceFacts } from '../../server/src/consent/resource-facts.js';
import { loadDefinitions } from '../../server/src/fhir/definitions.js';
import { computeIndex } from '../../server/src/fhir/search/index-values.js';

/**
 * The consent decision matrix (issue 5 §8; README "Consent rules"): data category × purpose of
 * use × requester × consent state → permit or deny. Each decision is made by `decide` (the
 * reference evaluator) on facts built from a real resource by the real labeler (fhir-profiles/),
 * against a ConsentRegistry of Consents that went through parseConsent; every row also checks
 * that the decision compiled into the index (consentTokens) and the query clause
 * (consentClause) selects the resource exactly when `decide` permits it.
 *
 * The Consents of patient p1 (NOW is 2025-06-15T12:00:00Z):
 *
 *   c-sensitive (patient-privacy)  deny mental-health, HIV and genetic data to everyone …
 *                                    permit: CareTeam/ct-1 (any purpose)
 *                                    permit: Organization/org-insurer, purpose HPAYMT, mental-health only
 *   c-employer  (patient-privacy)  deny Organization/org-employer laboratory data
 *   c-research  (research)         permit ResearchStudy/rs-1 for HRESCH …
 *                                    deny: genetic data
 *
 * States: none (no Consent); active (c-sensitive + c-employer, period started a month ago);
 * research-only (c-research alone); active+research (all three); revoked (all three, status
 * inactive); expired (period ended yesterday); not-yet-valid (period starts tomorrow).
 *
 * Requesters, by the identities they act as (requester.ts):
 *   employer   Organization/org-employer
 *   insurer    Organization/org-insurer
 *   study      Organization/org-research + ResearchStudy/rs-1 (it sponsors the study)
 *   clinician  Practitioner/pr-1 + PractitionerRole/role-1 + Organization/org-hospital + CareTeam/ct-1
 *   stranger   no identity at all
 */

const PROFILES = resolve(fileURLToPath(new URL('../../fhir-profiles', import.meta.url)));
const BASE_URL = 'https://custodian.test/fhir';
const defs = loadDefinitions(PROFILES);
const labeler = loadLabeler(PROFILES);
const base = parseBasePolicy(DEFAULT_BASE_POLICY);
const NOW = Date.parse('2025-06-15T12:00:00.000Z');
const DAY = 86_400_000;
const iso = (ms: number): string => new Date(ms).toISOString();

const LOINC = 'http://loinc.org';
const OBS_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

// ---- the resources, one per category row ---------------------------------------------------

function observation(id: string, code: string, category: string, extra: Record<string, unknown> = {}): Resource {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    category: [{ coding: [{ system: OBS_CATEGORY, code: category }] }],
    code: { coding: [{ system: LOINC, code }] },
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: '2025-03-01T09:00:00Z',
    ...extra,
  } as Resource;
}

const CATEGORY_ROWS = ['demographics', 'vital-signs', 'laboratory', 'mental-health', 'hiv', 'genetic', 'encounters', 'financial'] as const;
type CategoryRow = (typeof CATEGORY_ROWS)[number];

/** Each row's resource and the categories the labeler must give it. */
const RESOURCES: Readonly<Record<CategoryRow, { resource: Resource; categories: DataCategory[] }>> = {
  demographics: { resource: { resourceType: 'Patient', id: 'p1', name: [{ family: 'One' }], birthDate: '1980-01-01' } as Resource, categories: ['demographics'] },
  'vital-signs': { resource: observation('hr', '8867-4', 'vital-signs'), categories: ['vital-signs'] },
  laboratory: { resource: observation('glucose', '2339-0', 'laboratory'), categories: ['laboratory'] },
  'mental-health': { resource: observation('phq9', '44261-6', 'survey', { valueInteger: 14 }), categories: ['mental-health'] },
  hiv: { resource: observation('hiv', '75622-1', 'laboratory'), categories: ['hiv-and-infectious-disease', 'laboratory'] },
  genetic: {
    resource: {
      resourceType: 'DiagnosticReport',
      id: 'genetic',
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'GE' }] }],
      code: { coding: [{ system: LOINC, code: '51969-4' }] },
      subject: { reference: 'Patient/p1' },
      effectiveDateTime: '2025-02-01',
    } as Resource,
    categories: ['genetic'],
  },
  encounters: {
    resource: {
      resourceType: 'Encounter',
      id: 'visit',
      status: 'finished',
      class: { code: 'AMB' },
      subject: { reference: 'Patient/p1' },
      period: { start: '2025-03-01T09:00:00Z', end: '2025-03-01T09:30:00Z' },
      reasonCode: [{ coding: [{ system: 'http://snomed.info/sct', code: '185349003' }] }],
    } as Resource,
    categories: ['encounters'],
  },
  financial: {
    resource: {
      resourceType: 'Claim',
      id: 'claim',
      status: 'active',
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'professional' }] },
      use: 'claim',
      patient: { reference: 'Patient/p1' },
      created: '2025-03-02',
      provider: { reference: 'Organization/org-hospital' },
      priority: { coding: [{ code: 'normal' }] },
      insurance: [{ sequence: 1, focal: true, coverage: { reference: 'Coverage/cov' } }],
    } as Resource,
    categories: ['financial'],
  },
};

const facts = (resource: Resource): ResourceFacts => factsOf({ defs, labeler, baseUrl: BASE_URL }, resource, computeIndex(defs, resource));

// ---- requesters and purposes --------------------------------------------------------------

const ACTORS = {
  employer: ['Organization/org-employer'],
  insurer: ['Organization/org-insurer'],
  study: ['Organization/org-research', 'ResearchStudy/rs-1'],
  clinician: ['Practitioner/pr-1', 'PractitionerRole/role-1', 'Organization/org-hospital', 'CareTeam/ct-1'],
  stranger: [],
} as const satisfies Record<string, readonly string[]>;
type Actor = keyof typeof ACTORS;
const ACTOR_COLUMNS = Object.keys(ACTORS) as Actor[];

const PURPOSES = ['TREAT', 'ETREAT', 'HPAYMT', 'HPRGRP', 'HRESCH', 'HMARKT'] as const;
type Purpose = (typeof PURPOSES)[number];

// ---- the Consents -------------------------------------------------------------------------

const actor = (reference: string) => ({ reference: { reference } });
const category = (code: string) => ({ system: CATEGORY_SYSTEM, code });

function consent(id: string, scope: 'patient-privacy' | 'research', provision: ConsentProvision, patient = 'p1'): Consent {
  return {
    resourceType: 'Consent',
    id,
    meta: { versionId: '1' },
    status: 'active',
    scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: scope }] },
    category: [{ coding: [{ system: LOINC, code: '59284-0' }] }],
    patient: { reference: `Patient/${patient}` },
    provision,
  };
}

const C_SENSITIVE = (period?: Period): Consent =>
  consent('c-sensitive', 'patient-privacy', {
    type: 'deny',
    ...(period ? { period } : {}),
    class: [category('mental-health'), category('hiv-and-infectious-disease'), category('genetic')],
    provision: [
      { type: 'permit', actor: [actor('CareTeam/ct-1')] },
      { type: 'permit', actor: [actor('Organization/org-insurer')], purpose: [{ system: ACT_REASON_SYSTEM, code: 'HPAYMT' }], class: [category('mental-health')] },
    ],
  } as ConsentProvision);

const C_EMPLOYER = (period?: Period): Consent =>
  consent('c-employer', 'patient-privacy', { type: 'deny', ...(period ? { period } : {}), actor: [actor('Organization/org-employer')], class: [category('laboratory')] } as ConsentProvision);

const C_RESEARCH = (period?: Period): Consent =>
  consent('c-research', 'research', {
    type: 'permit',
    ...(period ? { period } : {}),
    actor: [actor('ResearchStudy/rs-1')],
    purpose: [{ system: ACT_REASON_SYSTEM, code: 'HRESCH' }],
    provision: [{ type: 'deny', class: [category('genetic')] }],
  } as ConsentProvision);

const STARTED = { start: iso(NOW - 30 * DAY) };
const STATES = {
  none: [],
  active: [C_SENSITIVE(STARTED), C_EMPLOYER(STARTED)],
  'research-only': [C_RESEARCH(STARTED)],
  'active+research': [C_SENSITIVE(STARTED), C_EMPLOYER(STARTED), C_RESEARCH(STARTED)],
  revoked: [C_SENSITIVE(STARTED), C_EMPLOYER(STARTED), C_RESEARCH(STARTED)].map((c) => ({ ...c, status: 'inactive' as const })),
  expired: [C_SENSITIVE, C_EMPLOYER, C_RESEARCH].map((c) => c({ start: iso(NOW - 60 * DAY), end: iso(NOW - DAY) })),
  'not-yet-valid': [C_SENSITIVE, C_EMPLOYER, C_RESEARCH].map((c) => c({ start: iso(NOW + DAY) })),
} satisfies Record<string, Consent[]>;
type State = keyof typeof STATES;

function registryOf(consents: readonly Consent[]): ConsentRegistry {
  const registry = new ConsentRegistry();
  for (const c of consents) registry.put(parseConsent(c, BASE_URL));
  return registry;
}

/** The decision, checked against what the stored tokens and the query clause select. */
function decision(registry: ConsentRegistry, resource: Resource, identities: readonly string[], purpose: string, now = NOW): Decision {
  const group = purposeGroup(purpose);
  assert.ok(group, purpose);
  const ctx = { consentsOf: registry.consentsOf, base, now };
  const f = facts(resource);
  const d = decide(ctx, f, { identities: new Set(identities), group });
  const named = identities.filter((i) => registry.isNamed(i));
  const doc = { idx: { _consent: consentTokens(ctx, f) } };
  const selected = new Query(consentClause(base, group, named)).test(doc);
  assert.equal(selected ? 'permit' : 'deny', d.decision, `the compiled clause disagrees with decide for ${purpose} as ${identities.join('+') || 'nobody'}`);
  // Passing identities no Consent names only costs clause size; it must not change the answer.
  assert.equal(new Query(consentClause(base, group, [...identities])).test(doc), selected, 'unnamed identities in the clause');
  return d;
}

// ---- the expectations ---------------------------------------------------------------------

/**
 * A grid per state: a line per category and purpose, a column per requester. Written out in
 * full for the states where Consents decide something.
 */
function grid(text: string): Map<string, Verdict> {
  const out = new Map<string, Verdict>();
  const lines = text.trim().split('\n').map((l) => l.trim().split(/\s+/));
  const header = lines.shift() as string[];
  assert.deepEqual(header, ['category', 'purpose', ...ACTOR_COLUMNS]);
  for (const [cat, purpose, ...verdicts] of lines) {
    assert.ok((CATEGORY_ROWS as readonly string[]).includes(cat as string) && (PURPOSES as readonly string[]).includes(purpose as string), `bad grid line ${cat} ${purpose}`);
    assert.equal(verdicts.length, ACTOR_COLUMNS.length, `grid line ${cat} ${purpose}`);
    verdicts.forEach((v, i) => {
      assert.ok(v === 'permit' || v === 'deny', v);
      const key = `${cat} ${purpose} ${ACTOR_COLUMNS[i]}`;
      assert.ok(!out.has(key), `${key} twice`);
      out.set(key, v);
    });
  }
  assert.equal(out.size, CATEGORY_ROWS.length * PURPOSES.length * ACTOR_COLUMNS.length, 'the grid covers every category, purpose and requester');
  return out;
}

/**
 * active: c-sensitive + c-employer. Non-sensitive data follows the base policy (research and
 * marketing denied) except laboratory data, which the employer never sees. Sensitive data is
 * denied to all but the care team (every purpose but research — a patient-privacy Consent
 * cannot open research — and yes, marketing too: the permit names no purpose) and the insurer
 * (mental health, for payment only).
 */
const ACTIVE = grid(`
  category       purpose  employer insurer  study   clinician stranger
  demographics   TREAT    permit   permit   permit  permit    permit
  demographics   ETREAT   permit   permit   permit  permit    permit
  demographics   HPAYMT   permit   permit   permit  permit    permit
  demographics   HPRGRP   permit   permit   permit  permit    permit
  demographics   HRESCH   deny     deny     deny    deny      deny
  demographics   HMARKT   deny     deny     deny    deny      deny
  vital-signs    TREAT    permit   permit   permit  permit    permit
  vital-signs    ETREAT   permit   permit   permit  permit    permit
  vital-signs    HPAYMT   permit   permit   permit  permit    permit
  vital-signs    HPRGRP   permit   permit   permit  permit    permit
  vital-signs    HRESCH   deny     deny     deny    deny      deny
  vital-signs    HMARKT   deny     deny     deny    deny      deny
  laboratory     TREAT    deny     permit   permit  permit    permit
  laboratory     ETREAT   deny     permit   permit  permit    permit
  laboratory     HPAYMT   deny     permit   permit  permit    permit
  laboratory     HPRGRP   deny     permit   permit  permit    permit
  laboratory     HRESCH   deny     deny     deny    deny      deny
  laboratory     HMARKT   deny     deny     deny    deny      deny
  mental-health  TREAT    deny     deny     deny    permit    deny
  mental-health  ETREAT   deny     deny     deny    permit    deny
  mental-health  HPAYMT   deny     permit   deny    permit    deny
  mental-health  HPRGRP   deny     deny     deny    permit    deny
  mental-health  HRESCH   deny     deny     deny    deny      deny
  mental-health  HMARKT   deny     deny     deny    permit    deny
  hiv            TREAT    deny     deny     deny    permit    deny
  hiv            ETREAT   deny     deny     deny    permit    deny
  hiv            HPAYMT   deny     deny     deny    permit    deny
  hiv            HPRGRP   deny     deny     deny    permit    deny
  hiv            HRESCH   deny     deny     deny    deny      deny
  hiv            HMARKT   deny     deny     deny    permit    deny
  genetic        TREAT    deny     deny     deny    permit    deny
  genetic        ETREAT   deny     deny     deny    permit    deny
  genetic        HPAYMT   deny     deny     deny    permit    deny
  genetic        HPRGRP   deny     deny     deny    permit    deny
  genetic        HRESCH   deny     deny     deny    deny      deny
  genetic        HMARKT   deny     deny     deny    permit    deny
  encounters     TREAT    permit   permit   permit  permit    permit
  encounters     ETREAT   permit   permit   permit  permit    permit
  encounters     HPAYMT   permit   permit   permit  permit    permit
  encounters     HPRGRP   permit   permit   permit  permit    permit
  encounters     HRESCH   deny     deny     deny    deny      deny
  encounters     HMARKT   deny     deny     deny    deny      deny
  financial      TREAT    permit   permit   permit  permit    permit
  financial      ETREAT   permit   permit   permit  permit    permit
  financial      HPAYMT   permit   permit   permit  permit    permit
  financial      HPRGRP   permit   permit   permit  permit    permit
  financial      HRESCH   deny     deny     deny    deny      deny
  financial      HMARKT   deny     deny     deny    deny      deny
`);

/**
 * research-only: c-research speaks for the research group alone. The study (its sponsor acting
 * for it) sees everything but genetic data for research; nobody else gains research access, and
 * every other purpose is the base policy.
 */
const RESEARCH_ONLY = grid(`
  category       purpose  employer insurer  study   clinician stranger
  demographics   TREAT    permit   permit   permit  permit    permit
  demographics   ETREAT   permit   permit   permit  permit    permit
  demographics   HPAYMT   permit   permit   permit  permit    permit
  demographics   HPRGRP   permit   permit   permit  permit    permit
  demographics   HRESCH   deny     deny     permit  deny      deny
  demographics   HMARKT   deny     deny     deny    deny      deny
  vital-signs    TREAT    permit   permit   permit  permit    permit
  vital-signs    ETREAT   permit   permit   permit  permit    permit
  vital-signs    HPAYMT   permit   permit   permit  permit    permit
  vital-signs    HPRGRP   permit   permit   permit  permit    permit
  vital-signs    HRESCH   deny     deny     permit  deny      deny
  vital-signs    HMARKT   deny     deny     deny    deny      deny
  laboratory     TREAT    permit   permit   permit  permit    permit
  laboratory     ETREAT   permit   permit   permit  permit    permit
  laboratory     HPAYMT   permit   permit   permit  permit    permit
  laboratory     HPRGRP   permit   permit   permit  permit    permit
  laboratory     HRESCH   deny     deny     permit  deny      deny
  laboratory     HMARKT   deny     deny     deny    deny      deny
  mental-health  TREAT    permit   permit   permit  permit    permit
  mental-health  ETREAT   permit   permit   permit  permit    permit
  mental-health  HPAYMT   permit   permit   permit  permit    permit
  mental-health  HPRGRP   permit   permit   permit  permit    permit
  mental-health  HRESCH   deny     deny     permit  deny      deny
  mental-health  HMARKT   deny     deny     deny    deny      deny
  hiv            TREAT    permit   permit   permit  permit    permit
  hiv            ETREAT   permit   permit   permit  permit    permit
  hiv            HPAYMT   permit   permit   permit  permit    permit
  hiv            HPRGRP   permit   permit   permit  permit    permit
  hiv            HRESCH   deny     deny     permit  deny      deny
  hiv            HMARKT   deny     deny     deny    deny      deny
  genetic        TREAT    permit   permit   permit  permit    permit
  genetic        ETREAT   permit   permit   permit  permit    permit
  genetic        HPAYMT   permit   permit   permit  permit    permit
  genetic        HPRGRP   permit   permit   permit  permit    permit
  genetic        HRESCH   deny     deny     deny    deny      deny
  genetic        HMARKT   deny     deny     deny    deny      deny
  encounters     TREAT    permit   permit   permit  permit    permit
  encounters     ETREAT   permit   permit   permit  permit    permit
  encounters     HPAYMT   permit   permit   permit  permit    permit
  encounters     HPRGRP   permit   permit   permit  permit    permit
  encounters     HRESCH   deny     deny     permit  deny      deny
  encounters     HMARKT   deny     deny     deny    deny      deny
  financial      TREAT    permit   permit   permit  permit    permit
  financial      ETREAT   permit   permit   permit  permit    permit
  financial      HPAYMT   permit   permit   permit  permit    permit
  financial      HPRGRP   permit   permit   permit  permit    permit
  financial      HRESCH   deny     deny     permit  deny      deny
  financial      HMARKT   deny     deny     deny    deny      deny
`);

/**
 * active+research: as active for every purpose but research, where the study keeps its opt-in
 * except for what c-sensitive denies everyone (a patient-privacy Consent can deny research), so
 * mental-health and HIV data are closed to it too; the care team's permit does not open research.
 */
const ACTIVE_AND_RESEARCH = grid(`
  category       purpose  employer insurer  study   clinician stranger
  demographics   TREAT    permit   permit   permit  permit    permit
  demographics   ETREAT   permit   permit   permit  permit    permit
  demographics   HPAYMT   permit   permit   permit  permit    permit
  demographics   HPRGRP   permit   permit   permit  permit    permit
  demographics   HRESCH   deny     deny     permit  deny      deny
  demographics   HMARKT   deny     deny     deny    deny      deny
  vital-signs    TREAT    permit   permit   permit  permit    permit
  vital-signs    ETREAT   permit   permit   permit  permit    permit
  vital-signs    HPAYMT   permit   permit   permit  permit    permit
  vital-signs    HPRGRP   permit   permit   permit  permit    permit
  vital-signs    HRESCH   deny     deny     permit  deny      deny
  vital-signs    HMARKT   deny     deny     deny    deny      deny
  laboratory     TREAT    deny     permit   permit  permit    permit
  laboratory     ETREAT   deny     permit   permit  permit    permit
  laboratory     HPAYMT   deny     permit   permit  permit    permit
  laboratory     HPRGRP   deny     permit   permit  permit    permit
  laboratory     HRESCH   deny     deny     permit  deny      deny
  laboratory     HMARKT   deny     deny     deny    deny      deny
  mental-health  TREAT    deny     deny     deny    permit    deny
  mental-health  ETREAT   deny     deny     deny    permit    deny
  mental-health  HPAYMT   deny     permit   deny    permit    deny
  mental-health  HPRGRP   deny     deny     deny    permit    deny
  mental-health  HRESCH   deny     deny     deny    deny      deny
  mental-health  HMARKT   deny     deny     deny    permit    deny
  hiv            TREAT    deny     deny     deny    permit    deny
  hiv            ETREAT   deny     deny     deny    permit    deny
  hiv            HPAYMT   deny     deny     deny    permit    deny
  hiv            HPRGRP   deny     deny     deny    permit    deny
  hiv            HRESCH   deny     deny     deny    deny      deny
  hiv            HMARKT   deny     deny     deny    permit    deny
  genetic        TREAT    deny     deny     deny    permit    deny
  genetic        ETREAT   deny     deny     deny    permit    deny
  genetic        HPAYMT   deny     deny     deny    permit    deny
  genetic        HPRGRP   deny     deny     deny    permit    deny
  genetic        HRESCH   deny     deny     deny    deny      deny
  genetic        HMARKT   deny     deny     deny    permit    deny
  encounters     TREAT    permit   permit   permit  permit    permit
  encounters     ETREAT   permit   permit   permit  permit    permit
  encounters     HPAYMT   permit   permit   permit  permit    permit
  encounters     HPRGRP   permit   permit   permit  permit    permit
  encounters     HRESCH   deny     deny     permit  deny      deny
  encounters     HMARKT   deny     deny     deny    deny      deny
  financial      TREAT    permit   permit   permit  permit    permit
  financial      ETREAT   permit   permit   permit  permit    permit
  financial      HPAYMT   permit   permit   permit  permit    permit
  financial      HPRGRP   permit   permit   permit  permit    permit
  financial      HRESCH   deny     deny     permit  deny      deny
  financial      HMARKT   deny     deny     deny    deny      deny
`);

/**
 * Where no Consent applies — none stored, all revoked, all expired, none started yet — every
 * access is the base policy's: permit for treatment, emergency, payment and operations; deny for
 * research and marketing. Generated, since that is the whole rule.
 */
const basePolicyOnly = (): Map<string, Verdict> => {
  const out = new Map<string, Verdict>();
  for (const cat of CATEGORY_ROWS) {
    for (const purpose of PURPOSES) {
      for (const a of ACTOR_COLUMNS) out.set(`${cat} ${purpose} ${a}`, purpose === 'HRESCH' || purpose === 'HMARKT' ? 'deny' : 'permit');
    }
  }
  return out;
};

const EXPECTED: Readonly<Record<State, Map<string, Verdict>>> = {
  none: basePolicyOnly(),
  active: ACTIVE,
  'research-only': RESEARCH_ONLY,
  'active+research': ACTIVE_AND_RESEARCH,
  revoked: basePolicyOnly(),
  expired: basePolicyOnly(),
  'not-yet-valid': basePolicyOnly(),
};

describe('the consent decision matrix', () => {
  it('the labeler puts each row’s resource in the categories the row names', () => {
    for (const row of CATEGORY_ROWS) {
      const { resource, categories } = RESOURCES[row];
      assert.deepEqual([...facts(resource).categories].sort(), [...categories].sort(), row);
      assert.deepEqual(facts(resource).patients, ['p1'], row);
    }
  });

  let rows = 0;
  for (const state of Object.keys(STATES) as State[]) {
    describe(`consent state: ${state}`, () => {
      const registry = registryOf(STATES[state]);
      for (const row of CATEGORY_ROWS) {
        it(`${row}: every purpose × requester`, () => {
          const wrong: string[] = [];
          for (const purpose of PURPOSES) {
            for (const a of ACTOR_COLUMNS) {
              const key = `${row} ${purpose} ${a}`;
              const expected = EXPECTED[state].get(key);
              const got = decision(registry, RESOURCES[row].resource, ACTORS[a], purpose).decision;
              rows++;
              if (got !== expected) wrong.push(`${key}: expected ${String(expected)}, decided ${got}`);
            }
          }
          assert.deepEqual(wrong, []);
        });
      }
    });
  }

  it('covers every state × category × purpose × requester (more than 150 rows)', () => {
    assert.equal(rows, Object.keys(STATES).length * CATEGORY_ROWS.length * PURPOSES.length * ACTOR_COLUMNS.length);
    assert.ok(rows > 150);
  });
});

// ---- rows worth spelling out one by one ----------------------------------------------------

interface Row {
  readonly name: string;
  readonly consents: readonly Consent[];
  readonly resource: Resource;
  readonly identities: readonly string[];
  readonly purpose: Purpose | string;
  readonly now?: number;
  readonly expected: Verdict;
  /** The explanation the decision must carry. */
  readonly basis?: Decision['basis'];
  readonly consent?: string;
  readonly provision?: string;
}

const R = RESOURCES;
const ROWS: readonly Row[] = [
  // Explanations: which Consent and provision decided.
  {
    name: 'the insurer reads mental health for payment through the nested permit',
    consents: STATES.active,
    resource: R['mental-health'].resource,
    identities: ACTORS.insurer,
    purpose: 'HPAYMT',
    expected: 'permit',
    basis: 'consent',
    consent: 'Consent/c-sensitive/_history/1',
    provision: 'provision.provision[1]',
  },
  {
    name: 'the insurer is denied mental health for operations by the root provision',
    consents: STATES.active,
    resource: R['mental-health'].resource,
    identities: ACTORS.insurer,
    purpose: 'HOPERAT',
    expected: 'deny',
    basis: 'consent',
    consent: 'Consent/c-sensitive/_history/1',
    provision: 'provision',
  },
  {
    name: 'a sub-purpose of payment (CLMATTCH) is the payment group',
    consents: STATES.active,
    resource: R['mental-health'].resource,
    identities: ACTORS.insurer,
    purpose: 'CLMATTCH',
    expected: 'permit',
    provision: 'provision.provision[1]',
  },
  {
    name: 'the care team reads HIV data through the first nested permit',
    consents: STATES.active,
    resource: R.hiv.resource,
    identities: ACTORS.clinician,
    purpose: 'TREAT',
    expected: 'permit',
    consent: 'Consent/c-sensitive/_history/1',
    provision: 'provision.provision[0]',
  },
  {
    name: 'HIV data is laboratory data too: the employer is denied by both Consents; c-employer sorts first',
    consents: STATES.active,
    resource: R.hiv.resource,
    identities: ACTORS.employer,
    purpose: 'HPRGRP',
    expected: 'deny',
    consent: 'Consent/c-employer/_history/1',
  },
  { name: 'data no Consent speaks about is decided by the base policy', consents: STATES.active, resource: R['vital-signs'].resource, identities: ACTORS.stranger, purpose: 'TREAT', expected: 'permit', basis: 'base-policy' },
  { name: 'research data nobody opted in to: base policy deny', consents: STATES.active, resource: R['vital-signs'].resource, identities: ACTORS.study, purpose: 'HRESCH', expected: 'deny', basis: 'base-policy' },
  {
    name: 'the study’s research permit comes from c-research',
    consents: STATES['research-only'],
    resource: R.laboratory.resource,
    identities: ACTORS.study,
    purpose: 'CLINTRCH',
    expected: 'permit',
    consent: 'Consent/c-research/_history/1',
    provision: 'provision',
  },
  { name: 'genetic data is excepted from the opt-in', consents: STATES['research-only'], resource: R.genetic.resource, identities: ACTORS.study, purpose: 'HRESCH', expected: 'deny', provision: 'provision.provision[0]' },
  // Periods are inclusive at both ends.
  { name: 'a period ending exactly now still applies', consents: [C_EMPLOYER({ end: iso(NOW) })], resource: R.laboratory.resource, identities: ACTORS.employer, purpose: 'TREAT', expected: 'deny' },
  { name: 'one millisecond after its end it does not', consents: [C_EMPLOYER({ end: iso(NOW) })], resource: R.laboratory.resource, identities: ACTORS.employer, purpose: 'TREAT', now: NOW + 1, expected: 'permit' },
  { name: 'a period starting exactly now applies', consents: [C_EMPLOYER({ start: iso(NOW) })], resource: R.laboratory.resource, identities: ACTORS.employer, purpose: 'TREAT', expected: 'deny' },
  { name: 'one millisecond before its start it does not', consents: [C_EMPLOYER({ start: iso(NOW) })], resource: R.laboratory.resource, identities: ACTORS.employer, purpose: 'TREAT', now: NOW - 1, expected: 'permit' },
  {
    name: 'a date-only end covers that whole day (2025-06-15 ends 23:59:59.999)',
    consents: [C_EMPLOYER({ end: '2025-06-15' })],
    resource: R.laboratory.resource,
    identities: ACTORS.employer,
    purpose: 'TREAT',
    now: Date.parse('2025-06-15T23:59:59.999Z'),
    expected: 'deny',
  },
  // Identities (rule 6).
  {
    name: 'a requester that is both care team and insurer must be permitted as each: payment yes …',
    consents: STATES.active,
    resource: R['mental-health'].resource,
    identities: [...ACTORS.clinician, ...ACTORS.insurer],
    purpose: 'HPAYMT',
    expected: 'permit',
  },
  { name: '… treatment no (the insurer identity is denied it)', consents: STATES.active, resource: R['mental-health'].resource, identities: [...ACTORS.clinician, ...ACTORS.insurer], purpose: 'TREAT', expected: 'deny' },
  {
    name: 'an identity no Consent names is decided as anyone else, even alongside a named one that is permitted',
    consents: STATES.active,
    resource: R.laboratory.resource,
    identities: ['Organization/org-other', ...ACTORS.insurer],
    purpose: 'TREAT',
    expected: 'permit',
  },
  {
    name: 'the employer acting through another named party is still the employer for its lab data',
    consents: STATES.active,
    resource: R.laboratory.resource,
    identities: [...ACTORS.employer, ...ACTORS.insurer],
    purpose: 'TREAT',
    expected: 'deny',
  },
  // Labels the client sent count (a vital sign the author marked as psychiatric).
  {
    name: 'a vital sign labelled PSY by its author is mental-health data',
    consents: STATES.active,
    resource: observation('hr-psy', '8867-4', 'vital-signs', { meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PSY' }] } }),
    identities: ACTORS.employer,
    purpose: 'HPRGRP',
    expected: 'deny',
    consent: 'Consent/c-sensitive/_history/1',
  },
  // Outside any compartment: not consent-governed, whatever the purpose.
  {
    name: 'an Organization is nobody’s record: permitted even for marketing',
    consents: STATES.active,
    resource: { resourceType: 'Organization', id: 'org-hospital', name: 'Hospital' } as Resource,
    identities: ACTORS.stranger,
    purpose: 'HMARKT',
    expected: 'permit',
    basis: 'not-patient-data',
  },
  // Several patients (rule 7): every patient's Consents must permit.
  {
    name: 'an Observation in two compartments is denied when one patient’s Consent denies it',
    consents: [consent('c-p2', 'patient-privacy', { type: 'deny', actor: [actor('Organization/org-employer')], class: [category('vital-signs')] } as ConsentProvision, 'p2')],
    resource: observation('shared', '8867-4', 'vital-signs', { performer: [{ reference: 'Patient/p2' }] }),
    identities: ACTORS.employer,
    purpose: 'HPRGRP',
    expected: 'deny',
    consent: 'Consent/c-p2/_history/1',
  },
  {
    name: '… and permitted to whoever neither patient denies',
    consents: [consent('c-p2', 'patient-privacy', { type: 'deny', actor: [actor('Organization/org-employer')], class: [category('vital-signs')] } as ConsentProvision, 'p2')],
    resource: observation('shared', '8867-4', 'vital-signs', { performer: [{ reference: 'Patient/p2' }] }),
    identities: ACTORS.insurer,
    purpose: 'HPRGRP',
    expected: 'permit',
  },
  // A draft or rejected Consent says nothing.
  { name: 'a draft Consent does not apply', consents: [{ ...C_EMPLOYER(), status: 'draft' }], resource: R.laboratory.resource, identities: ACTORS.employer, purpose: 'TREAT', expected: 'permit', basis: 'base-policy' },
  // A research Consent never speaks for other purposes, even a deny.
  {
    name: 'a research-scope deny does not reach treatment',
    consents: [consent('c-r-deny', 'research', { type: 'deny', actor: [actor('Organization/org-employer')] } as ConsentProvision)],
    resource: R.laboratory.resource,
    identities: ACTORS.employer,
    purpose: 'TREAT',
    expected: 'permit',
  },
  // A patient-privacy permit cannot open research, even naming the study.
  {
    name: 'a patient-privacy permit naming the study does not open research',
    consents: [consent('c-pp-study', 'patient-privacy', { type: 'permit', actor: [actor('ResearchStudy/rs-1')] } as ConsentProvision)],
    resource: R['vital-signs'].resource,
    identities: ACTORS.study,
    purpose: 'HRESCH',
    expected: 'deny',
    basis: 'base-policy',
  },
  // TREAT in a provision covers emergency too; ETREAT covers only emergency.
  {
    name: 'a deny for TREAT covers emergency treatment',
    consents: [consent('c-treat', 'patient-privacy', { type: 'deny', actor: [actor('Organization/org-employer')], purpose: [{ system: ACT_REASON_SYSTEM, code: 'TREAT' }] } as ConsentProvision)],
    resource: R['vital-signs'].resource,
    identities: ACTORS.employer,
    purpose: 'ETREAT',
    expected: 'deny',
  },
  {
    name: 'a deny for ETREAT leaves ordinary treatment alone',
    consents: [consent('c-etreat', 'patient-privacy', { type: 'deny', actor: [actor('Organization/org-employer')], purpose: [{ system: ACT_REASON_SYSTEM, code: 'ETREAT' }] } as ConsentProvision)],
    resource: R['vital-signs'].resource,
    identities: ACTORS.employer,
    purpose: 'TREAT',
    expected: 'permit',
  },
  // dataPeriod: the resource's clinical date must fall in it; a resource without one never does.
  {
    name: 'a dataPeriod deny covers data dated inside it',
    consents: [consent('c-dp', 'patient-privacy', { type: 'deny', dataPeriod: { start: '2025-01-01', end: '2025-03-31' } } as ConsentProvision)],
    resource: R['vital-signs'].resource,
    identities: ACTORS.stranger,
    purpose: 'TREAT',
    expected: 'deny',
  },
  {
    name: 'not data dated after it',
    consents: [consent('c-dp', 'patient-privacy', { type: 'deny', dataPeriod: { start: '2025-01-01', end: '2025-02-28' } } as ConsentProvision)],
    resource: R['vital-signs'].resource,
    identities: ACTORS.stranger,
    purpose: 'TREAT',
    expected: 'permit',
  },
  {
    name: 'nor the Patient resource, which has no clinical date',
    consents: [consent('c-dp', 'patient-privacy', { type: 'deny', dataPeriod: { start: '1900-01-01' } } as ConsentProvision)],
    resource: R.demographics.resource,
    identities: ACTORS.stranger,
    purpose: 'TREAT',
    expected: 'permit',
  },
  // provision.code and provision.data.
  {
    name: 'a code deny matches the code anywhere in the resource',
    consents: [consent('c-code', 'patient-privacy', { type: 'deny', code: [{ coding: [{ system: LOINC, code: '2339-0' }] }] } as ConsentProvision)],
    resource: R.laboratory.resource,
    identities: ACTORS.stranger,
    purpose: 'TREAT',
    expected: 'deny',
  },
  {
    name: 'a data/dependents deny covers resources referring to the named one',
    consents: [consent('c-data', 'patient-privacy', { type: 'deny', data: [{ meaning: 'dependents', reference: { reference: 'Encounter/visit' } }] } as ConsentProvision)],
    resource: observation('in-visit', '8867-4', 'vital-signs', { encounter: { reference: 'Encounter/visit' } }),
    identities: ACTORS.stranger,
    purpose: 'TREAT',
    expected: 'deny',
  },
  {
    name: 'a data/instance deny covers only the named resource',
    consents: [consent('c-data', 'patient-privacy', { type: 'deny', data: [{ meaning: 'instance', reference: { reference: 'Encounter/visit' } }] } as ConsentProvision)],
    resource: observation('in-visit', '8867-4', 'vital-signs', { encounter: { reference: 'Encounter/visit' } }),
    identities: ACTORS.stranger,
    purpose: 'TREAT',
    expected: 'permit',
  },
];

describe('consent decisions worth spelling out', () => {
  for (const row of ROWS) {
    it(row.name, () => {
      const d = decision(registryOf(row.consents), row.resource, row.identities, row.purpose, row.now);
      assert.equal(d.decision, row.expected);
      if (row.basis) assert.equal(d.basis, row.basis);
      if (row.consent) assert.equal(d.consent, row.consent);
      if (row.provision) assert.equal(d.provision, row.provision);
    });
  }
});
