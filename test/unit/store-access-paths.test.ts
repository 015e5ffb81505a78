import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { candidatesOf, literalPrefix } from '../../server/src/store/embedded/access-paths.js';
import { splitFilter } from '../../server/src/store/embedded/posting-predicate.js';
import { MAX_POSTED_CHARS, NUMBER_MAX, NUMBER_MIN, isPostedFor, isPostedPath, postingsOf } from '../../server/src/store/embedded/postings.js';

const LOINC = 'http://loinc.org';

describe('postingsOf: what a document is indexed under', () => {
  it('posts numbers, top-level strings and codes; not systems, texts or units', () => {
    const posted = [
      ...postingsOf('Observation', {
        lastUpdatedMs: 5,
        idx: {
          subject: ['Patient/1'],
          code: [{ s: LOINC, c: '1234-5', t: 'glucose' }, { t: 'glucose' }],
          date: [{ lo: 10, hi: 20 }],
          'value-quantity': [{ v: 7.5, s: 'http://unitsofmeasure.org', c: 'mg', u: 'milligram' }],
          combo: [{ c0: [{ s: LOINC, c: 'A' }], c1: [{ v: 2 }] }],
          flag: [true, null],
        },
      }).values(),
    ].sort();
    assert.deepEqual(posted, [
      ['@lastUpdatedMs', 5],
      ['code.c', '1234-5'],
      ['combo.c0.c', 'A'],
      ['combo.c1.v', 2],
      ['date.hi', 20],
      ['date.lo', 10],
      ['subject', 'Patient/1'],
      ['value-quantity.c', 'mg'],
      ['value-quantity.v', 7.5],
    ]);
  });

  it('keeps 1 and "1" apart and posts a repeated value once', () => {
    const posted = [...postingsOf('Observation', { lastUpdatedMs: 0, idx: { x: ['1', 1, '1'] } }).values()].filter(([p]) => p === 'x');
    assert.deepEqual(posted, [['x', '1'], ['x', 1]]);
  });

  it('truncates long strings so every key fits LMDB', () => {
    const long = 'é'.repeat(MAX_POSTED_CHARS + 50);
    const [[, value]] = [...postingsOf('Observation', { lastUpdatedMs: 0, idx: { name: [long] } }).values()];
    assert.equal(value, long.slice(0, MAX_POSTED_CHARS));
    // An odd start puts a high surrogate at the cut.
    const surrogates = `a${'😀'.repeat(MAX_POSTED_CHARS)}`;
    const [[, cut]] = [...postingsOf('Observation', { lastUpdatedMs: 0, idx: { name: [surrogates] } }).values()];
    assert.equal(cut, surrogates.slice(0, MAX_POSTED_CHARS - 1), 'never half a surrogate pair');
  });

  it('isPostedPath agrees with postingsOf', () => {
    assert.equal(isPostedPath('code.s', 'x'), false);
    assert.equal(isPostedPath('code.c', 'x'), true);
    assert.equal(isPostedPath('name', 'x'), true);
    assert.equal(isPostedPath('anything.deep', 3), true);
  });
});

