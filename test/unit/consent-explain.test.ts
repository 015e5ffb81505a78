import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { DEFAULT_BASE_POLICY, parseBasePolicy, type BasePolicy } from '../../server/src/consent/base-policy.js';
import type { ConsentPolicy, Provision, Window } from '../../server/src/consent/consent-policy.js';
import { ACT_CODE_SYSTEM, CONFIDENTIALITY_SYSTEM, DATA_CATEGORIES, type DataCategory } from '../../server/src/consent/data-categories.js';
import { ANYONE_ELSE, decide, type EvaluationContext, type Requester } from '../../server/src/consent/evaluate-consent.js';
import { categoryQuestion, explainCategory, type Explanation } from '../../server/src/consent/explain-consent.js';
import { loadLabeler } from '../../server/src/consent/load-labeler.js';
import { PURPOSE_GROUPS, type PurposeGroup } from '../../server/src/consent/purpose-groups.js';
import type { ResourceFacts } from '../../server/src/consent/resource-facts.js';
import { policy, provision } from '../helpers/consent-cases.js';

const labeler = loadLabeler(resolve(fileURLToPath(new URL('../../fhir-profiles', import.meta.url))));
const NOW = Date.parse('2025-06-01T00:00:00.000Z');
const DEFAULT_BASE = parseBasePolicy(DEFAULT_BASE_POLICY);
const REFINED_BASE = parseBasePolicy('research=deny,marketing=deny,payment:substance-use=deny,research:genetic=permit,treatment:mental-health=deny');

const ACTORS = ['Organization/employer', 'Organization/insurer', 'CareTeam/ct', 'Practitioner/doc', 'ResearchStudy/rs'];
/** Labels some category implies: a condition on them is known for every category. */
const IMPLIED_LABELS = [`${ACT_CODE_SYSTEM}|PSY`, `${ACT_CODE_SYSTEM}|HIV`, `${ACT_CODE_SYSTEM}|GDIS`, `${CONFIDENTIALITY_SYSTEM}|R`, `${CONFIDENTIALITY_SYSTEM}|N`];
/** Labels a client may add (they imply no category). */
const CLIENT_LABELS = [`${CONFIDENTIALITY_SYSTEM}|R`, `${CONFIDENTIALITY_SYSTEM}|V`, 'https://example.org/labels|X'];
const TYPES = ['Observation', 'Condition', 'DiagnosticReport'];
const CODES = ['http://loinc.org|75622-1', 'http://loinc.org|2345-7', 'http://snomed.info/sct|35489007'];
const PROFILES = ['https://example.org/StructureDefinition/p1', 'https://example.org/StructureDefinition/p2'];
const REFS = ['Observation/o1', 'Encounter/e1'];

const ctxOf = (consents: readonly ConsentPolicy[], base: BasePolicy = DEFAULT_BASE): EvaluationContext => ({
  consentsOf: (p) => consents.filter((c) => c.patient === p),
  base,
  now: NOW,
});

/** A resource of patient p whose only category is `category`, as the labeler would label it. */
function factsOf(category: DataCategory, over: Partial<ResourceFacts> = {}): ResourceFacts {
  const { labels } = categoryQuestion(labeler, 'p', category);
  return {
    resourceType: 'Observation',
    id: 'o9',
    patients: ['p'],
    categories: new Set([category]),
    codings: new Set(),
    profiles: new Set(),
    references: new Set(),
    ...over,
    labels: new Set([...labels, ...(over.labels ?? [])]),
  };
}

const explain = (consents: readonly ConsentPolicy[], category: DataCategory, requester: Requester, base?: BasePolicy): Explanation =>
  explainCategory(ctxOf(consents, base), categoryQuestion(labeler, 'p', category), requester);

const as = (group: PurposeGroup, ...identities: string[]): Requester => ({ identities: new Set(identities), group });

// ---- random consents

interface RawProvision extends Omit<Provision, 'path' | 'children'> {
  readonly children: readonly RawProvision[];
}

