import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { CATEGORY_SYSTEM, DATA_CATEGORIES } from '../../server/src/consent/data-categories.js';
import { observation, patient } from './app-fixture.js';
import { labObservation, startAuthFixture, type AuthFixture } from './auth-fixture.js';
import { actor, category, consent, resourceType } from '../helpers/consent-cases.js';

/**
 * `Patient/{id}/$consent-decision` (issue 5 §5): an insurer and an employer, a Consent of
 * Patient/p that lets everyone see everything except mental health for the employer; the
 * decisions per actor, purpose and category with the deciding provision, concrete decisions
 * on resources, conditional answers, who may ask, and bad requests.
 */

const OP = '/fhir/Patient/p/$consent-decision';

interface Result {
  category?: string;
  resource?: string;
  decision: string;
  basis?: string;
  consent?: string;
  provision?: string;
  identity?: string;
  categories: string[];
  outcomes: Array<{ decision: string; provision?: string; conditions: string[] }>;
}

function results(body: Parameters): Result[] {
  return (body.parameter ?? [])
    .filter((p) => p.name === 'result')
    .map((r) => {
      const parts = r.part ?? [];
      const one = (name: string): ParametersParameter | undefined => parts.find((p) => p.name === name);
      return {
        ...(one('category') ? { category: one('category')?.valueCoding?.code as string } : {}),
        ...(one('resource') ? { resource: one('resource')?.valueReference?.reference as string } : {}),
        decision: one('decision')?.valueCode as string,
        ...(one('basis') ? { basis: one('basis')?.valueCode as string } : {}),
        ...(one('consent') ? { consent: one('consent')?.valueReference?.reference as string } : {}),
        ...(one('provision') ? { provision: one('provision')?.valueString as string } : {}),
        ...(one('identity') ? { identity: one('identity')?.valueString as string } : {}),
        categories: parts.filter((p) => p.name === 'categories').map((p) => p.valueCoding?.code as string),
        outcomes: parts
          .filter((p) => p.name === 'outcome')
          .map((o) => ({
            decision: o.part?.find((p) => p.name === 'decision')?.valueCode as string,
            ...(o.part?.some((p) => p.name === 'provision') ? { provision: o.part?.find((p) => p.name === 'provision')?.valueString as string } : {}),
            conditions: (o.part ?? []).filter((p) => p.name === 'condition').map((p) => p.valueString as string),
          })),
      };
    });
}

const brief = (r: Result): [string | undefined, string, string | undefined, string | undefined] => [r.category ?? r.resource, r.decision, r.provision, r.identity];