describe('candidatesOf: what the planner recognises in a query document', () => {
  it('a reference equality is one exact value', () => {
    assert.deepEqual(candidatesOf({ 'idx.subject': 'Patient/1' }, 'Observation'), [{ ranges: [{ kind: 'eq', path: 'subject', value: 'Patient/1' }], exact: true }]);
    assert.deepEqual(candidatesOf({ 'idx.subject': { $in: ['Patient/1', 'Patient/2', 'Patient/1'] } }, 'Observation'), [
      { ranges: [{ kind: 'eq', path: 'subject', value: 'Patient/1' }, { kind: 'eq', path: 'subject', value: 'Patient/2' }], exact: true },
    ]);
  });

  it('a token is served by its code; a system alone is not posted', () => {
    assert.deepEqual(candidatesOf({ 'idx.code': { $elemMatch: { s: LOINC, c: 'X' } } }, 'Observation'), [
      { ranges: [{ kind: 'eq', path: 'code.c', value: 'X' }], exact: false },
    ]);
    assert.deepEqual(candidatesOf({ 'idx.code': { $elemMatch: { c: 'X' } } }, 'Observation'), [{ ranges: [{ kind: 'eq', path: 'code.c', value: 'X' }], exact: true }]);
    assert.deepEqual(candidatesOf({ 'idx.code': { $elemMatch: { s: LOINC } } }, 'Observation'), []);
  });

  it('a date eq becomes closed ranges on lo and on hi (lo <= hi in every entry)', () => {
    const c = candidatesOf({ 'idx.date': { $elemMatch: { lo: { $gte: 100 }, hi: { $lte: 199 } } } }, 'Observation');
    assert.deepEqual(c.map((x) => x.ranges), [[{ kind: 'between', path: 'date.lo', lo: 100, hi: 199 }], [{ kind: 'between', path: 'date.hi', lo: 100, hi: 199 }]]);
  });

  it('two bounds on a multi-valued field stay separate ranges (each element may meet one)', () => {
    const c = candidatesOf({ 'idx.value': { $gte: 1, $lt: 5 } }, 'Observation');
    assert.deepEqual(c.map((x) => x.ranges), [[{ kind: 'between', path: 'value', lo: 1, hi: NUMBER_MAX }], [{ kind: 'between', path: 'value', lo: NUMBER_MIN, hi: 5 }]]);
  });

  it('bounds combine on a document-level scalar and inside $elemMatch on a number field', () => {
    assert.deepEqual(candidatesOf({ lastUpdatedMs: { $gt: 1, $lte: 9 } }, 'Observation')[0]!.ranges, [{ kind: 'between', path: '@lastUpdatedMs', lo: 1, hi: 9 }]);
    assert.deepEqual(candidatesOf({ 'idx.q': { $elemMatch: { v: { $gte: 1, $lt: 2 } } } }, 'Observation')[0]!.ranges, [{ kind: 'between', path: 'q.v', lo: 1, hi: 2 }]);
  });

  it('a string prefix is a prefix range; a contains search is not recognised', () => {
    assert.deepEqual(candidatesOf({ 'idx.name': { $regex: '^smi' } }, 'Observation'), [{ ranges: [{ kind: 'prefix', path: 'name', prefix: 'smi' }], exact: false }]);
    assert.deepEqual(candidatesOf({ 'idx.name': { $regex: 'smi' } }, 'Observation'), []);
    assert.deepEqual(candidatesOf({ 'idx.name': { $regex: '^smi', $options: 'i' } }, 'Observation'), []);
  });

  it('ids are explicit and exact; $or unions its branches; $and lists every branch', () => {
    assert.deepEqual(candidatesOf({ id: { $in: ['a', 'b'] } }, 'Observation'), [{ ids: ['a', 'b'], ranges: [], exact: true }]);
    assert.deepEqual(candidatesOf({ id: { $in: [] } }, 'Observation'), [{ ids: [], ranges: [], exact: true }]);
    assert.deepEqual(candidatesOf({ 'idx.subject': { $in: [] } }, 'Observation'), [{ ranges: [], exact: true }]);
    assert.deepEqual(candidatesOf({ $or: [{ id: 'a' }, { 'idx.subject': 'Patient/1' }] }, 'Observation'), [
      { ids: ['a'], ranges: [{ kind: 'eq', path: 'subject', value: 'Patient/1' }], exact: true },
    ]);
    const and = candidatesOf({ $and: [{ 'idx.subject': 'Patient/1' }, { 'idx.name': { $regex: '^a' } }] }, 'Observation');
    assert.equal(and.length, 2);
    assert.ok(and.every((c) => !c.exact));
  });

  it('negations, missing, $ne, null and whole-object equality offer nothing', () => {
    for (const filter of [
      { $nor: [{ 'idx.subject': 'Patient/1' }] },
      { 'idx.status': { $exists: false } },
      { 'idx.status': { $exists: true } },
      { 'idx.value': { $not: { $gte: 3 } } },
      { 'idx.value': { $ne: 3 } },
      { 'idx.value': null },
      { 'idx.code': { s: LOINC, c: 'X' } },
      { $or: [{ 'idx.subject': 'Patient/1' }, { $nor: [{ id: 'x' }] }] },
      { $where: 'true' },
    ]) {
      assert.deepEqual(candidatesOf(filter, 'Observation'), [], JSON.stringify(filter));
    }
  });

  it('a value longer than a posting key is looked up truncated and is no longer exact', () => {
    const long = 'x'.repeat(MAX_POSTED_CHARS + 1);
    assert.deepEqual(candidatesOf({ 'idx.name': long }, 'Observation'), [{ ranges: [{ kind: 'eq', path: 'name', value: long.slice(0, MAX_POSTED_CHARS) }], exact: false }]);
  });
});

