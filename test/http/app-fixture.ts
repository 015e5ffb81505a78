import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { RequestListener } from 'node:http';
import { loadConfig, type Config } from '../../server/src/config/config.js';
import { openDependencies, type Dependencies } from '../../server/src/dependencies.js';
import { authedApp } from '../helpers/authed-app.js';
import type { TestAuth } from '../helpers/test-auth.js';

export const BASE = 'http://localhost:8080/fhir';

export interface TestApp {
  /** Acts as an admin backend (system/*.cruds) unless a request sets its own Authorization. */
  app: RequestListener;
  /** No default token: for tests of authentication and scopes. */
  rawApp: RequestListener;
  /** The test issuer the app trusts: `auth.token({ scope, patient, … })`. */
  auth: TestAuth;
  deps: Dependencies;
  config: Config;
  close(): Promise<void>;
}

/** A real app on a fresh embedded store in a temp dir; env overrides go through loadConfig. */
export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'custodian-http-'));
  const config = loadConfig({ DATA_DIR: dataDir, SEED_ON_FIRST_START: 'false', BASE_URL: BASE, ...env });
  const logger = pino({ level: 'silent' });
  const deps = await openDependencies(config, logger);
  const { app, rawApp, auth } = await authedApp(deps, config, logger);
  return {
    app,
    rawApp,
    auth,
    deps,
    config,
    close: async () => {
      await deps.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const FHIR_JSON = 'application/fhir+json';

export function patient(family = 'Chalmers', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resourceType: 'Patient',
    identifier: [{ system: 'urn:oid:2.16.840.1.113883.19.5', value: `MRN-${family}` }],
    name: [{ family, given: ['Peter'] }],
    gender: 'male',
    birthDate: '1974-12-25',
    ...extra,
  };
}

export function observation(patientId: string, code = '8867-4', value = 72): Record<string, unknown> {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code, display: 'Heart rate' }] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: '2024-03-01T10:00:00Z',
    valueQuantity: { value, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
  };
}
