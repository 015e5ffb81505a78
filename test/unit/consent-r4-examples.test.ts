import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConsent } from '../../server/src/consent/parse-consent.js';
import { FhirError } from '../../server/src/fhir/outcomes.js';
import { BASE_URL } from '../helpers/consent-cases.js';
import { R4_CONSENT_EXAMPLES, R4_EXAMPLES_SKIP, r4ExamplesDir, readR4ConsentExamples } from '../helpers/r4-consent-examples.js';

const dir = r4ExamplesDir();

describe('the FHIR R4 Consent examples through parseConsent', { skip: dir ? false : R4_EXAMPLES_SKIP }, () => {
  const examples = dir ? readR4ConsentExamples(dir) : [];

  it('every example has a row in the table and every row an example', () => {
    assert.ok(examples.length > 0, 'the package holds Consent examples');
    assert.deepEqual(examples.map((c) => c.id).sort(), Object.keys(R4_CONSENT_EXAMPLES).sort());
  });

  for (const example of examples) {
    const expected = R4_CONSENT_EXAMPLES[example.id as string];
    it(`${example.id}: ${expected ? expected.outcome : 'no row in the table'}`, () => {
      assert.ok(expected, `${example.id} has no row in R4_CONSENT_EXAMPLES (test/helpers/r4-consent-examples.ts)`);
      if (expected.outcome === 'accepted') {
        assert.deepEqual(parseConsent(example, BASE_URL), expected.policy);
        return;
      }
      assert.throws(
        () => parseConsent(example, BASE_URL),
        (err: unknown) => {
          assert.ok(err instanceof FhirError, String(err));
          assert.equal(err.status, 422);
          assert.deepEqual(err.issues[0]?.expression, [expected.expression]);
          assert.match(err.message, expected.reason);
          return true;
        },
      );
    });
  }
});