describe('per-type posting policy: an AuditEvent is not posted under the values every event shares', () => {
  const idx = {
    _profile: ['https://custodian.example.org/fhir/StructureDefinition/custodian-auditevent'],
    type: [{ s: 'http://terminology.hl7.org/CodeSystem/audit-event-type', c: 'rest' }],
    'entity-type': [{ c: '1' }, { c: '2' }],
    address: ['10.0.0.7'],
    'address:exact': ['10.0.0.7'],
    patient: ['Patient/p1'],
    outcome: [{ c: '0' }],
  };

  it('postingsOf leaves those paths out for AuditEvent and keeps them for other types', () => {
    const paths = (type: string) => [...new Set([...postingsOf(type, { lastUpdatedMs: 5, idx }).values()].map(([p]) => p))].sort();
    assert.deepEqual(paths('AuditEvent'), ['@lastUpdatedMs', 'address', 'outcome.c', 'patient']);
    assert.deepEqual(paths('Basic'), ['@lastUpdatedMs', '_profile', 'address', 'address:exact', 'entity-type.c', 'outcome.c', 'patient', 'type.c']);
    assert.equal(isPostedFor('AuditEvent', 'type.c'), false);
    assert.equal(isPostedFor('AuditEvent', 'subtype.c'), true);
    assert.equal(isPostedFor('Observation', 'type.c'), true);
  });

  it('the planner offers no candidate on them, and the posting predicates leave them to the query evaluator', () => {
    const onType = { 'idx.type': { $elemMatch: { c: 'rest' } } };
    assert.deepEqual(candidatesOf(onType, 'AuditEvent'), []);
    assert.equal(candidatesOf(onType, 'Basic').length, 1);
    const both = { $and: [{ 'idx.patient': 'Patient/p1' }, { 'idx._profile': 'x' }] };
    assert.deepEqual(
      candidatesOf(both, 'AuditEvent').map((c) => c.ranges.map((r) => r.path)),
      [['patient']],
    );
    // Inside an $or, a branch's unposted clause is passed over for its posted one, in any key order.
    const either = (first: Record<string, unknown>) => candidatesOf({ $or: [first, { 'idx.patient': 'Patient/p2' }] }, 'AuditEvent');
    const union = [{ ranges: [{ kind: 'eq', path: 'patient', value: 'Patient/p1' }, { kind: 'eq', path: 'patient', value: 'Patient/p2' }], exact: false }];
    assert.deepEqual(either({ 'idx.type': { $elemMatch: { c: 'rest' } }, 'idx.patient': 'Patient/p1' }), union);
    assert.deepEqual(either({ 'idx.patient': 'Patient/p1', 'idx.type': { $elemMatch: { c: 'rest' } } }), union);
    // A branch with nothing posted withdraws the union whole.
    assert.deepEqual(candidatesOf({ $or: [{ 'idx.patient': 'Patient/p1' }, { 'idx.site': { $elemMatch: { c: 'x' } } }] }, 'AuditEvent'), []);
    const split = splitFilter({ 'idx._profile': { $ne: 'x' }, 'idx.patient': 'Patient/p1' }, 'AuditEvent');
    assert.equal(split.decidable.length, 1);
    assert.deepEqual(split.rest, { 'idx._profile': { $ne: 'x' } });
    assert.equal(splitFilter({ 'idx._profile': { $ne: 'x' } }, 'Basic').decidable.length, 1);
  });
});

describe('literalPrefix', () => {
  it('reads anchored literal patterns, including escaped metacharacters', () => {
    assert.equal(literalPrefix('^smith', undefined), 'smith');
    assert.equal(literalPrefix('^a\\.b\\(c\\)', undefined), 'a.b(c)');
    assert.equal(literalPrefix(/^ab/, undefined), 'ab');
  });

  it('refuses anything that is not a plain prefix', () => {
    for (const p of ['smith', '^smi.h', '^a|b', '^ab$', '^a\\d', '^a*']) assert.equal(literalPrefix(p, undefined), undefined, p);
    assert.equal(literalPrefix(/^ab/i, undefined), undefined);
    assert.equal(literalPrefix('^ab', 'm'), undefined);
  });
});
