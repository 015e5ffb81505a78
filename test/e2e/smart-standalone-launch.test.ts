import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Bundle } from '@medplum/fhirtypes';
import { readDemoPasswords } from '../../fixtures/actors/ensure-demo-actors.js';
import { scriptedStandaloneLaunch } from '../../fixtures/actors/scripted-launch.js';
import { startServer, type ServerProcess } from '../helpers/server-process.js';

/**
 * SMART standalone launch end to end, browserless (fhirclient runs in Node but its
 * isomorphic-webcrypto dependency installs React Native and ~700 packages, so the launch is
 * scripted instead): the real server with a small seeded population, the demo apps and users,
 * a loopback listener as the app's redirect URI (any port, RFC 8252), every redirect followed,
 * sign-in and approval forms submitted, the code exchanged with PKCE, the token used on FHIR
 * and refreshed.
 */
describe('SMART standalone launch against the real server', () => {
  let srv: ServerProcess;
  let app: Server;
  let redirectUri: string;
  const callbacks: URL[] = [];
  let passwords: Record<string, string>;

  before(async () => {
    srv = await startServer({ env: { SEED_ON_FIRST_START: 'true', SEED_PATIENTS: '2' } });
    passwords = readDemoPasswords(srv.dataDir);
    app = createServer((req, res) => {
      callbacks.push(new URL(req.url ?? '/', 'http://127.0.0.1'));
      res.setHeader('content-type', 'text/plain');
      res.end('Signed in; you can close this window.');
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    redirectUri = `http://127.0.0.1:${(app.address() as AddressInfo).port}/callback`;
  });
  after(async () => {
    app?.close();
    await srv?.dispose();
  });

  const fhir = async (path: string, token: string) => {
    const res = await fetch(`${srv.baseUrl}/${path}`, { headers: { accept: 'application/fhir+json', authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('the demo patient signs in to the patient app, which reads their record and refreshes its token', async () => {
    const result = await scriptedStandaloneLaunch({
      fhirBaseUrl: srv.baseUrl,
      clientId: 'demo-patient-app',
      redirectUri,
      scope: 'launch/patient fhirUser patient/*.rs offline_access',
      username: 'demo.patient',
      password: passwords['demo.patient']!,
      visitRedirectUri: true,
    });
    assert.equal(result.tokenStatus, 200, JSON.stringify(result.token));
    assert.deepEqual(
      result.visited.map((v) => v.replace(/\?.*/, '').replace(/https?:\/\/[^/]+/, '')),
      ['GET /auth/authorize', 'POST /auth/login', 'POST /auth/approve', 'GET /callback', 'POST /auth/token'],
    );
    assert.equal(callbacks.at(-1)?.searchParams.has('code'), true, 'the app received the code at its redirect URI');
    const { token } = result;
    const patient = token.patient as string;
    assert.ok(patient);
    assert.equal(token.fhirUser, `Patient/${patient}`);
    assert.deepEqual(token.purpose_of_use, ['PATRQT']);
    assert.equal((await fhir(`Patient/${patient}`, token.access_token as string)).status, 200);
    const all = await fhir('Patient', token.access_token as string);
    assert.equal(all.status, 200);
    assert.deepEqual(((all.body as unknown as Bundle).entry ?? []).map((e) => e.resource?.id), [patient], 'a patient/ token sees only its patient');

    const refreshed = await fetch(new URL('/auth/token', srv.baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token.refresh_token as string, client_id: 'demo-patient-app' }).toString(),
    });
    const next = (await refreshed.json()) as Record<string, unknown>;
    assert.equal(refreshed.status, 200, JSON.stringify(next));
    assert.notEqual(next.refresh_token, token.refresh_token);
    assert.equal((await fhir(`Patient/${patient}`, next.access_token as string)).status, 200);
  });

  it('the clinician picks a patient in the clinician app; the token is confined to that patient', async () => {
    let offered: readonly string[] = [];
    const result = await scriptedStandaloneLaunch({
      fhirBaseUrl: srv.baseUrl,
      clientId: 'demo-clinician-app',
      redirectUri,
      scope: 'launch/patient fhirUser patient/*.rs',
      username: 'amelia.hart',
      password: passwords['amelia.hart']!,
      choosePatient: (ids) => {
        offered = ids;
        return ids.at(-1);
      },
    });
    assert.equal(result.tokenStatus, 200, JSON.stringify(result.token));
    assert.equal(offered.filter((id: string) => !id.startsWith('scn-')).length, 2, 'both seeded patients are offered');
    assert.equal(result.token.patient, offered.at(-1));
    assert.equal(result.token.fhirUser, 'Practitioner/pract-1');
    assert.deepEqual(result.token.purpose_of_use, ['TREAT']);
    const other = offered[0]!;
    assert.equal((await fhir(`Patient/${offered.at(-1)}`, result.token.access_token as string)).status, 200);
    assert.equal((await fhir(`Patient/${other}`, result.token.access_token as string)).status, 404, 'outside the compartment looks absent');
  });

  it('a wrong password never yields a code', async () => {
    await assert.rejects(
      scriptedStandaloneLaunch({
        fhirBaseUrl: srv.baseUrl,
        clientId: 'demo-clinician-app',
        redirectUri,
        scope: 'fhirUser user/*.rs',
        username: 'amelia.hart',
        password: 'not-the-password',
      }),
      /access_denied|answered 401|no redirect/,
    );
  });
});
