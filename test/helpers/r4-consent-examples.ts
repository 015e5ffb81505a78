import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Consent } from '@medplum/fhirtypes';
import type { ConsentPolicy } from '../../server/src/consent/consent-policy.js';
import { provision } from './consent-cases.js';

/**
 * The Consent examples of the FHIR R4 specification (npm package hl7.fhir.r4.examples@4.0.1,
 * a devDependency; its files are the tarball's `package/` folder) and what the consent engine
 * makes of each: the policy it enforces, or the element it refuses and why. Every example file
 * must have a row here.
 */
export function r4ExamplesDir(): string | undefined {
  try {
    const dir = dirname(createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'));
    return existsSync(dir) ? dir : undefined;
  } catch {
    return undefined;
  }
}

export const R4_EXAMPLES_SKIP = 'hl7.fhir.r4.examples is not installed (npm ci installs it as a devDependency): the R4 Consent examples are not checked';

export function readR4ConsentExamples(dir: string): Consent[] {
  return readdirSync(dir)
    .filter((f) => /^Consent-.*\.json$/.test(f))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Consent);
}

export type ExampleOutcome =
  | { readonly outcome: 'accepted'; readonly policy: ConsentPolicy }
  | { readonly outcome: 'refused'; readonly expression: string; readonly reason: RegExp };

const ms = (iso: string): number => Date.parse(iso);
const accepted = (id: string, patient: string, root: ConsentPolicy['root']): ExampleOutcome => ({
  outcome: 'accepted',
  policy: { id, versionId: '', patient, scope: 'patient-privacy', status: 'active', root },
});

export const R4_CONSENT_EXAMPLES: Readonly<Record<string, ExampleOutcome>> = {
  // OPTOUT, root without type → deny; purpose ETREAT → the emergency group; the nested deny repeats the actor.
  'consent-example-Emergency': accepted(
    'consent-example-Emergency',
    'f001',
    provision('provision', 'deny', {
      actors: ['Organization/f001'],
      purposes: ['emergency'],
      children: [provision('provision.provision[0]', 'deny', { actors: ['Organization/f001'] })],
    }),
  ),
  // OPTOUT, root without type → deny everything to Organization/f001.
  'consent-example-Out': accepted('consent-example-Out', 'f001', provision('provision', 'deny', { actors: ['Organization/f001'] })),
  // OPTIN with a period: permit from 1964-01-01 to the end of 2016-01-01.
  'consent-example-basic': accepted(
    'consent-example-basic',
    'f001',
    provision('provision', 'permit', { period: { start: ms('1964-01-01T00:00:00.000Z'), end: ms('2016-01-01T23:59:59.999Z') } }),
  ),
  // OPTOUT, actors Organization/f001 and Patient/example (role PRCP), action access → deny to both.
  'consent-example-grantor': accepted('consent-example-grantor', 'f001', provision('provision', 'deny', { actors: ['Organization/f001', 'Patient/example'] })),
  // OPTIN with the root naming Organization/f001: enforced as written, a permit for that actor
  // (the narrative speaks of withholding, but the resource says OPTIN and no type).
  'consent-example-notAuthor': accepted('consent-example-notAuthor', 'f001', provision('provision', 'permit', { actors: ['Organization/f001'] })),
  // Root type deny (wins over OPTIN), actions access + correct: access makes it a read rule.
  'consent-example-notOrg': accepted('consent-example-notOrg', 'f001', provision('provision', 'deny', { actors: ['Organization/f001'] })),
  // OPTIN, root without type → permit for Practitioner/f204 (actions access + correct).
  'consent-example-notThem': accepted('consent-example-notThem', 'f001', provision('provision', 'permit', { actors: ['Practitioner/f204'] })),
  'consent-example-notThis': {
    outcome: 'refused',
    expression: 'Consent.provision.data[0].meaning',
    reason: /related would change meaning when other resources change; not enforceable from the resource alone/,
  },
  // OPTIN with a period: permit from 2015-01-01 to the end of 2015-02-01.
  'consent-example-notTime': accepted(
    'consent-example-notTime',
    'f001',
    provision('provision', 'permit', { period: { start: ms('2015-01-01T00:00:00.000Z'), end: ms('2015-02-01T23:59:59.999Z') } }),
  ),
  'consent-example-pkb': {
    outcome: 'refused',
    expression: 'Consent.provision.provision[0].type',
    reason: /is required on a nested provision: permit or deny/,
  },
  'consent-example-signature': {
    outcome: 'refused',
    expression: 'Consent.provision.provision[0].class[0]',
    reason: /names content this server cannot classify \(urn:ietf:bcp:13 application\/hl7-cda\+xml\)/,
  },
  // OPTIN with a 30-minute period; nested permit for MedicationRequest (access).
  'consent-example-smartonfhir': accepted(
    'consent-example-smartonfhir',
    'xcda',
    provision('provision', 'permit', {
      period: { start: ms('2016-06-23T07:02:33.000Z'), end: ms('2016-06-23T07:32:33.999Z') },
      children: [provision('provision.provision[0]', 'permit', { classes: { resourceTypes: ['MedicationRequest'] } })],
    }),
  ),
};
