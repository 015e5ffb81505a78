import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_BASE_POLICY, parseBasePolicy } from '../../server/src/consent/base-policy.js';
import type { DataCategory } from '../../server/src/consent/data-categories.js';

const cats = (...c: DataCategory[]): ReadonlySet<DataCategory> => new Set(c);

describe('consent base policy', () => {
  it('defaults: opt-out for care, payment, operations; opt-in for research and marketing', () => {
    const p = parseBasePolicy(DEFAULT_BASE_POLICY);
    for (const g of ['treatment', 'emergency', 'payment', 'operations', 'patient-request', 'public-health'] as const) assert.equal(p.groupDefault(g), 'permit', g);
    assert.equal(p.groupDefault('research'), 'deny');
    assert.equal(p.groupDefault('marketing'), 'deny');
    assert.equal(parseBasePolicy('').canonical, p.canonical, 'an empty policy is the default');
  });

  it('refines per category: a configured deny wins, then a configured permit, then the group', () => {
    const p = parseBasePolicy('payment:substance-use=deny,research:vital-signs=permit,research:genetic=deny');
    assert.equal(p.decide('payment', cats('laboratory')), 'permit');
    assert.equal(p.decide('payment', cats('laboratory', 'substance-use')), 'deny');
    assert.equal(p.decide('research', cats('vital-signs')), 'permit');
    assert.equal(p.decide('research', cats('vital-signs', 'genetic')), 'deny');
    assert.equal(p.decide('research', cats('laboratory')), 'deny');
    assert.equal(p.groupDefault('payment'), 'permit', 'stored decisions are recorded against the group default');
  });

  it('says whether a group may be permitted anything: its default, or one category configured permit', () => {
    const p = parseBasePolicy('research:vital-signs=permit,marketing:genetic=deny,treatment=deny');
    assert.equal(p.mayPermit('research'), true, 'vital signs');
    assert.equal(p.mayPermit('marketing'), false, 'a refined deny permits nothing');
    assert.equal(p.mayPermit('treatment'), false);
    assert.equal(p.mayPermit('payment'), true);
    assert.equal(parseBasePolicy(DEFAULT_BASE_POLICY).mayPermit('research'), false);
  });

  it('has a canonical text that changes with the policy and not with its spelling', () => {
    const a = parseBasePolicy('research=deny,payment:substance-use=deny');
    const b = parseBasePolicy(' payment:substance-use=deny , research=deny ');
    assert.equal(a.canonical, b.canonical);
    assert.notEqual(a.canonical, parseBasePolicy('research=permit').canonical);
  });

  it('refuses what it does not understand', () => {
    assert.throws(() => parseBasePolicy('research'), /not <group>/);
    assert.throws(() => parseBasePolicy('researchers=deny'), /unknown purpose group/);
    assert.throws(() => parseBasePolicy('research:dna=deny'), /unknown data category/);
  });
});
