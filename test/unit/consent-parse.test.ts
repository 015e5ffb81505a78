import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Consent, ConsentProvision, ValueSet } from '@medplum/fhirtypes';
import { parseConsent } from '../../server/src/consent/parse-consent.js';
import { GROUP_ROOT } from '../../server/src/consent/purpose-groups.js';
import { FhirError } from '../../server/src/fhir/outcomes.js';
import { ACCEPTED, BASE_URL, action, actor, category, consent, policyRule, purpose, resourceType, scope } from '../helpers/consent-cases.js';

describe('parseConsent: Consents the engine enforces', () => {
  for (const c of ACCEPTED) {
    it(c.name, () => assert.deepEqual(parseConsent(c.consent, BASE_URL), c.policy));
  }

  it('a Consent not yet stored has empty id and versionId', () => {
    const { id: _id, meta: _meta, ...rest } = consent();
    const p = parseConsent(rest as Consent, BASE_URL);
    assert.equal(p.id, '');
    assert.equal(p.versionId, '');
  });

  it('class resource types are checked with the isResourceType option when given', () => {
    const c = consent({ provision: { class: [resourceType('Widget')] } });
    assert.deepEqual(parseConsent(c, BASE_URL, { isResourceType: (t) => t === 'Widget' }).root.classes.resourceTypes, ['Widget']);
    assert.throws(() => parseConsent(c, BASE_URL), /'Widget' is not an R4 resource type/);
  });
});

/** A chain of `n` provisions, each the only child of the one above. */
function chain(n: number): ConsentProvision {
  let p: ConsentProvision = { type: 'deny' };
  for (let i = 1; i < n; i++) p = { type: 'deny', provision: [p] };
  return p;
}

const ext = [{ url: 'https://example.org/x', valueString: 'y' }];
const nested = (p: Record<string, unknown>): Partial<Consent> => ({ provision: { provision: [{ type: 'deny', ...p } as ConsentProvision] } });

