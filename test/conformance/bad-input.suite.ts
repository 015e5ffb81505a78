import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConformanceContext } from '../helpers/search-conformance-app.js';
import { issueTexts, matchIds, outcomeTexts, search } from '../helpers/search-http.js';

/**
 * One bad-input case (issue 3 item 7). `strict`/`lenient` are the expected statuses under
 * `Prefer: handling=strict` and `handling=lenient` (R4 §3.1.1.5.8 "Handling errors"):
 * - unknown or unsupported parameters: strict → 400, lenient → 200 with a warning in an
 *   `outcome` entry; either way the message names `names`.
 * - malformed values stay 400 under both: they cannot be ignored without changing the answer.
 * - operator-looking values are plain values: 200 and `noMatches`, never an unintended query.
 */
interface BadInput {
  query: string;
  strict: 200 | 400;
  lenient: 200 | 400;
  /** Text the diagnostic or warning must contain (the parameter's name). */
  names?: string;
  /** A 200 answer must match nothing (an injected operator must not have run). */
  noMatches?: boolean;
  why?: string;
}

const unknown = (query: string, names: string, why?: string): BadInput => ({ query, strict: 400, lenient: 200, names, ...(why ? { why } : {}) });
const malformed = (query: string, names: string, why?: string): BadInput => ({ query, strict: 400, lenient: 400, names, ...(why ? { why } : {}) });
const inert = (query: string, why?: string): BadInput => ({ query, strict: 200, lenient: 200, noMatches: true, ...(why ? { why } : {}) });

export const BAD_INPUT: BadInput[] = [
  unknown('Patient?colour=blue', 'colour'),
  unknown('Patient?$where=1', '$where'),
  unknown('Patient?name[$regex]=.*', 'name[$regex]'),
  unknown('Patient?__proto__=x', '__proto__'),
  unknown('Patient?constructor=x', 'constructor'),
  unknown('Patient?name:foo=x', 'name', 'unsupported modifier'),
  unknown('Patient?gender:contains=male', 'gender', ':contains is not a token modifier'),
  unknown('Observation?code.name=x', 'code', 'chain on a token parameter'),
  unknown('Observation?subject:Spaceship=1', 'subject', 'no such target type'),
  unknown('Patient?_has:Spaceship:patient:code=x', '_has', 'no such resource type'),
  unknown('Patient?_has:Observation:colour:code=x', 'colour', 'no such reference parameter'),
  unknown('Patient?_sort=colour', 'colour'),
  unknown('Observation?_include=Observation:colour', 'colour'),
  unknown('Observation?_include=Spaceship:patient', 'Spaceship'),
  unknown('Observation?subject:Spaceship.name=x', 'subject', 'chain through an unknown type'),
  unknown('Observation?patient.name.family=x', 'name', 'chain through a string parameter'),
  unknown('Patient?_revinclude=Observation:colour', 'colour'),
  malformed('Patient?birthdate=1999-13-45', 'birthdate'),
  malformed('Patient?birthdate=xx2020', 'birthdate', 'malformed prefix'),
  malformed('Patient?birthdate=ge', 'birthdate', 'prefix without a date'),
  malformed('Patient?birthdate=2020-1-1', 'birthdate'),
  malformed('Observation?date=2024-02-30', 'date', 'no such day'),
  malformed('Observation?date=2024-03-01T25:00:00Z', 'date'),
  malformed('Patient?birthdate={"$gt":""}', 'birthdate'),
  malformed('RiskAssessment?probability=abc', 'probability'),
  malformed('RiskAssessment?probability={"$gt":0}', 'probability'),
  malformed('Observation?value-quantity=abc|http://unitsofmeasure.org|kg', 'value-quantity'),
  malformed('Observation?code-value-quantity=8867-4', 'code-value-quantity', 'composite without its second part'),
  malformed('Observation?code-value-quantity=8867-4$1$2', 'code-value-quantity', 'composite with a part too many'),
  malformed('RiskAssessment?probability=NaN', 'probability'),
  malformed('RiskAssessment?probability=Infinity', 'probability'),
  malformed('Patient?_lastUpdated=yesterday', '_lastUpdated'),
  malformed('Patient?name:missing=maybe', 'name', ':missing takes true or false'),
  malformed('Patient?_count=-5', '_count'),
  malformed('Patient?_count=abc', '_count'),
  malformed('Patient?_count=1.5', '_count'),
  malformed('Patient?_summary=maybe', '_summary'),
  malformed('Patient?_total=lots', '_total'),
  { query: 'Patient?_count=100000000000000000000', strict: 200, lenient: 200, why: 'an absurd _count is capped to the maximum page size, as R4 allows' },
  inert('Patient?name=$where'),
  inert('Patient?name={"$gt":""}'),
  inert('Patient?_id={"$gt":""}'),
  inert('Patient?family=.*', 'regex metacharacters are literal'),
  inert('Patient?name:contains=.*'),
  inert('Patient?name=^', 'regex anchors are literal'),
  inert('Organization?name=a|b', 'as a regex /^a|b/ this would match "Acme Health"'),
  inert('Patient?name=(chen|smith)'),
  inert('Patient?gender={"$ne":null}'),
  inert('Patient?identifier=x|{"$gt":""}'),
  inert('Observation?subject={"$ne":""}'),
  inert('ValueSet?url={"$regex":".*"}'),
];

export function badInputSuite(ctx: ConformanceContext): void {
  describe('bad input: 4xx OperationOutcomes or warnings, never a 5xx or an unintended query', () => {
    for (const c of BAD_INPUT) {
      for (const handling of ['strict', 'lenient'] as const) {
        const expected = c[handling];
        it(`${c.query} [${handling}] → ${expected}${c.why ? ` (${c.why})` : ''}`, async () => {
          const res = await search(ctx.app.app, c.query, { Prefer: `handling=${handling}` });
          assert.ok(res.status < 500, `never a 5xx: got ${res.status}`);
          assert.equal(res.status, expected, JSON.stringify(res.body).slice(0, 600));
          if (expected === 400) {
            assert.equal(res.body.resourceType, 'OperationOutcome');
            const text = issueTexts(res.body).join(' | ');
            if (c.names) assert.ok(text.toLowerCase().includes(c.names.toLowerCase()), `the diagnostic names '${c.names}': ${text}`);
            return;
          }
          assert.equal(res.body.resourceType, 'Bundle');
          if (c.noMatches) assert.deepEqual(matchIds(res.body), []);
          if (handling === 'lenient' && c.strict === 400 && c.names) {
            const warnings = outcomeTexts(res.body).join(' | ');
            assert.ok(warnings.toLowerCase().includes(c.names.toLowerCase()), `a warning names '${c.names}': ${warnings || '(no outcome entry)'}`);
          }
        });
      }
    }
  });
}
