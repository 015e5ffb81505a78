import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Consent } from '@medplum/fhirtypes';
import request from 'supertest';
import { PATIENT, PRACTITIONER, recordIds, type ScenarioPatient } from '../../fixtures/consent-scenarios/scenarios.js';
import { R4_CONSENT_EXAMPLES, R4_EXAMPLES_SKIP, r4ExamplesDir, readR4ConsentExamples } from '../helpers/r4-consent-examples.js';
import { CONSENT_PENDING_SETTING } from '../../server/src/consent/consent-engine.js';
import { principalFromClaims, type Principal } from '../../server/src/auth/principal.js';
import { toFhirRequest } from '../../server/src/http/http-to-fhir.js';
import type { TokenOptions } from '../helpers/test-auth.js';
import { FHIR_JSON, startTestApp, type TestApp } from './app-fixture.js';
import { EMPLOYER, INSURER, RESEARCH, clinician, refs, startConsentFixture, versions, type Client, type ConsentFixture } from './consent-fixture.js';

/**
 * Consent on every read path (issue 5 §3, §4, §8), over HTTP against the real app holding the
 * consent scenarios (fixtures/consent-scenarios/README.md):
 *
 * - the employer (HPRGRP, Organization/org-employer) is denied Alice's mental-health data by her
 *   Consent; the insurer (HPAYMT) is not named and sees it;
 * - the research platform (HRESCH, Organization/org-research, sponsor of the study) sees what
 *   the opt-ins give the study: Alice's record without her genetic report, Erin's 2020–2022
 *   data, nothing of Carol (revoked) or anyone else;
 * - Bruno's HIV result is for his care team only (pract-1 and Dr Duarte; not pract-2, not the
 *   employer, not even the admin backend).
 *
 * What a Consent denies must read exactly as what does not exist: 404 on read and vread, absent
 * from search pages, totals, includes, chains, `_has`, history, batch/transaction entries and
 * system search; and the very next request after a Consent changes is decided by the new state.
 */

const [A, B, C, D, E] = [recordIds('alice'), recordIds('bruno'), recordIds('carol'), recordIds('dan'), recordIds('erin')];
const PATIENTS = Object.keys(PATIENT) as ScenarioPatient[];
/** Everyone but Alice, and everyone but Bruno. */
const NOT_ALICE: ScenarioPatient[] = ['bruno', 'carol', 'dan', 'erin'];
const NOT_BRUNO: ScenarioPatient[] = ['alice', 'carol', 'dan', 'erin'];
const obs = (id: string): string => `Observation/${id}`;
const observationsOf = (p: ScenarioPatient): string[] => {
  const r = recordIds(p);
  return [r.heartRate, r.bloodPressure, r.weight, r.hba1c, r.glucose, r.phq9Checkup, r.phq9FollowUp, r.hivTest].map(obs);
};
const sorted = (xs: Iterable<string>): string[] => [...xs].sort();
const without = (xs: readonly string[], drop: readonly string[]): string[] => sorted(xs.filter((x) => !drop.includes(x)));

/** Added in `before`: Alice's mood screen, recorded as PHQ-2 (v1), corrected to a heart rate (v2). */
const MOOD = 'alice-mood';
/** Added in `before`: Alice's GAD-7 (mental health), then deleted. */
const GAD7 = 'alice-gad7';

/** Every current Observation. */
const ALL_OBSERVATIONS = sorted([...PATIENTS.flatMap(observationsOf), obs(MOOD)]);

/** What Alice's Consent (a) and Bruno's (c) deny the employer. */
const EMPLOYER_DENIED = [obs(A.phq9Checkup), obs(A.phq9FollowUp), `Encounter/${A.encounterFollowUp}`, `Claim/${A.claim}`, obs(B.hivTest)];

/** The Observations the research platform may see: Alice's (opt-in, no genetic Observation) and Erin's from 2021 (dataPeriod 2020–2022). */
const RESEARCH_OBSERVATIONS = sorted([...observationsOf('alice'), obs(MOOD), obs(E.weight), obs(E.hba1c), obs(E.phq9Checkup)]);

const observation = (id: string, code: string, display: string, category: string, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: category }] }],
  code: { coding: [{ system: 'http://loinc.org', code, display }] },
  subject: { reference: `Patient/${PATIENT.alice}` },
  effectiveDateTime: '2024-03-01T10:00:00Z',
  ...extra,
});

