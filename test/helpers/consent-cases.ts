import type { Consent, ConsentProvision } from '@medplum/fhirtypes';
import type { ConsentPolicy, Provision } from '../../server/src/consent/consent-policy.js';
import { ACT_CODE_SYSTEM, CATEGORY_SYSTEM, RESOURCE_TYPES_SYSTEM } from '../../server/src/consent/data-categories.js';
import { ACT_REASON_SYSTEM, CONSENT_ACTION_SYSTEM, CONSENT_SCOPE_SYSTEM } from '../../server/src/consent/parse-consent.js';

/**
 * Consents the consent engine accepts, each with the ConsentPolicy parseConsent must build:
 * shared by the parser's tests and the check that the Custodian Consent profile accepts them too.
 */
export const BASE_URL = 'https://custodian.test/fhir';

export const scope = (code: string): Consent['scope'] => ({ coding: [{ system: CONSENT_SCOPE_SYSTEM, code }] });
export const policyRule = (code: string): Consent['policyRule'] => ({ coding: [{ system: ACT_CODE_SYSTEM, code }] });
export const action = (...codes: string[]): NonNullable<ConsentProvision['action']> => codes.map((code) => ({ coding: [{ system: CONSENT_ACTION_SYSTEM, code }] }));
export const actor = (reference: string): NonNullable<ConsentProvision['actor']>[number] => ({
  role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] },
  reference: { reference },
});
export const category = (code: string) => ({ system: CATEGORY_SYSTEM, code });
export const resourceType = (code: string) => ({ system: RESOURCE_TYPES_SYSTEM, code });
export const purpose = (code: string) => ({ system: ACT_REASON_SYSTEM, code });

/** A patient-privacy opt-in Consent for Patient/p1; `over` replaces top-level elements. */
export function consent(over: Partial<Consent> & Record<string, unknown> = {}): Consent {
  return {
    resourceType: 'Consent',
    id: 'c1',
    meta: { versionId: '3' },
    status: 'active',
    scope: scope('patient-privacy'),
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: 'Patient/p1' },
    policyRule: policyRule('OPTIN'),
    ...over,
  } as Consent;
}

/** An expected Provision: no conditions unless `over` gives them. */
export function provision(path: string, type: 'permit' | 'deny', over: Partial<Omit<Provision, 'classes'>> & { classes?: Partial<Provision['classes']> } = {}): Provision {
  const { classes, ...rest } = over;
  return {
    path,
    type,
    actors: [],
    purposes: [],
    classes: { resourceTypes: [], categories: [], profiles: [], ...classes },
    codes: [],
    securityLabels: [],
    data: [],
    children: [],
    ...rest,
  };
}

export function policy(root: Provision, over: Partial<ConsentPolicy> = {}): ConsentPolicy {
  return { id: 'c1', versionId: '3', patient: 'p1', scope: 'patient-privacy', status: 'active', root, ...over };
}

const ms = (iso: string): number => Date.parse(iso);

export interface AcceptedCase {
  readonly name: string;
  readonly consent: Consent;
  readonly policy: ConsentPolicy;
}

