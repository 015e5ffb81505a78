import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import type { Consent, ConsentProvision } from '@medplum/fhirtypes';
import { parseConsent } from '../../server/src/consent/parse-consent.js';
import { loadDefinitions } from '../../server/src/fhir/definitions.js';
import { validate } from '../../server/src/fhir/validation.js';
import { ACCEPTED, BASE_URL, action, consent, purpose } from '../helpers/consent-cases.js';
import { R4_EXAMPLES_SKIP, r4ExamplesDir, readR4ConsentExamples } from '../helpers/r4-consent-examples.js';

/**
 * The Custodian Consent profile (fhir-profiles/StructureDefinition-custodian-consent.json)
 * states what parseConsent enforces. The parser is the gate; these tests keep the two from
 * disagreeing where the profile can speak: every Consent the parser accepts conforms, and the
 * profile's invariants catch the refusals they describe.
 */
const PROFILE = 'https://custodian.example.org/fhir/StructureDefinition/custodian-consent';
const defs = loadDefinitions(resolve(fileURLToPath(new URL('../../fhir-profiles', import.meta.url))));

const claiming = (c: Consent): Consent => ({ ...c, meta: { ...c.meta, profile: [PROFILE] } });
const errors = (c: Consent) => validate(defs, claiming(c)).filter((i) => i.severity === 'error' || i.severity === 'fatal');

describe('the Custodian Consent profile', () => {
  it('loads with a snapshot built from its differential', () => {
    const sd = defs.profile(PROFILE);
    assert.ok(sd, 'profile is known to the server');
    assert.equal(sd.type, 'Consent');
    assert.ok(sd.snapshot?.element?.some((e) => e.path === 'Consent.patient' && e.min === 1));
    assert.ok(defs.projectResources.some((r) => r.resourceType === 'ValueSet' && r.id === 'custodian-consent-purpose'));
  });

  for (const c of ACCEPTED) {
    it(`conforms: ${c.name}`, () => assert.deepEqual(errors(c.consent), []));
  }

  const nested = (p: Partial<ConsentProvision>): Consent => consent({ provision: { provision: [{ type: 'deny', provision: [{ type: 'permit', ...p }] }] } });
  const violations: Array<[string, Consent, string]> = [
    ['scope treatment', consent({ scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'treatment' }] } }), 'cust-consent-1'],
    ['no type anywhere', consent({ policyRule: undefined, policy: [{ uri: 'https://example.org/p' }] }), 'cust-consent-2'],
    ['writes only, two levels down', nested({ action: action('collect') }), 'cust-consent-3'],
    ['nested provision without type', consent({ provision: { provision: [{ type: 'deny', provision: [{}] }] } }), 'cust-consent-4'],
    ['purpose below a group root, two levels down', nested({ purpose: [purpose('BTG')] }), 'cust-consent-6'],
    ['class as a MIME type, two levels down', nested({ class: [{ system: 'urn:ietf:bcp:13', code: 'text/plain' }] }), 'cust-consent-7'],
    ['data related', nested({ data: [{ meaning: 'related', reference: { reference: 'Task/t' } }] }), 'cust-consent-8'],
    ['extension on a nested provision', nested({ extension: [{ url: 'https://example.org/x', valueString: 'y' }] }), 'cust-consent-10'],
  ];
  for (const [name, c, key] of violations) {
    it(`violates ${key}: ${name}, which the parser refuses too`, () => {
      assert.throws(() => parseConsent(c, BASE_URL), { status: 422 });
      assert.ok(errors(c).some((i) => i.details?.text?.includes(key)), JSON.stringify(errors(c)));
    });
  }

  const dir = r4ExamplesDir();
  it('agrees with the parser on every R4 Consent example', { skip: dir ? false : R4_EXAMPLES_SKIP }, () => {
    for (const example of readR4ConsentExamples(dir as string)) {
      let refused = false;
      try {
        parseConsent(example, BASE_URL);
      } catch {
        refused = true;
      }
      assert.equal(errors(example).length > 0, refused, `${example.id}: profile ${refused ? 'accepts' : 'refuses'} what the parser ${refused ? 'refuses' : 'accepts'}`);
    }
  });
});