function assertAbsent(res: { status: number; body: any }, what: string): void {
  assert.equal(res.status, 404, `${what} must read as absent: ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(res.body.resourceType, 'OperationOutcome');
  assert.equal(res.body.issue[0].code, 'not-found', `${what}: the same outcome as an id that does not exist`);
}

describe('consent on every read path (the consent scenarios)', () => {
  let f: ConsentFixture;
  let employer: Client;
  let insurer: Client;
  let research: Client;
  /** pract-1: on Bruno's care team, purpose TREAT; sees every scenario resource. */
  let careTeam: Client;

  before(async () => {
    f = await startConsentFixture();
    [employer, insurer, research, careTeam] = await Promise.all([f.as(EMPLOYER), f.as(INSURER), f.as(RESEARCH), f.as(clinician('pract-1'))]);
    await f.put(observation(MOOD, '55757-9', 'Patient Health Questionnaire 2 item (PHQ-2) [Reported]', 'survey', { valueInteger: 3 }));
    await f.put(observation(MOOD, '8867-4', 'Heart rate', 'vital-signs', { valueQuantity: { value: 88, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' } }));
    await f.put(observation(GAD7, '70274-6', 'Generalized anxiety disorder 7 item (GAD-7) total score', 'survey', { valueInteger: 11 }));
    await f.remove('Observation', GAD7);
  });
  after(() => f.t.close());

  describe('read and vread', () => {
    it('the employer reads what Alice and Bruno deny it as absent, exactly like an id that does not exist', async () => {
      assertAbsent(await employer.get('/fhir/Observation/no-such-observation'), 'an unknown id');
      for (const ref of EMPLOYER_DENIED) assertAbsent(await employer.get(`/fhir/${ref}`), ref);
      for (const ref of [obs(A.heartRate), obs(A.hivTest), `Encounter/${A.encounterCheckup}`, `Patient/${PATIENT.alice}`, obs(B.heartRate), obs(B.phq9Checkup)]) {
        assert.equal((await employer.get(`/fhir/${ref}`)).status, 200, ref);
      }
    });

    it('a deleted resource the employer may not see is 404, not 410 (the deletion would reveal it existed)', async () => {
      assert.equal((await careTeam.get(`/fhir/Observation/${GAD7}`)).status, 410);
      assertAbsent(await employer.get(`/fhir/Observation/${GAD7}`), 'the deleted GAD-7');
    });

    it('the insurer is not named by Alice: it reads the mental-health data the employer cannot, but not Bruno’s HIV result', async () => {
      for (const ref of EMPLOYER_DENIED.slice(0, 4)) assert.equal((await insurer.get(`/fhir/${ref}`)).status, 200, ref);
      assertAbsent(await insurer.get(`/fhir/${obs(B.hivTest)}`), 'Bruno’s HIV result');
    });

    it('Bruno’s HIV result is read by his care team (pract-1, Dr Duarte) and by no other clinician', async () => {
      assert.equal((await careTeam.get(`/fhir/${obs(B.hivTest)}`)).status, 200);
      assert.equal((await (await f.as(clinician(PRACTITIONER))).get(`/fhir/${obs(B.hivTest)}`)).status, 200);
      const other = await f.as(clinician('pract-2'));
      assertAbsent(await other.get(`/fhir/${obs(B.hivTest)}`), 'Bruno’s HIV result for pract-2');
      assert.equal((await other.get(`/fhir/${obs(B.heartRate)}`)).status, 200, 'the rest of Bruno’s record is not restricted');
      assertAbsent(await f.admin.get(`/fhir/${obs(B.hivTest)}`), 'Bruno’s HIV result for the admin backend');
    });

    it('research: Alice’s study data but not her genetic report; Erin’s 2020–2022 data only; nothing of Carol (revoked), Dan or Bruno', async () => {
      for (const ref of [obs(A.phq9Checkup), obs(A.hivTest), `Patient/${PATIENT.alice}`, `Claim/${A.claim}`, obs(E.weight), `DiagnosticReport/${E.geneticReport}`]) {
        assert.equal((await research.get(`/fhir/${ref}`)).status, 200, ref);
      }
      for (const ref of [
        `DiagnosticReport/${A.geneticReport}`,
        obs(E.heartRate), // 2024: after Erin's dataPeriod
        obs(E.hivTest), // 2019: before it
        `Patient/${PATIENT.erin}`, // no clinical date: outside any dataPeriod
        `Patient/${PATIENT.carol}`,
        obs(C.weight),
        obs(D.weight),
        obs(B.weight),
      ]) {
        assertAbsent(await research.get(`/fhir/${ref}`), ref);
      }
    });

    it('vread decides each version on its own content', async () => {
      assert.equal((await employer.get(`/fhir/Observation/${MOOD}`)).status, 200, 'the current version is a heart rate');
      assertAbsent(await employer.get(`/fhir/Observation/${MOOD}/_history/1`), 'version 1, a PHQ-2');
      assert.equal((await employer.get(`/fhir/Observation/${MOOD}/_history/2`)).status, 200);
      assertAbsent(await employer.get(`/fhir/${obs(A.phq9Checkup)}/_history/1`), 'a PHQ-9 by vread');
      assert.equal((await insurer.get(`/fhir/${obs(A.phq9Checkup)}/_history/1`)).status, 200);
      assertAbsent(await employer.get(`/fhir/Observation/${GAD7}/_history/1`), 'the deleted GAD-7 by vread');
    });
  });

  describe('history', () => {
    it('instance history lists only the versions the requester may see, with an exact total', async () => {
      const mine = await employer.get(`/fhir/Observation/${MOOD}/_history`);
      assert.equal(mine.status, 200);
      assert.equal(mine.body.total, 1);
      assert.deepEqual(versions(mine.body), [`Observation/${MOOD}/_history/2`]);
      const all = await careTeam.get(`/fhir/Observation/${MOOD}/_history`);
      assert.deepEqual(versions(all.body), [`Observation/${MOOD}/_history/2`, `Observation/${MOOD}/_history/1`]);
      assertAbsent(await employer.get(`/fhir/Observation/${GAD7}/_history`), 'the history of the deleted GAD-7');
      assertAbsent(await employer.get(`/fhir/${obs(A.phq9Checkup)}/_history`), 'the history of a PHQ-9');
    });

    it('type history leaves out every denied version and deletion, and its total and pages agree', async () => {
      const everything = (await careTeam.pages('/fhir/Observation/_history?_count=500'))[0];
      const all = versions(everything);
      assert.equal(everything.total, 40 + 2 + 2, 'the scenario Observations, two versions of the mood screen, the GAD-7 and its deletion');
      const hidden = [
        `${obs(A.phq9Checkup)}/_history/1`,
        `${obs(A.phq9FollowUp)}/_history/1`,
        `${obs(B.hivTest)}/_history/1`,
        `Observation/${MOOD}/_history/1`,
        `Observation/${GAD7}/_history/1`,
        `Observation/${GAD7}/_history/deleted`,
      ];
      for (const h of hidden) assert.ok(all.includes(h), `${h} is in the unrestricted history`);
      const pages = await employer.pages('/fhir/Observation/_history?_count=5');
      const seen = pages.flatMap(versions);
      assert.deepEqual(sorted(seen), without(all, hidden));
      for (const p of pages) assert.equal(p.total, all.length - hidden.length);
      pages.slice(0, -1).forEach((p, i) => assert.equal(p.entry.length, 5, `history page ${i + 1} is full`));
    });
  });

  describe('search', () => {
    it('denied resources are absent and Bundle.total is exact (_total=accurate and _summary=count)', async () => {
      const alice = await employer.get(`/fhir/Observation?subject=Patient/${PATIENT.alice}&_total=accurate`);
      const expected = without([...observationsOf('alice'), obs(MOOD)], EMPLOYER_DENIED);
      assert.deepEqual(refs(alice.body), expected);
      assert.equal(alice.body.total, expected.length);
      const count = await employer.get(`/fhir/Observation?subject=Patient/${PATIENT.alice}&_summary=count`);
      assert.equal(count.body.total, expected.length);
      assert.equal(count.body.entry, undefined);

      const phq9 = await employer.get('/fhir/Observation?code=http://loinc.org|44261-6&_total=accurate');
      assert.deepEqual(refs(phq9.body), sorted(NOT_ALICE.flatMap((p) => [obs(recordIds(p).phq9Checkup), obs(recordIds(p).phq9FollowUp)])));
      assert.equal(phq9.body.total, 8);
      assert.equal((await insurer.get('/fhir/Observation?code=http://loinc.org|44261-6&_summary=count')).body.total, 10, 'the insurer counts Alice’s two as well');
      assert.equal((await employer.get('/fhir/Claim?_summary=count')).body.total, 4);
      assert.equal((await employer.get(`/fhir/Encounter?reason-code=http://snomed.info/sct|35489007&_summary=count`)).body.total, 4);
    });

    it('research sees exactly what the opt-ins give the study, counts included', async () => {
      const o = await research.get('/fhir/Observation?_total=accurate&_count=100');
      assert.deepEqual(refs(o.body), RESEARCH_OBSERVATIONS);
      assert.equal(o.body.total, RESEARCH_OBSERVATIONS.length);
      const dr = await research.get('/fhir/DiagnosticReport?_total=accurate');
      assert.deepEqual(refs(dr.body), [`DiagnosticReport/${E.geneticReport}`]);
      assert.equal(dr.body.total, 1);
      const p = await research.get('/fhir/Patient?_total=accurate');
      assert.deepEqual(refs(p.body), [`Patient/${PATIENT.alice}`]);
      assert.equal((await research.get(`/fhir/Observation?subject=Patient/${PATIENT.carol}&_summary=count`)).body.total, 0, 'Carol revoked her opt-in');
      assert.equal((await research.get(`/fhir/Observation?subject=Patient/${PATIENT.dan}&_summary=count`)).body.total, 0);
    });

    it('paging with _count=1 fills every page: no empty or short page before the end, every resource once', async () => {
      const expected = without(ALL_OBSERVATIONS, EMPLOYER_DENIED);
      for (const path of ['/fhir/Observation?_count=1&_total=accurate', '/fhir/Observation?_count=1&_total=accurate&_sort=-date', '/fhir/Observation?_count=7&_total=accurate&_sort=code']) {
        const pages = await employer.pages(path);
        const size = Number(/_count=(\d+)/.exec(path)?.[1]);
        const seen = pages.flatMap((p) => refs(p));
        assert.deepEqual(sorted(seen), expected, path);
        assert.equal(new Set(seen).size, seen.length, `${path}: no resource twice`);
        assert.equal(pages.length, Math.ceil(expected.length / size), `${path}: no extra pages`);
        pages.slice(0, -1).forEach((p, i) => assert.equal(refs(p).length, size, `${path}: page ${i + 1} is full`));
        assert.ok(refs(pages.at(-1)).length > 0, `${path}: the last page is not empty`);
        for (const p of pages) assert.equal(p.total, expected.length);
      }
      const researchPages = await research.pages('/fhir/Observation?_count=1');
      assert.deepEqual(sorted(researchPages.flatMap((p) => refs(p))), RESEARCH_OBSERVATIONS);
      assert.equal(researchPages.length, RESEARCH_OBSERVATIONS.length);
    });

    it('_include and _revinclude add only what the requester may see', async () => {
      const enc = await employer.get(`/fhir/Encounter?subject=Patient/${PATIENT.alice}&_revinclude=Observation:encounter`);
      assert.deepEqual(refs(enc.body), [`Encounter/${A.encounterCheckup}`]);
      assert.deepEqual(refs(enc.body, 'include'), sorted([obs(A.weight), obs(A.hba1c)]), 'not the PHQ-9 taken at the check-up');
      const encAll = await careTeam.get(`/fhir/Encounter?subject=Patient/${PATIENT.alice}&_revinclude=Observation:encounter`);
      assert.ok(refs(encAll.body, 'include').includes(obs(A.phq9Checkup)), 'the care team’s revinclude has it');

      const o = await employer.get(`/fhir/Observation?subject=Patient/${PATIENT.alice}&_include=Observation:encounter`);
      assert.deepEqual(refs(o.body, 'include'), [`Encounter/${A.encounterCheckup}`], 'the depression follow-up is not included though the heart rate refers to it');

      const dr = await research.get(`/fhir/Encounter?subject=Patient/${PATIENT.alice}&_revinclude=DiagnosticReport:encounter`);
      assert.deepEqual(refs(dr.body), sorted([`Encounter/${A.encounterCheckup}`, `Encounter/${A.encounterFollowUp}`]));
      assert.deepEqual(refs(dr.body, 'include'), [], 'not Alice’s genetic report');

      const bruno = await employer.get(`/fhir/Patient?_id=${PATIENT.bruno}&_revinclude=Observation:patient&_revinclude=CareTeam:patient`);
      assert.deepEqual(refs(bruno.body, 'include'), without(observationsOf('bruno'), [obs(B.hivTest)]).concat('CareTeam/scn-careteam-bruno').sort());

      const claims = await research.get('/fhir/Claim?_include=Claim:patient&_include=Claim:encounter');
      assert.deepEqual(refs(claims.body), [`Claim/${A.claim}`]);
      assert.deepEqual(refs(claims.body, 'include'), sorted([`Patient/${PATIENT.alice}`, `Encounter/${A.encounterFollowUp}`]));
    });

    it('chained parameters do not reach through what is denied', async () => {
      const byName = await employer.get('/fhir/Observation?subject:Patient.name=Moreno&_total=accurate');
      assert.deepEqual(refs(byName.body), without([...observationsOf('alice'), obs(MOOD)], EMPLOYER_DENIED));

      // Observations whose encounter was for depression: Alice's follow-up encounter is denied
      // to the employer, so her heart rate, blood pressure and glucose do not match through it.
      const chained = await employer.get('/fhir/Observation?encounter.reason-code=http://snomed.info/sct|35489007&_total=accurate');
      const followUps = (p: ScenarioPatient): string[] => {
        const r = recordIds(p);
        return [r.heartRate, r.bloodPressure, r.glucose, r.phq9FollowUp].map(obs);
      };
      assert.deepEqual(refs(chained.body), sorted(NOT_ALICE.flatMap(followUps)));
      assert.equal(chained.body.total, 16);
      assert.equal((await careTeam.get('/fhir/Observation?encounter.reason-code=http://snomed.info/sct|35489007&_summary=count')).body.total, 20);

      const hiv = await employer.get('/fhir/Observation?subject:Patient.name=Keller&code=75622-1');
      assert.deepEqual(refs(hiv.body), []);
      assert.deepEqual(refs((await careTeam.get('/fhir/Observation?subject:Patient.name=Keller&code=75622-1')).body), [obs(B.hivTest)]);
    });

    it('_has does not reveal who has a hidden result', async () => {
      const path = '/fhir/Patient?_has:Observation:subject:code=75622-1';
      assert.deepEqual(refs((await careTeam.get(path)).body), sorted(PATIENTS.map((p) => `Patient/${PATIENT[p]}`)));
      assert.deepEqual(refs((await employer.get(path)).body), sorted(NOT_BRUNO.map((p) => `Patient/${PATIENT[p]}`)), 'not Bruno');

      const depression = '/fhir/Patient?_has:Encounter:subject:reason-code=35489007';
      assert.deepEqual(refs((await employer.get(depression)).body), sorted(NOT_ALICE.map((p) => `Patient/${PATIENT[p]}`)), 'not Alice');

      const genetic = '/fhir/Patient?_has:DiagnosticReport:subject:code=51969-4';
      assert.equal(refs((await careTeam.get(genetic)).body).length, 5);
      assert.deepEqual(refs((await research.get(genetic)).body), [], 'Alice is visible to the study but her genetic report is not');
    });

    it('batch and transaction GET entries are decided like the requests they stand for', async () => {
      const entries = [
        { request: { method: 'GET', url: `Observation/${A.phq9Checkup}` } },
        { request: { method: 'GET', url: `Observation/${A.heartRate}` } },
        { request: { method: 'GET', url: `Observation?subject=Patient/${PATIENT.alice}&code=http://loinc.org|44261-6&_total=accurate` } },
        { request: { method: 'GET', url: `Encounter/${A.encounterFollowUp}/_history/1` } },
        { request: { method: 'GET', url: `Patient?_has:Observation:subject:code=75622-1&_id=${PATIENT.bruno}` } },
      ];
      for (const type of ['batch', 'transaction']) {
        const res = await employer.post('/fhir', { resourceType: 'Bundle', type, entry: entries });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.type, `${type}-response`);
        const [phq9, hr, search, vread, has] = res.body.entry;
        assert.match(phq9.response.status, /^404/, type);
        assert.equal(phq9.response.outcome.issue[0].code, 'not-found');
        assert.match(hr.response.status, /^200/);
        assert.equal(hr.resource.id, A.heartRate);
        assert.match(search.response.status, /^200/);
        assert.equal(search.resource.total, 0);
        assert.deepEqual(search.resource.entry ?? [], []);
        assert.match(vread.response.status, /^404/);
        assert.deepEqual(refs(has.resource), []);
      }
      const asInsurer = await insurer.post('/fhir', { resourceType: 'Bundle', type: 'batch', entry: entries.slice(0, 1) });
      assert.match(asInsurer.body.entry[0].response.status, /^200/);
    });

    it('system search ?_type= filters like the type searches it stands for', async () => {
      const expected = without(ALL_OBSERVATIONS, EMPLOYER_DENIED);
      const sys = await employer.pages('/fhir?_type=Observation&_total=accurate&_count=10');
      assert.deepEqual(sorted(sys.flatMap((p) => refs(p))), expected);
      assert.equal(sys[0].total, expected.length);
      const mixed = await employer.pages('/fhir?_type=Observation,Encounter,Claim&_count=1&_total=accurate');
      const seen = mixed.flatMap((p) => refs(p));
      const encountersAndClaims = PATIENTS.flatMap((p) => {
        const r = recordIds(p);
        return [`Encounter/${r.encounterCheckup}`, `Encounter/${r.encounterFollowUp}`, `Claim/${r.claim}`];
      });
      assert.deepEqual(sorted(seen), without([...ALL_OBSERVATIONS, ...encountersAndClaims], EMPLOYER_DENIED));
      assert.equal(mixed.length, seen.length, 'one resource per page, no empty page');
      assert.equal(mixed[0].total, seen.length);
      const r = await research.get('/fhir?_type=Observation,DiagnosticReport&_total=accurate&_count=100');
      assert.deepEqual(refs(r.body), sorted([...RESEARCH_OBSERVATIONS, `DiagnosticReport/${E.geneticReport}`]));
      assert.equal(r.body.total, RESEARCH_OBSERVATIONS.length + 1);
    });
  });

  describe('freshness: the very next request is decided by the Consents as they now are', () => {
    const FRANK = 'fresh-frank';
    const PHQ9 = 'fresh-frank-phq9';
    const consent = (id: string, extra: Partial<Consent> = {}, provision: Record<string, unknown> = {}) => ({
      resourceType: 'Consent',
      id,
      status: 'active',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
      patient: { reference: `Patient/${FRANK}` },
      policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTOUT' }] },
      provision: {
        type: 'deny',
        actor: [{ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] }, reference: { reference: 'Organization/org-employer' } }],
        class: [{ system: 'https://custodian.example.org/fhir/CodeSystem/data-category', code: 'mental-health' }],
        ...provision,
      },
      ...extra,
    });
    /** Whether the employer sees Frank's PHQ-9, by read and by search count. */
    const employerSees = async (): Promise<boolean> => {
      const read = await employer.get(`/fhir/Observation/${PHQ9}`);
      const count = await employer.get(`/fhir/Observation?subject=Patient/${FRANK}&_summary=count`);
      assert.ok(read.status === 200 || read.status === 404, JSON.stringify(read.body));
      assert.equal(count.body.total, read.status === 200 ? 2 : 1, 'read and search agree');
      return read.status === 200;
    };

    before(async () => {
      await f.put({ resourceType: 'Patient', id: FRANK, name: [{ family: 'Fresh', given: ['Frank'] }] });
      await f.put({
        ...observation(PHQ9, '44261-6', 'Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]', 'survey', { valueInteger: 12 }),
        subject: { reference: `Patient/${FRANK}` },
      });
      await f.put({ ...observation('fresh-frank-hr', '8867-4', 'Heart rate', 'vital-signs'), subject: { reference: `Patient/${FRANK}` } });
    });

    it('a new Consent, its revocation, its reactivation and its deletion each take effect on the next request', async () => {
      assert.equal(await employerSees(), true, 'no Consent yet');
      await f.put(consent('fresh-c1'));
      assert.equal(await employerSees(), false, 'new Consent');
      await f.put(consent('fresh-c1', { status: 'inactive' }));
      assert.equal(await employerSees(), true, 'revoked');
      await f.put(consent('fresh-c1'));
      assert.equal(await employerSees(), false, 'active again');
      await f.remove('Consent', 'fresh-c1');
      assert.equal(await employerSees(), true, 'deleted');
      await f.put(consent('fresh-c2'));
      assert.equal(await employerSees(), false, 'another new Consent');
      await f.remove('Consent', 'fresh-c2');
      assert.equal(await employerSees(), true);
    });

    it('a principal reused across requests (as for a remembered token) is decided anew once a Consent names it, and once its directory entries change', async () => {
      // The server reuses a principal while its token is remembered (auth/authenticate.ts), and
      // the gate remembers the clause it built for it; this suite's verifier remembers no token,
      // so the requests go to the FHIR service with one principal object.
      const sees = (p: Principal) => async (): Promise<boolean> => {
        const req = { ...toFhirRequest({ method: 'GET', target: `/Observation/${PHQ9}`, headers: {} }, f.t.config.baseUrl), principal: p };
        const res = await f.t.deps.service.handle(req);
        assert.ok(res.status === 200 || res.status === 404, `${res.status} ${JSON.stringify(res.body)}`);
        return res.status === 200;
      };
      const claims = (o: TokenOptions) => ({ sub: o.sub, client_id: o.client_id, scope: o.scope, fhirUser: o.fhirUser, purpose_of_use: o.purpose_of_use, roles: o.roles });
      const payerSees = sees(principalFromClaims(claims({ ...EMPLOYER, sub: 'fresh-payer', client_id: 'fresh-payer', fhirUser: 'Organization/org-fresh-payer' })));
      assert.equal(await payerSees(), true, 'nobody names the payer yet');
      const naming = { actor: [{ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] }, reference: { reference: 'Organization/org-fresh-payer' } }] };
      await f.put(consent('fresh-c5', {}, naming));
      assert.equal(await payerSees(), false, 'a Consent now names the payer');
      await f.remove('Consent', 'fresh-c5');
      assert.equal(await payerSees(), true, 'and no longer does');

      const doctorSees = sees(principalFromClaims(claims(clinician('fresh-doctor'))));
      await f.put({ resourceType: 'Practitioner', id: 'fresh-doctor' });
      await f.put({ resourceType: 'Organization', id: 'org-fresh-clinic', name: 'Fresh clinic' });
      await f.put(consent('fresh-c6', {}, { actor: [{ ...naming.actor[0], reference: { reference: 'Organization/org-fresh-clinic' } }] }));
      assert.equal(await doctorSees(), true, 'the doctor is not with the clinic the Consent names');
      const role = { resourceType: 'PractitionerRole', id: 'fresh-doctor-at-clinic', practitioner: { reference: 'Practitioner/fresh-doctor' }, organization: { reference: 'Organization/org-fresh-clinic' } };
      await f.put(role);
      assert.equal(await doctorSees(), false, 'the doctor now acts for the clinic');
      await f.remove('PractitionerRole', role.id);
      assert.equal(await doctorSees(), true, 'and no longer does');
      await f.remove('Consent', 'fresh-c6');
    });

    it('concurrent Consent writes for different patients leave none of them pending (the recovery list is updated serially)', async () => {
      const ids = ['fresh-p1', 'fresh-p2', 'fresh-p3', 'fresh-p4', 'fresh-p5', 'fresh-p6'];
      await Promise.all(ids.map((id) => f.put({ resourceType: 'Patient', id, name: [{ family: id }] })));
      await Promise.all(ids.map((id) => f.put({ ...consent(`${id}-c`), patient: { reference: `Patient/${id}` } })));
      assert.deepEqual(JSON.parse((await f.t.deps.store.readSetting(CONSENT_PENDING_SETTING)) ?? '[]'), []);
      await Promise.all(ids.map((id) => f.remove('Consent', `${id}-c`)));
      assert.deepEqual(JSON.parse((await f.t.deps.store.readSetting(CONSENT_PENDING_SETTING)) ?? '[]'), []);
    });

    it('a provision period that ends stops applying on the first request after its end', async () => {
      const end = Date.now() + 1500;
      await f.put(consent('fresh-c3', {}, { period: { start: '2020-01-01', end: new Date(end).toISOString() } }));
      assert.equal(await employerSees(), false, 'inside the period');
      await sleep(Math.max(0, end - Date.now()) + 50);
      assert.equal(await employerSees(), true, 'the period has ended');
      await f.remove('Consent', 'fresh-c3');
    });

    it('a provision period that starts applies from the first request after its start', async () => {
      const start = Date.now() + 1500;
      await f.put(consent('fresh-c4', {}, { period: { start: new Date(start).toISOString() } }));
      assert.equal(await employerSees(), true, 'before the period');
      await sleep(Math.max(0, start - Date.now()) + 50);
      assert.equal(await employerSees(), false, 'the period has started');
      await f.remove('Consent', 'fresh-c4');
      assert.equal(await employerSees(), true);
    });

    it('a Consent the engine cannot enforce is refused with 422 and nothing is stored', async () => {
      const related = consent('fresh-bad', {}, { data: [{ meaning: 'related', reference: { reference: `Observation/${PHQ9}` } }] });
      const res = await request(f.t.app).put('/fhir/Consent/fresh-bad').set('Content-Type', FHIR_JSON).send(related);
      assert.equal(res.status, 422, JSON.stringify(res.body));
      assert.deepEqual(res.body.issue[0].expression, ['Consent.provision.data[0].meaning']);
      assert.equal((await f.admin.get('/fhir/Consent/fresh-bad')).status, 404);
      assert.equal((await f.admin.get('/fhir/Consent/fresh-bad/_history')).status, 404);

      const tx = await f.admin.post('/fhir', {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { resourceType: 'Patient', id: 'fresh-never', name: [{ family: 'Never' }] }, request: { method: 'PUT', url: 'Patient/fresh-never' } },
          { resource: related, request: { method: 'PUT', url: 'Consent/fresh-bad' } },
        ],
      });
      assert.equal(tx.status, 422, JSON.stringify(tx.body));
      assert.equal((await f.admin.get('/fhir/Patient/fresh-never')).status, 404, 'the transaction wrote nothing');
      assert.equal((await f.admin.get(`/fhir/Consent?patient=${FRANK}&_summary=count`)).body.total, 0);
      assert.equal(await employerSees(), true);
    });
  });
});