describe('Patient/$consent-decision', () => {
  let f: AuthFixture;
  const put = async (r: Record<string, unknown>): Promise<void> => {
    const res = await request(f.t.app).put(`/fhir/${r.resourceType as string}/${r.id as string}`).set('Content-Type', 'application/fhir+json').send(r);
    assert.ok(res.status === 200 || res.status === 201, `${r.resourceType as string}/${r.id as string}: ${res.status} ${JSON.stringify(res.body)}`);
  };
  const admin = (path: string) => request(f.t.app).get(path);

  before(async () => {
    f = await startAuthFixture();
    await put({ ...patient('Pat'), id: 'p' });
    await put({ ...patient('Quinn'), id: 'q' });
    await put({ resourceType: 'Organization', id: 'insurer', name: 'Insurer' });
    await put({ resourceType: 'Organization', id: 'employer', name: 'Employer' });
    await put({ ...observation('p', '44249-1', 12), id: 'p-phq9', category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey' }] }] });
    await put(labObservation('p-lab', 'p'));
    await put({
      ...consent({
        id: 'c1',
        patient: { reference: 'Patient/p' },
        provision: { type: 'permit', provision: [{ type: 'deny', actor: [actor('Organization/employer')], class: [category('mental-health')] }] },
      }),
      meta: undefined,
    });
    // Quinn: Observations are withheld from insurers' payment staff, whatever their category.
    await put({
      ...consent({
        id: 'c2',
        patient: { reference: 'Patient/q' },
        provision: { type: 'permit', provision: [{ type: 'deny', actor: [actor('Organization/insurer')], class: [resourceType('Observation')] }] },
      }),
      meta: undefined,
    });
  });
  after(() => f.t.close());

  it('the employer may not see mental health for HPRGRP, by the nested provision; laboratory is permitted by the root', async () => {
    const res = await admin(`${OP}?purpose=HPRGRP&actor=Organization/employer&category=mental-health&category=laboratory`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const body = res.body as Parameters;
    assert.equal(body.resourceType, 'Parameters');
    const top = (name: string) => body.parameter?.filter((p) => p.name === name);
    assert.equal(top('patient')?.[0]?.valueReference?.reference, 'Patient/p');
    assert.deepEqual(top('purpose')?.[0]?.valueCoding, { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HPRGRP' });
    assert.equal(top('group')?.[0]?.valueCode, 'operations');
    assert.deepEqual(top('actor')?.map((p) => p.valueReference?.reference), ['Organization/employer']);
    const [mh, lab] = results(body);
    assert.deepEqual(mh, {
      category: 'mental-health',
      decision: 'deny',
      basis: 'consent',
      consent: 'Consent/c1/_history/1',
      provision: 'provision.provision[0]',
      identity: 'Organization/employer',
      categories: ['mental-health'],
      outcomes: [],
    });
    assert.deepEqual(brief(lab as Result), ['laboratory', 'permit', 'provision', 'Organization/employer']);
  });

  it('the insurer, not named by the Consent, is decided as anyone else: permitted both for HPAYMT', async () => {
    const res = await admin(`${OP}?purpose=HPAYMT&actor=Organization/insurer&category=mental-health,laboratory`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(results(res.body).map(brief), [
      ['mental-health', 'permit', 'provision', '*'],
      ['laboratory', 'permit', 'provision', '*'],
    ]);
  });

  it('the employer for HPAYMT and the insurer for HPRGRP: the purpose does not change this Consent', async () => {
    const employer = await admin(`${OP}?purpose=HPAYMT&actor=Organization/employer&category=mental-health&category=laboratory`);
    assert.deepEqual(results(employer.body).map(brief), [
      ['mental-health', 'deny', 'provision.provision[0]', 'Organization/employer'],
      ['laboratory', 'permit', 'provision', 'Organization/employer'],
    ]);
    const insurer = await admin(`${OP}?purpose=HPRGRP&actor=Organization/insurer&category=mental-health`);
    assert.deepEqual(results(insurer.body).map(brief), [['mental-health', 'permit', 'provision', '*']]);
  });

  it('without category answers every category; without actor decides for anyone else', async () => {
    const res = await admin(`${OP}?purpose=HMARKT`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const all = results(res.body);
    assert.deepEqual(
      all.map((r) => r.category),
      [...DATA_CATEGORIES],
    );
    // The Consent's root permits everyone: marketing too, despite the opt-in base policy.
    assert.ok(all.every((r) => r.decision === 'permit' && r.provision === 'provision' && r.identity === '*'));
  });

  it('POST with a Parameters body answers the same', async () => {
    const res = await request(f.t.app)
      .post(OP)
      .set('Content-Type', 'application/fhir+json')
      .send({
        resourceType: 'Parameters',
        parameter: [
          { name: 'purpose', valueCoding: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HPRGRP' } },
          { name: 'actor', valueReference: { reference: 'Organization/employer' } },
          { name: 'category', valueCoding: { system: CATEGORY_SYSTEM, code: 'mental-health' } },
          { name: 'category', valueCode: 'laboratory' },
        ],
      });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(results(res.body).map(brief), [
      ['mental-health', 'deny', 'provision.provision[0]', 'Organization/employer'],
      ['laboratory', 'permit', 'provision', 'Organization/employer'],
    ]);
  });

  it('resource: the concrete decision on its current version, with its categories', async () => {
    const mh = await admin(`${OP}?purpose=HPRGRP&actor=Organization/employer&resource=Observation/p-phq9`);
    assert.equal(mh.status, 200, JSON.stringify(mh.body));
    const [r] = results(mh.body);
    assert.deepEqual(brief(r as Result), ['Observation/p-phq9/_history/1', 'deny', 'provision.provision[0]', 'Organization/employer']);
    assert.deepEqual(r?.categories, ['mental-health']);
    const lab = await admin(`${OP}?purpose=HPRGRP&actor=Organization/employer&resource=Observation/p-lab`);
    assert.deepEqual(results(lab.body).map(brief), [['Observation/p-lab/_history/1', 'permit', 'provision', 'Organization/employer']]);
    assert.deepEqual(results(lab.body)[0]?.categories, ['laboratory']);
  });

  it('is conditional when the Consent tests what only a resource has (its type), and lists both ways', async () => {
    const res = await admin('/fhir/Patient/q/$consent-decision?purpose=HPAYMT&actor=Organization/insurer&category=laboratory');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const [r] = results(res.body);
    assert.equal(r?.decision, 'conditional');
    assert.equal(r?.provision, undefined);
    assert.deepEqual(r?.outcomes, [
      { decision: 'deny', provision: 'provision.provision[0]', conditions: ['the resource is a Observation'] },
      { decision: 'permit', provision: 'provision', conditions: [] },
    ]);
  });

  it('the patient themself may ask; a clinician, or a patient asking about someone else, may not (403)', async () => {
    const self = await f.as({ scope: 'patient/*.rs', patient: 'p', fhirUser: 'Patient/p', roles: ['patient'], purpose_of_use: ['PATRQT'] });
    const res = await self.get(`${OP}?purpose=HPRGRP&actor=Organization/employer&category=mental-health`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(results(res.body).map(brief), [['mental-health', 'deny', 'provision.provision[0]', 'Organization/employer']]);
    const clinician = await f.as({ scope: 'user/*.rs', fhirUser: 'Practitioner/doc', roles: ['clinician'], purpose_of_use: ['TREAT'] });
    const denied = await clinician.get(`${OP}?purpose=HPRGRP&category=mental-health`);
    assert.equal(denied.status, 403, JSON.stringify(denied.body));
    assert.equal(denied.body.resourceType, 'OperationOutcome');
    assert.equal(denied.body.issue[0].details.text, '$consent-decision is open to data stewards (role admin) and to the patient themself');
    const other = await f.as({ scope: 'patient/*.rs', patient: 'q', fhirUser: 'Patient/q', roles: ['patient'], purpose_of_use: ['PATRQT'] });
    assert.equal((await other.get(`${OP}?purpose=HPRGRP`)).status, 403);
  });

  it('404 for a patient that does not exist and for other resource types; 404 for a resource that does not', async () => {
    const unknown = await admin('/fhir/Patient/nobody/$consent-decision?purpose=HPRGRP');
    assert.equal(unknown.status, 404, JSON.stringify(unknown.body));
    assert.equal(unknown.body.resourceType, 'OperationOutcome');
    assert.equal((await admin('/fhir/Observation/p-lab/$consent-decision?purpose=HPRGRP')).status, 404);
    assert.equal((await admin(`${OP}?purpose=HPRGRP&resource=Observation/nothing`)).status, 404);
  });

  it('400 OperationOutcome for bad parameters', async () => {
    for (const query of [
      'purpose=NOPE',
      '',
      'purpose=HPRGRP&purpose=HPAYMT',
      'purpose=http://example.org|HPRGRP',
      'purpose=HPRGRP&category=nonsense',
      'purpose=HPRGRP&actor=not-a-reference',
      'purpose=HPRGRP&actor=Observation/p-lab',
      'purpose=HPRGRP&resource=Observation/p-lab&category=laboratory',
      'purpose=HPRGRP&resource=Observation/a-lab',
      'purpose=HPRGRP&colour=blue',
    ]) {
      const res = await admin(`${OP}?${query}`);
      assert.equal(res.status, 400, `${query}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.resourceType, 'OperationOutcome');
    }
    const body = await request(f.t.app).post(OP).set('Content-Type', 'application/fhir+json').send({ resourceType: 'Patient' });
    assert.equal(body.status, 400);
  });

  it('the CapabilityStatement lists the operation on Patient only, with its definition', async () => {
    const res = await request(f.t.rawApp).get('/fhir/metadata');
    const byType = (t: string) => res.body.rest[0].resource.find((r: { type: string }) => r.type === t);
    const ops = (t: string): string[] => (byType(t).operation ?? []).map((o: { name: string }) => o.name);
    assert.ok(ops('Patient').includes('consent-decision'));
    assert.ok(!ops('Observation').includes('consent-decision'));
    assert.ok(ops('Observation').includes('validate'));
    assert.match(byType('Patient').operation.find((o: { name: string }) => o.name === 'consent-decision').definition, /OperationDefinition\/Patient-consent-decision$/);
    assert.ok(ops('AuditEvent').includes('break-glass-report'));
    assert.ok(!ops('Patient').includes('break-glass-report'));
  });
});
