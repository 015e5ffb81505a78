import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_BASE_POLICY, parseBasePolicy } from '../../server/src/consent/base-policy.js';
import { consentClause } from '../../server/src/consent/consent-tokens.js';
import { conjunctsOf, type Doc } from '../../server/src/fhir/search/query-doc.js';
import { candidatesOf } from '../../server/src/store/embedded/access-paths.js';
import { splitFilter } from '../../server/src/store/embedded/posting-predicate.js';

/**
 * The consent clause is one frozen object per kind of requester, ANDed into every search it
 * governs. The embedded engine compiles a frozen conjunct (its posting predicate, its
 * candidates) once per resource type and reuses that for every search, instead of compiling
 * the clause again each time; an unfrozen filter is compiled afresh, as before.
 */

const base = parseBasePolicy(DEFAULT_BASE_POLICY);
const code = (c: string): Doc => ({ 'idx.code.c': c });
const predicateOf = (filter: Doc, type: string) => splitFilter(filter, type).conjuncts.find((c) => c.decided)?.predicate;

describe('shared (frozen) clauses', () => {
  it('the consent clause is frozen all the way down', () => {
    const clause = consentClause(base, 'research', ['ResearchStudy/rs1']);
    const walk = (v: unknown): void => {
      if (v === null || typeof v !== 'object') return;
      assert.ok(Object.isFrozen(v), JSON.stringify(v));
      for (const c of Object.values(v)) walk(c);
    };
    walk(clause);
    assert.throws(() => ((clause.$or as Doc[]).push({}) as unknown), TypeError);
  });

  it('stays the same object as a conjunct of the filter it is ANDed into', () => {
    const clause = consentClause(base, 'research', ['ResearchStudy/rs1']);
    const conjuncts = conjunctsOf({ $and: [{ $and: [code('a'), code('b')] }, clause] });
    assert.equal(conjuncts.length, 3);
    assert.equal(conjuncts[2], clause);
    assert.deepEqual(conjuncts.slice(0, 2), [code('a'), code('b')]);
    // A document of several clauses is still split into one conjunct each.
    assert.deepEqual(conjunctsOf({ 'idx.a': 1, 'idx.b': 2 }), [{ 'idx.a': 1 }, { 'idx.b': 2 }]);
  });

  it('is compiled once per type, for every search it is part of', () => {
    const clause = consentClause(base, 'research', ['ResearchStudy/rs1']);
    const first = predicateOf({ $and: [code('a'), clause] }, 'Observation');
    assert.ok(first, 'the clause is decided by postings');
    assert.equal(predicateOf({ $and: [code('b'), clause] }, 'Observation'), first, 'same predicate for another search');
    assert.equal(candidatesOf(clause, 'Observation'), candidatesOf(clause, 'Observation'), 'same candidates');
    assert.ok(Object.isFrozen(candidatesOf(clause, 'Observation')), 'handed out frozen');
    // An equal clause that is not frozen is compiled afresh; the answers are the same.
    const copy = JSON.parse(JSON.stringify(clause)) as Doc;
    const fresh = predicateOf({ $and: [code('a'), copy] }, 'Observation');
    assert.ok(fresh && fresh !== first);
    assert.deepEqual(candidatesOf(copy, 'Observation'), candidatesOf(clause, 'Observation'));
    for (const tokens of [[], ['N|ResearchStudy/rs1'], ['N|ResearchStudy/rs1', '~ResearchStudy/rs1|research'], ['~*|research']]) {
      const has = (path: string, value: string | number): boolean => path === '_consent' && tokens.includes(value as string);
      assert.equal(first(has), fresh(has), tokens.join(','));
    }
  });
});