/**
 * The official R4 Consent examples parseConsent accepts (test/helpers/r4-consent-examples.ts),
 * each PUT into a server holding the patients and actors it names, with one consequence it must
 * have: a party it denies reads the patient as absent, or one it permits reads it where the
 * base policy alone would not let it (marketing is opt-in). Examples whose period is long
 * over must change nothing.
 */
const MARKETING = (fhirUser: string) => ({ scope: 'system/*.rs', fhirUser, purpose_of_use: ['HMARKT'] });
const TREATMENT = (fhirUser: string) => ({ scope: 'system/*.rs', fhirUser, purpose_of_use: ['TREAT'] });
const EMERGENCY = (fhirUser: string) => ({ scope: 'system/*.rs', fhirUser, purpose_of_use: ['ETREAT'] });

interface Probe {
  readonly who: ReturnType<typeof TREATMENT>;
  /** What it reads of the patient: 200 or 404, with the example stored and without it. */
  readonly with: 200 | 404;
  readonly without: 200 | 404;
}

const EXAMPLE_PROBES: Readonly<Record<string, { patient: string; probes: readonly Probe[] }>> = {
  // Deny Organization/f001 for emergency purposes only (clinicians without a break-glass role).
  'consent-example-Emergency': {
    patient: 'f001',
    probes: [
      { who: EMERGENCY('Organization/f001'), with: 404, without: 200 },
      { who: TREATMENT('Organization/f001'), with: 200, without: 200 },
    ],
  },
  'consent-example-Out': {
    patient: 'f001',
    probes: [
      { who: TREATMENT('Organization/f001'), with: 404, without: 200 },
      { who: TREATMENT('Organization/other'), with: 200, without: 200 },
    ],
  },
  // Opt-in for 1964–2016: over, so marketing stays denied.
  'consent-example-basic': { patient: 'f001', probes: [{ who: MARKETING('Organization/f001'), with: 404, without: 404 }] },
  'consent-example-grantor': {
    patient: 'f001',
    probes: [
      { who: TREATMENT('Organization/f001'), with: 404, without: 200 },
      { who: TREATMENT('Patient/example'), with: 404, without: 200 },
      { who: TREATMENT('Practitioner/f204'), with: 200, without: 200 },
    ],
  },
  // Permit for Organization/f001 with no purpose: it opens even marketing, for f001 only.
  'consent-example-notAuthor': {
    patient: 'f001',
    probes: [
      { who: MARKETING('Organization/f001'), with: 200, without: 404 },
      { who: MARKETING('Organization/other'), with: 404, without: 404 },
    ],
  },
  'consent-example-notOrg': {
    patient: 'f001',
    probes: [
      { who: TREATMENT('Organization/f001'), with: 404, without: 200 },
      { who: TREATMENT('Practitioner/f204'), with: 200, without: 200 },
    ],
  },
  'consent-example-notThem': {
    patient: 'f001',
    probes: [
      { who: MARKETING('Practitioner/f204'), with: 200, without: 404 },
      { who: MARKETING('Organization/f001'), with: 404, without: 404 },
    ],
  },
  // Opt-in for January 2015: over.
  'consent-example-notTime': { patient: 'f001', probes: [{ who: MARKETING('Organization/f001'), with: 404, without: 404 }] },
  // Opt-in (MedicationRequest) for 30 minutes in 2016: over.
  'consent-example-smartonfhir': { patient: 'xcda', probes: [{ who: MARKETING('Organization/f001'), with: 404, without: 404 }] },
};

