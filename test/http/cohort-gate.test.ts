import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { principalFromClaims } from '../../server/src/auth/principal.js';
import { FhirError } from '../../server/src/fhir/outcomes.js';
import { resolveCohort } from '../../server/src/ops/cohort/resolve-cohort.js';
import type { ResourceStore } from '../../server/src/store/resource-store.js';
import { PATIENT, SCREENED_WOMEN_COHORT, STUDY, STUDY_COHORT } from '../../fixtures/consent-scenarios/scenarios.js';
import type { TokenOptions } from '../helpers/test-auth.js';
import { BASE } from './app-fixture.js';
import { EMPLOYER, RESEARCH, startConsentFixture, type ConsentFixture } from './consent-fixture.js';

/**
 * Cohorts through the consent gate: resolveCohort runs on the caller's scoped store (the one
 * FhirService builds for a principal, as the export worker gets it), so the Group itself and
 * every patient a descriptive Group finds are decided by the patients' Consents.
 */
const NOW = '2025-06-15T12:00:00Z';
const OPERATIONS: TokenOptions = { sub: 'ops', client_id: 'ops', scope: 'system/*.rs', fhirUser: 'Organization/org-hospital', purpose_of_use: ['HOPERAT'], roles: ['admin'] };

describe('cohorts through the consent gate (the consent scenarios)', () => {
  let f: ConsentFixture;
  const storeOf = (who: TokenOptions): ResourceStore =>
    f.t.deps.service.contextForPrincipal(principalFromClaims({ ...who, scope: who.scope ?? '' } as Parameters<typeof principalFromClaims>[0]), BASE, ['r', 's']).store;
  const patients = async (who: TokenOptions, group: string): Promise<string[]> => {
    const cohort = await resolveCohort(storeOf(who), group, NOW);
    const out: string[] = [];
    for await (const b of cohort.patientBatches(2)) out.push(...b);
    return out.sort();
  };

  before(async () => {
    f = await startConsentFixture();
  });
  after(() => f.t.close());

  it('the study’s enrolled Group lists the five scenario patients and names the study', async () => {
    const cohort = await resolveCohort(storeOf(OPERATIONS), STUDY_COHORT, NOW);
    assert.equal(cohort.study, `ResearchStudy/${STUDY}`);
    assert.deepEqual(await patients(OPERATIONS, STUDY_COHORT), Object.values(PATIENT).sort());
  });

  it('a Group listing patients is data about each of them: the research platform cannot read one whose members have not all opted in', async () => {
    await assert.rejects(resolveCohort(storeOf(RESEARCH), STUDY_COHORT, NOW), (err: unknown) => err instanceof FhirError && err.status === 404);
  });

  it('a descriptive Group is evaluated on what the caller may read: hidden demographics and hidden evidence count for nothing', async () => {
    // Women 18–64 with a PHQ-9 on record: Alice, Carol and Erin.
    assert.deepEqual(await patients(OPERATIONS, SCREENED_WOMEN_COHORT), [PATIENT.alice, PATIENT.carol, PATIENT.erin]);
    // Alice denies the employer her mental-health data, so her PHQ-9s cannot put her in its cohort.
    assert.deepEqual(await patients(EMPLOYER, SCREENED_WOMEN_COHORT), [PATIENT.carol, PATIENT.erin]);
    // Research sees Alice (opted in); not Carol (revoked), nor Erin, whose opt-in covers 2020–2022 data and not her Patient resource.
    assert.deepEqual(await patients(RESEARCH, SCREENED_WOMEN_COHORT), [PATIENT.alice]);
  });
});