const sparse = <T>(arb: fc.Arbitrary<T[]>): fc.Arbitrary<T[]> => fc.oneof({ arbitrary: fc.constant([] as T[]), weight: 3 }, { arbitrary: arb, weight: 1 });
const optional = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, { arbitrary: arb, weight: 1 });
const windowArb: fc.Arbitrary<Window> = fc.constantFrom({ start: NOW - 1000 }, { end: NOW - 1000 }, { start: NOW + 1000 }, { start: NOW - 5000, end: NOW + 5000 });
const dataWindowArb: fc.Arbitrary<Window> = fc.constantFrom({ start: Date.parse('2020-01-01') }, { end: Date.parse('2020-01-01') }, { start: Date.parse('2019-01-01'), end: Date.parse('2021-12-31') });

/** One provision's own conditions; `unknowns` adds conditions on facts a category question does not know. */
function nodeArb(unknowns: boolean): fc.Arbitrary<Omit<RawProvision, 'children'>> {
  const none = <T>(): fc.Arbitrary<T[]> => fc.constant([] as T[]);
  return fc
    .record({
      type: fc.constantFrom<'permit' | 'deny'>('permit', 'deny'),
      period: optional(windowArb),
      actors: sparse(fc.subarray(ACTORS, { minLength: 1, maxLength: 2 })),
      purposes: sparse(fc.subarray([...PURPOSE_GROUPS], { minLength: 1, maxLength: 3 })),
      categories: sparse(fc.subarray([...DATA_CATEGORIES], { minLength: 1, maxLength: 4 })),
      resourceTypes: unknowns ? sparse(fc.subarray(TYPES, { minLength: 1, maxLength: 2 })) : none<string>(),
      profiles: unknowns ? sparse(fc.subarray(PROFILES, { minLength: 1, maxLength: 1 })) : none<string>(),
      codes: unknowns ? sparse(fc.subarray(CODES, { minLength: 1, maxLength: 2 })) : none<string>(),
      securityLabels: sparse(fc.subarray(unknowns ? [...new Set([...IMPLIED_LABELS, ...CLIENT_LABELS])] : IMPLIED_LABELS, { minLength: 1, maxLength: 2 })),
      dataPeriod: unknowns ? optional(dataWindowArb) : fc.constant(undefined),
      data: unknowns
        ? sparse(fc.subarray([{ meaning: 'instance' as const, reference: 'Observation/o1' }, { meaning: 'dependents' as const, reference: 'Encounter/e1' }], { minLength: 1 }))
        : none<{ meaning: 'instance' | 'dependents'; reference: string }>(),
    })
    .map(({ categories, resourceTypes, profiles, period, dataPeriod, ...rest }) => ({
      ...rest,
      ...(period ? { period } : {}),
      ...(dataPeriod ? { dataPeriod } : {}),
      classes: { resourceTypes, categories, profiles },
    }));
}

function treeArb(unknowns: boolean, depth: number): fc.Arbitrary<RawProvision> {
  if (depth === 0) return nodeArb(unknowns).map((n) => ({ ...n, children: [] }));
  return fc.tuple(nodeArb(unknowns), fc.array(treeArb(unknowns, depth - 1), { maxLength: 3 })).map(([n, children]) => ({ ...n, children }));
}

function withPaths(raw: RawProvision, path: string): Provision {
  return { ...raw, path, children: raw.children.map((c, i) => withPaths(c, `${path}.provision[${i}]`)) };
}

function consentsArb(unknowns: boolean): fc.Arbitrary<ConsentPolicy[]> {
  return fc
    .array(
      fc.record({
        scope: fc.constantFrom<ConsentPolicy['scope']>('patient-privacy', 'patient-privacy', 'research'),
        status: fc.constantFrom('active', 'active', 'active', 'inactive'),
        root: treeArb(unknowns, 2),
      }),
      { maxLength: 3 },
    )
    .map((cs) => cs.map((c, i) => ({ id: `c${i}`, versionId: String(i + 1), patient: 'p', scope: c.scope, status: c.status, root: withPaths(c.root, 'provision') })));
}

const requesterArb: fc.Arbitrary<Requester> = fc
  .record({ identities: fc.subarray([...ACTORS, 'Practitioner/other']), group: fc.constantFrom(...PURPOSE_GROUPS) })
  .map(({ identities, group }) => ({ identities: new Set(identities), group }));

const baseArb = fc.constantFrom(DEFAULT_BASE, REFINED_BASE);