const examplesDir = r4ExamplesDir();

describe('the R4 Consent examples, enforced over HTTP', { skip: examplesDir ? false : R4_EXAMPLES_SKIP }, () => {
  let t: TestApp;
  const accepted = Object.entries(R4_CONSENT_EXAMPLES)
    .filter(([, o]) => o.outcome === 'accepted')
    .map(([id]) => id)
    .sort();

  before(async () => {
    t = await startTestApp();
    const dir = examplesDir as string;
    // The patients and actors the examples name, from the same package.
    for (const file of ['Patient-f001.json', 'Patient-xcda.json', 'Patient-example.json', 'Organization-f001.json', 'Practitioner-f204.json', 'RelatedPerson-peter.json']) {
      const resource = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>;
      delete resource.text;
      const res = await request(t.app).put(`/fhir/${resource.resourceType as string}/${resource.id as string}`).set('Content-Type', FHIR_JSON).send(resource);
      assert.ok(res.status === 201 || res.status === 200, `${file}: ${res.status} ${JSON.stringify(res.body)}`);
    }
  });
  after(() => t?.close());

  it('every accepted example has a consequence to check', () => {
    assert.deepEqual(Object.keys(EXAMPLE_PROBES).sort(), accepted);
  });

  const examples = examplesDir ? readR4ConsentExamples(examplesDir) : [];
  for (const id of accepted) {
    it(`${id}: enforced once stored, and gone once deleted`, async () => {
      const example = examples.find((c) => c.id === id);
      assert.ok(example, `${id} is in the package`);
      const spec = EXAMPLE_PROBES[id];
      assert.ok(spec, `${id} has probes`);
      const readAs = async (probe: Probe): Promise<number> => {
        const token = await t.auth.token(probe.who);
        return (await request(t.rawApp).get(`/fhir/Patient/${spec.patient}`).set('Authorization', `Bearer ${token}`)).status;
      };
      for (const probe of spec.probes) assert.equal(await readAs(probe), probe.without, `${id}, not stored yet: ${JSON.stringify(probe.who)}`);
      const res = await request(t.app).put(`/fhir/Consent/${id}`).set('Content-Type', FHIR_JSON).send(example);
      assert.ok(res.status === 201 || res.status === 200, `${id}: ${res.status} ${JSON.stringify(res.body)}`);
      for (const probe of spec.probes) assert.equal(await readAs(probe), probe.with, `${id}: ${JSON.stringify(probe.who)}`);
      assert.equal((await request(t.app).delete(`/fhir/Consent/${id}`)).status < 300, true);
      for (const probe of spec.probes) assert.equal(await readAs(probe), probe.without, `${id}, deleted: ${JSON.stringify(probe.who)}`);
    });
  }
});