/** [name, Consent, expression of the refused element, part of the message]. */
const REFUSED: Array<[string, Consent, string, RegExp?]> = [
  ['no patient', consent({ patient: undefined }), 'Consent.patient', /is required/],
  ['patient on another server', consent({ patient: { reference: 'https://elsewhere.test/fhir/Patient/p1' } }), 'Consent.patient', /on this server/],
  ['patient that is not a Patient', consent({ patient: { reference: 'Group/g1' } }), 'Consent.patient'],
  ['patient by identifier only', consent({ patient: { identifier: { system: 'urn:x', value: '1' } } }), 'Consent.patient'],
  ['scope treatment', consent({ scope: scope('treatment') }), 'Consent.scope', /scope treatment is a consent to treatment, not an access rule; this server enforces patient-privacy and research consents/],
  ['scope adr', consent({ scope: scope('adr') }), 'Consent.scope', /advance directive/],
  ['scope without the consentscope system', consent({ scope: { text: 'privacy' } }), 'Consent.scope', /is required/],
  ['two scopes', consent({ scope: { coding: [...(scope('research')?.coding ?? []), ...(scope('patient-privacy')?.coding ?? [])] } }), 'Consent.scope', /one scope/],
  ['status not an R4 value', consent({ status: 'done' as Consent['status'] }), 'Consent.status'],
  ['no provision and no policyRule', consent({ policyRule: undefined }), 'Consent.policyRule'],
  ['no provision and a policyRule without permit or deny', consent({ policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentpolicycodes', code: 'hipaa-auth' }] } }), 'Consent.policyRule'],
  ['root without type and a policyRule without permit or deny', consent({ policyRule: { text: 'our policy' }, provision: { actor: [actor('Practitioner/p')] } }), 'Consent.provision.type'],
  ['policyRule both opt-in and opt-out', consent({ policyRule: { coding: [...(policyRule('OPTIN')?.coding ?? []), ...(policyRule('OPTOUT')?.coding ?? [])] } }), 'Consent.policyRule'],
  ['nested provision without type', consent({ provision: { provision: [{ type: 'deny' }, { actor: [actor('Practitioner/p')] }] } }), 'Consent.provision.provision[1].type', /nested provision/],
  ['type not permit or deny', consent({ provision: { type: 'allow' as 'permit' } }), 'Consent.provision.type'],
  ['period starting after it ends', consent({ provision: { period: { start: '2020-02-01', end: '2020-01-31' } } }), 'Consent.provision.period', /starts after it ends/],
  ['period with a bad date', consent({ provision: { period: { start: '2020-02-30' } } }), 'Consent.provision.period.start'],
  ['dataPeriod with a bad date', consent(nested({ dataPeriod: { end: 'soon' } })), 'Consent.provision.provision[0].dataPeriod.end'],
  ['actor by identifier only', consent({ provision: { actor: [{ role: { text: 'r' }, reference: { identifier: { system: 'urn:npi', value: '1' } } }] } }), 'Consent.provision.actor[0].reference', /cannot be matched to a requester/],
  ['actor on another server', consent({ provision: { actor: [actor('Practitioner/a'), actor('https://elsewhere.test/fhir/Practitioner/p1')] } }), 'Consent.provision.actor[1].reference', /cannot be matched to a requester/],
  ['actor contained', consent({ provision: { actor: [actor('#p1')] } }), 'Consent.provision.actor[0].reference', /cannot be matched to a requester/],
  ['actor that cannot be a requester', consent({ provision: { actor: [actor('Observation/o1')] } }), 'Consent.provision.actor[0].reference', /cannot be matched to a requester/],
  ['actions only collect and correct', consent(nested({ action: action('collect', 'correct') })), 'Consent.provision.provision[0].action', /governs writes, which consent does not gate/],
  ['action not a consentaction code', consent({ provision: { action: action('access', 'delete') } }), 'Consent.provision.action[1]'],
  ['action as text only', consent({ provision: { action: [{ text: 'look' }] } }), 'Consent.provision.action[0]'],
  ['securityLabel without code', consent({ provision: { securityLabel: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode' }] } }), 'Consent.provision.securityLabel[0]'],
  ['purpose below a group root', consent({ provision: { purpose: [purpose('TREAT'), purpose('BTG')] } }), 'Consent.provision.purpose[1]', /TREAT, ETREAT, HPAYMT, HOPERAT, HRESCH, PATRQT, PUBHLTH, HMARKT/],
  ['purpose of another system', consent({ provision: { purpose: [{ system: 'urn:x', code: 'TREAT' }] } }), 'Consent.provision.purpose[0]'],
  ['class as a MIME type', consent(nested({ class: [{ system: 'urn:ietf:bcp:13', code: 'application/hl7-cda+xml' }] })), 'Consent.provision.provision[0].class[0]', /cannot classify/],
  ['class not a resource type', consent({ provision: { class: [resourceType('Observation'), resourceType('Widget')] } }), 'Consent.provision.class[1]'],
  ['class not a data category', consent({ provision: { class: [category('secrets')] } }), 'Consent.provision.class[0]'],
  ['class code that is not a canonical and has no system', consent({ provision: { class: [{ code: 'Observation' }] } }), 'Consent.provision.class[0]'],
  ['code without system', consent({ provision: { code: [{ coding: [{ system: 'http://loinc.org', code: '1' }] }, { coding: [{ code: '2' }] }] } }), 'Consent.provision.code[1].coding[0]'],
  ['code as text only', consent({ provision: { code: [{ text: 'diabetes' }] } }), 'Consent.provision.code[0]'],
  ['data related', consent({ provision: { data: [{ meaning: 'related', reference: { reference: 'Task/t1' } }] } }), 'Consent.provision.data[0].meaning', /would change meaning when other resources change; not enforceable from the resource alone/],
  ['data authoredby', consent(nested({ data: [{ meaning: 'authoredby', reference: { reference: 'Practitioner/p1' } }] })), 'Consent.provision.provision[0].data[0].meaning', /not enforceable from the resource alone/],
  ['data by identifier', consent({ provision: { data: [{ meaning: 'instance', reference: { identifier: { value: '1' } } }] } }), 'Consent.provision.data[0].reference'],
  ['extension on the root provision', consent({ provision: { extension: ext } }), 'Consent.provision.extension'],
  ['extension inside a nested actor', consent(nested({ actor: [{ ...actor('Practitioner/p'), extension: ext }] })), 'Consent.provision.provision[0].actor[0].extension'],
  ['extension on a primitive of a provision', consent({ provision: { type: 'deny', _type: { extension: ext } } as ConsentProvision }), 'Consent.provision.type.extension'],
  ['modifierExtension on the Consent', consent({ modifierExtension: ext }), 'Consent.modifierExtension', /modifier extension/],
  ['modifierExtension deep in a provision', consent(nested({ data: [{ meaning: 'instance', reference: { reference: 'Observation/o' }, modifierExtension: ext }] })), 'Consent.provision.provision[0].data[0].modifierExtension'],
  ['implicitRules', consent({ implicitRules: 'https://example.org/rules' }), 'Consent.implicitRules'],
  ['an element the provision does not have', consent({ provision: { type: 'deny', subject: { reference: 'Patient/p1' } } as ConsentProvision }), 'Consent.provision.subject'],
  ['an element the Consent does not have', consent({ subject: { reference: 'Patient/p1' } }), 'Consent.subject'],
  ['provisions nested 9 deep', consent({ provision: chain(9) }), `Consent.provision${'.provision[0]'.repeat(8)}`, /deeper than 8 levels/],
  ['65 provisions', consent({ provision: { type: 'permit', provision: Array.from({ length: 64 }, () => ({ type: 'deny' as const })) } }), 'Consent.provision.provision[63]', /at most 64 provisions/],
  ['not a Consent', { resourceType: 'Patient' } as unknown as Consent, 'Consent'],
];

describe('parseConsent: Consents the engine cannot enforce are refused with 422 and the element', () => {
  for (const [name, c, expression, message] of REFUSED) {
    it(name, () => {
      assert.throws(
        () => parseConsent(c, BASE_URL),
        (err: unknown) => {
          assert.ok(err instanceof FhirError, String(err));
          assert.equal(err.status, 422);
          assert.equal(err.code, 'unprocessable');
          assert.deepEqual(err.issues[0]?.expression, [expression]);
          assert.ok(err.message.startsWith(`${expression}: `), err.message);
          if (message) assert.match(err.message, message);
          return true;
        },
      );
    });
  }

  it('8 levels and 64 provisions are still accepted', () => {
    assert.doesNotThrow(() => parseConsent(consent({ provision: chain(8) }), BASE_URL));
    assert.doesNotThrow(() => parseConsent(consent({ provision: { type: 'permit', provision: Array.from({ length: 63 }, () => ({ type: 'deny' as const })) } }), BASE_URL));
  });
});

describe('the Consent purpose ValueSet', () => {
  it('holds exactly the purpose-group roots', () => {
    const vs = JSON.parse(readFileSync(new URL('../../fhir-profiles/ValueSet-custodian-consent-purpose.json', import.meta.url), 'utf8')) as ValueSet;
    const codes = (vs.compose?.include ?? []).flatMap((i) => (i.concept ?? []).map((c) => `${i.system}|${c.code}`));
    assert.deepEqual(codes.sort(), Object.values(GROUP_ROOT).map((c) => `http://terminology.hl7.org/CodeSystem/v3-ActReason|${c}`).sort());
  });
});