export const ACCEPTED: readonly AcceptedCase[] = [
  {
    name: 'opt-out of an employer seeing mental health: permit by policyRule, nested deny for the employer on the category',
    consent: consent({
      provision: {
        provision: [{ type: 'deny', actor: [actor('Organization/employer')], action: action('access'), class: [category('mental-health')] }],
      },
    }),
    policy: policy(
      provision('provision', 'permit', {
        children: [provision('provision.provision[0]', 'deny', { actors: ['Organization/employer'], classes: { categories: ['mental-health'] } })],
      }),
    ),
  },
  {
    name: 'research opt-in for healthcare research, nested deny of genetic data',
    consent: consent({
      scope: scope('research'),
      provision: {
        purpose: [purpose('HRESCH')],
        actor: [actor('ResearchStudy/rs1')],
        provision: [{ type: 'deny', class: [category('genetic')] }],
      },
    }),
    policy: policy(
      provision('provision', 'permit', {
        purposes: ['research'],
        actors: ['ResearchStudy/rs1'],
        children: [provision('provision.provision[0]', 'deny', { classes: { categories: ['genetic'] } })],
      }),
      { scope: 'research' },
    ),
  },
  {
    name: 'HIV data for the care team only: deny the category, permit it again for the CareTeam',
    consent: consent({
      provision: {
        provision: [
          {
            type: 'deny',
            class: [category('hiv-and-infectious-disease')],
            provision: [{ type: 'permit', actor: [actor('CareTeam/ct1')], purpose: [purpose('TREAT')] }],
          },
        ],
      },
    }),
    policy: policy(
      provision('provision', 'permit', {
        children: [
          provision('provision.provision[0]', 'deny', {
            classes: { categories: ['hiv-and-infectious-disease'] },
            children: [provision('provision.provision[0].provision[0]', 'permit', { actors: ['CareTeam/ct1'], purposes: ['treatment', 'emergency'] })],
          }),
        ],
      }),
    ),
  },
  {
    name: 'dataPeriod: deny data from a span of the record (partial dates cover their whole precision)',
    consent: consent({
      provision: { provision: [{ type: 'deny', dataPeriod: { start: '2020', end: '2021-06' } }] },
    }),
    policy: policy(
      provision('provision', 'permit', {
        children: [provision('provision.provision[0]', 'deny', { dataPeriod: { start: ms('2020-01-01T00:00:00.000Z'), end: ms('2021-06-30T23:59:59.999Z') } })],
      }),
    ),
  },
  {
    name: 'period: the whole Consent applies for a time; an open end stays open',
    consent: consent({ provision: { type: 'permit', period: { start: '2024-03-01T09:00:00+01:00' } } }),
    policy: policy(provision('provision', 'permit', { period: { start: ms('2024-03-01T08:00:00.000Z') } })),
  },
  {
    name: 'period with both ends as dates: inclusive to the last millisecond of the end day',
    consent: consent({ provision: { period: { start: '2015-01-01', end: '2015-02-01' } } }),
    policy: policy(provision('provision', 'permit', { period: { start: ms('2015-01-01T00:00:00.000Z'), end: ms('2015-02-01T23:59:59.999Z') } })),
  },
  {
    name: 'policyRule only: OPTOUT with no provision is a deny of everything',
    consent: consent({ policyRule: policyRule('OPTOUT') }),
    policy: policy(provision('provision', 'deny')),
  },
  {
    name: 'policyRule only: OPTINR is a permit of everything',
    consent: consent({ policyRule: policyRule('OPTINR') }),
    policy: policy(provision('provision', 'permit')),
  },
  {
    name: "the root's own type wins over policyRule; informational elements are accepted",
    consent: consent({
      policyRule: policyRule('OPTOUTE'),
      identifier: [{ system: 'urn:ietf:rfc:3986', value: 'urn:uuid:5b4c7c8e-1d57-4f0d-9a4b-7a3a1a0a6f11' }],
      dateTime: '2024-01-01',
      performer: [{ reference: 'Patient/p1' }],
      organization: [{ reference: 'Organization/o1' }],
      sourceAttachment: { title: 'signed form' },
      policy: [{ uri: 'https://example.org/policy' }],
      verification: [{ verified: true }],
      extension: [{ url: 'https://example.org/note', valueString: 'informational' }],
      provision: { type: 'permit' },
    }),
    policy: policy(provision('provision', 'permit')),
  },
  {
    name: 'every condition kind, absolute references to this server normalised, status kept as is',
    consent: consent({
      status: 'draft',
      patient: { reference: `${BASE_URL}/Patient/p1` },
      provision: {
        type: 'deny',
        actor: [actor(`${BASE_URL}/Practitioner/pr1/_history/2`), actor('PractitionerRole/role1'), actor('Practitioner/pr1')],
        action: action('access', 'correct'),
        securityLabel: [{ system: ACT_CODE_SYSTEM, code: 'PSY' }, { code: 'X' }],
        purpose: [purpose('HMARKT'), purpose('HPAYMT'), purpose('HMARKT')],
        class: [resourceType('Observation'), category('laboratory'), { system: 'urn:ietf:rfc:3986', code: 'http://hl7.org/fhir/StructureDefinition/vitalsigns' }, { code: 'https://example.org/StructureDefinition/p' }],
        code: [{ coding: [{ system: 'http://loinc.org', code: '1234-5' }, { system: 'http://snomed.info/sct', code: '111' }] }],
        data: [
          { meaning: 'instance', reference: { reference: 'Observation/o1' } },
          { meaning: 'dependents', reference: { reference: `${BASE_URL}/Encounter/e1` } },
        ],
      },
    }),
    policy: policy(
      provision('provision', 'deny', {
        actors: ['Practitioner/pr1', 'PractitionerRole/role1'],
        securityLabels: [`${ACT_CODE_SYSTEM}|PSY`, '|X'],
        purposes: ['payment', 'marketing'],
        classes: { resourceTypes: ['Observation'], categories: ['laboratory'], profiles: ['http://hl7.org/fhir/StructureDefinition/vitalsigns', 'https://example.org/StructureDefinition/p'] },
        codes: ['http://loinc.org|1234-5', 'http://snomed.info/sct|111'],
        data: [
          { meaning: 'instance', reference: 'Observation/o1' },
          { meaning: 'dependents', reference: 'Encounter/e1' },
        ],
      }),
      { status: 'draft' },
    ),
  },
];