const decisionFields = (d: { decision: string; basis?: string; consent?: string; provision?: string; patient?: string; identity?: string; group: string; categories: readonly string[] }) => ({
  decision: d.decision,
  basis: d.basis,
  consent: d.consent,
  provision: d.provision,
  patient: d.patient,
  identity: d.identity,
  group: d.group,
  categories: [...d.categories],
});

function labelUnknown(p: Provision, labels: ReadonlySet<string>): boolean {
  return (p.securityLabels.length > 0 && !p.securityLabels.some((l) => labels.has(l))) || p.children.some((c) => labelUnknown(c, labels));
}

describe('consent explain (category questions)', () => {
  it('equals decide on a resource of the category whenever every condition involved is known', () => {
    fc.assert(
      fc.property(consentsArb(false), requesterArb, baseArb, (consents, requester, base) => {
        const ctx = ctxOf(consents, base);
        for (const category of DATA_CATEGORIES) {
          const q = categoryQuestion(labeler, 'p', category);
          // A label the category does not imply is unknown (a client may have added it).
          if (consents.some((c) => labelUnknown(c.root, q.labels))) continue;
          const e = explainCategory(ctx, q, requester);
          const d = decide(ctx, factsOf(category), requester);
          assert.equal(e.outcomes.length, 1, category);
          assert.deepEqual(decisionFields(e), decisionFields(d), category);
          assert.deepEqual(e.outcomes[0]?.conditions, []);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never contradicts decide: a verdict holds for every resource of the category, and what decide says is one of the outcomes', () => {
    const factsArb = fc.record({
      resourceType: fc.constantFrom(...TYPES),
      id: fc.constantFrom('o1', 'o9'),
      codings: fc.subarray(CODES),
      profiles: fc.subarray(PROFILES),
      labels: fc.subarray(CLIENT_LABELS),
      date: optional(fc.integer({ min: Date.parse('2018-01-01'), max: Date.parse('2023-01-01') }).map((t) => ({ lo: t, hi: t + 86_399_999 }))),
      references: fc.subarray(REFS),
    });
    fc.assert(
      fc.property(consentsArb(true), requesterArb, baseArb, fc.constantFrom(...DATA_CATEGORIES), factsArb, (consents, requester, base, category, f) => {
        const ctx = ctxOf(consents, base);
        const e = explainCategory(ctx, categoryQuestion(labeler, 'p', category), requester);
        const { date, ...rest } = f;
        const d = decide(
          ctx,
          factsOf(category, {
            ...rest,
            ...(date ? { date } : {}),
            codings: new Set(f.codings),
            profiles: new Set(f.profiles),
            labels: new Set(f.labels),
            references: new Set(f.references),
          }),
          requester,
        );
        if (e.decision !== 'conditional') assert.equal(d.decision, e.decision);
        const actual = decisionFields(d);
        assert.ok(
          e.outcomes.some((o) => JSON.stringify(decisionFields(o)) === JSON.stringify(actual)),
          `decide gave ${JSON.stringify(actual)}, not among ${JSON.stringify(e.outcomes)}`,
        );
      }),
      { numRuns: 1000 },
    );
  });

  it('answers per actor: the employer is denied mental health by the nested provision, the insurer decides as anyone else', () => {
    const consents = [
      policy(provision('provision', 'permit', { children: [provision('provision.provision[0]', 'deny', { actors: ['Organization/employer'], classes: { categories: ['mental-health'] } })] }), {
        patient: 'p',
      }),
    ];
    const employerMh = explain(consents, 'mental-health', as('operations', 'Organization/employer'));
    assert.deepEqual(decisionFields(employerMh), {
      decision: 'deny',
      basis: 'consent',
      consent: 'Consent/c1/_history/3',
      provision: 'provision.provision[0]',
      patient: 'p',
      identity: 'Organization/employer',
      group: 'operations',
      categories: ['mental-health'],
    });
    const employerLab = explain(consents, 'laboratory', as('operations', 'Organization/employer'));
    assert.equal(employerLab.decision, 'permit');
    assert.equal(employerLab.provision, 'provision');
    const insurerMh = explain(consents, 'mental-health', as('payment', 'Organization/insurer'));
    assert.equal(insurerMh.decision, 'permit');
    assert.equal(insurerMh.identity, ANYONE_ELSE);
    assert.equal(insurerMh.provision, 'provision');
  });

  it('is conditional when a deciding provision tests the resource type, and lists both ways with their conditions', () => {
    const consents = [policy(provision('provision', 'permit', { children: [provision('provision.provision[0]', 'deny', { classes: { resourceTypes: ['Observation'] } })] }), { patient: 'p' })];
    const e = explain(consents, 'laboratory', as('treatment'));
    assert.equal(e.decision, 'conditional');
    assert.equal(e.provision, undefined);
    assert.deepEqual(
      e.outcomes.map((o) => [o.decision, o.provision, o.conditions]),
      [
        ['deny', 'provision.provision[0]', ['the resource is a Observation']],
        ['permit', 'provision', []],
      ],
    );
  });

  it('is conditional on codes within the category, and not for categories the provision excludes', () => {
    const consents = [
      policy(
        provision('provision', 'permit', {
          children: [provision('provision.provision[0]', 'deny', { classes: { categories: ['hiv-and-infectious-disease'] }, codes: ['http://loinc.org|75622-1'] })],
        }),
        { patient: 'p' },
      ),
    ];
    const hiv = explain(consents, 'hiv-and-infectious-disease', as('payment', 'Organization/insurer'));
    assert.equal(hiv.decision, 'conditional');
    assert.deepEqual(hiv.outcomes.find((o) => o.decision === 'deny')?.conditions, ['the resource contains one of the codes http://loinc.org|75622-1']);
    const lab = explain(consents, 'laboratory', as('payment', 'Organization/insurer'));
    assert.equal(lab.decision, 'permit');
    assert.equal(lab.outcomes.length, 1);
  });

  it('gives a verdict when every way it can go agrees, reporting the way without conditions', () => {
    const consents = [policy(provision('provision', 'permit', { children: [provision('provision.provision[0]', 'permit', { codes: ['http://loinc.org|2345-7'] })] }), { patient: 'p' })];
    const e = explain(consents, 'laboratory', as('treatment'));
    assert.equal(e.decision, 'permit');
    assert.equal(e.provision, 'provision');
    assert.equal(e.outcomes.length, 2);
  });

  it('knows the labels a category implies; other labels are a condition', () => {
    const consents = [
      policy(provision('provision', 'permit', { children: [provision('provision.provision[0]', 'deny', { securityLabels: [`${ACT_CODE_SYSTEM}|PSY`] })] }), { patient: 'p' }),
    ];
    assert.equal(explain(consents, 'mental-health', as('treatment')).decision, 'deny');
    const lab = explain(consents, 'laboratory', as('treatment'));
    assert.equal(lab.decision, 'conditional');
    assert.deepEqual(lab.outcomes.find((o) => o.decision === 'deny')?.conditions, [`the resource carries one of the security labels ${ACT_CODE_SYSTEM}|PSY`]);
  });

  it('follows the research rules: patient-privacy only denies research, a research Consent permits its study', () => {
    const privacy = policy(provision('provision', 'permit'), { id: 'a', patient: 'p' });
    assert.equal(explain([privacy], 'laboratory', as('research', 'ResearchStudy/rs')).basis, 'base-policy');
    assert.equal(explain([privacy], 'laboratory', as('research', 'ResearchStudy/rs')).decision, 'deny');
    const study = policy(
      provision('provision', 'permit', { actors: ['ResearchStudy/rs'], purposes: ['research'], children: [provision('provision.provision[0]', 'deny', { classes: { categories: ['genetic'] } })] }),
      { id: 'b', patient: 'p', scope: 'research' },
    );
    assert.equal(explain([privacy, study], 'laboratory', as('research', 'ResearchStudy/rs')).decision, 'permit');
    const genetic = explain([privacy, study], 'genetic', as('research', 'ResearchStudy/rs'));
    assert.deepEqual([genetic.decision, genetic.consent, genetic.provision], ['deny', 'Consent/b/_history/3', 'provision.provision[0]']);
    // The research Consent says nothing for treatment.
    assert.equal(explain([study], 'genetic', as('treatment', 'ResearchStudy/rs')).basis, 'base-policy');
  });

  it('falls back to the base policy, refined per category', () => {
    assert.equal(explain([], 'substance-use', as('payment'), REFINED_BASE).decision, 'deny');
    assert.equal(explain([], 'laboratory', as('payment'), REFINED_BASE).decision, 'permit');
    assert.equal(explain([], 'laboratory', as('marketing')).decision, 'deny');
  });
});
