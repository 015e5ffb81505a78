import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { discoverSmartConfiguration, signClientAssertion, JWT_BEARER } from '../../fixtures/actors/backend-client.js';
import { loadActorKey } from '../../fixtures/actors/ensure-demo-actors.js';
import { REPO_ROOT, startServer, type ServerProcess } from '../helpers/server-process.js';

const run = promisify(execFile);

/**
 * SMART Backend Services end to end: the real server process with its built-in authorization
 * server, the insurer's demo key from DATA_DIR, a signed client assertion over HTTP, the token
 * used on the FHIR API; replay refused, also after a restart; and `npm run token`.
 */
describe('SMART Backend Services against the real server', () => {
  let srv: ServerProcess;
  let tokenEndpoint: string;
  before(async () => {
    srv = await startServer();
    tokenEndpoint = (await discoverSmartConfiguration(srv.baseUrl)).token_endpoint;
  });
  after(() => srv?.dispose());

  const post = (form: Record<string, string>) =>
    fetch(tokenEndpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
  const insurerForm = async (assertion?: string) => ({
    grant_type: 'client_credentials',
    scope: 'system/Patient.rs system/Claim.rs',
    client_assertion_type: JWT_BEARER,
    client_assertion: assertion ?? (await signClientAssertion('demo-insurer-backend', tokenEndpoint, await loadActorKey(srv.dataDir, 'demo-insurer-backend'))),
  });
  const fhir = (path: string, token?: string, init: RequestInit = {}) =>
    fetch(`${srv.baseUrl}/${path}`, { ...init, headers: { accept: 'application/fhir+json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers ?? {}) } });

  it('publishes the SMART configuration at the origin and under the FHIR base', async () => {
    const underBase = await discoverSmartConfiguration(srv.baseUrl);
    const atOrigin = (await (await fetch(new URL('/.well-known/smart-configuration', srv.baseUrl))).json()) as Record<string, unknown>;
    assert.deepEqual(atOrigin, underBase);
    assert.deepEqual(underBase.code_challenge_methods_supported, ['S256']);
    assert.ok((underBase.capabilities as string[]).includes('client-confidential-asymmetric'));
  });

  let assertion: string;
  it('a signed assertion gets a token that reads the FHIR API', async () => {
    const form = await insurerForm();
    assertion = form.client_assertion;
    const res = await post(form);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.scope, 'system/Patient.rs system/Claim.rs');
    assert.deepEqual(body.purpose_of_use, ['HPAYMT']);
    const claims = decodeJwt(body.access_token as string);
    assert.equal(claims.aud, srv.baseUrl);
    assert.equal(claims.fhirUser, 'Organization/org-insurer');
    const read = await fhir('Patient?_count=1', body.access_token as string);
    assert.equal(read.status, 200);
    const anonymous = await fhir('Patient?_count=1');
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Bearer/);
  });
  it('the same assertion again is a replay: 401 invalid_client', async () => {
    const res = await post(await insurerForm(assertion));
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as Record<string, unknown>).error, 'invalid_client');
  });
  it('npm run token -- --as research prints a working token on its last line', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'server/src/cli/token.ts'), '--as', 'research'], {
      cwd: REPO_ROOT,
      env: { ...process.env, PORT: String(srv.port), DATA_DIR: srv.dataDir, LOG_LEVEL: 'silent' },
    });
    const token = stdout.trim().split('\n').at(-1)!;
    const claims = decodeJwt(token);
    assert.deepEqual(claims.purpose_of_use, ['HRESCH']);
    assert.deepEqual(claims.roles, ['research']);
    assert.equal((await fhir('Observation?_count=1', token)).status, 200);
    const write = await fhir('Patient', token, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Patient' }) });
    assert.equal(write.status, 403, 'system/*.rs does not allow create');
  });
  it('after a restart on the same DATA_DIR and port, the replay is still refused and the keys still verify', async () => {
    const { dataDir, port } = srv;
    const earlier = await fetch(tokenEndpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(await insurerForm()).toString() });
    const oldToken = ((await earlier.json()) as Record<string, string>).access_token!;
    await srv.stop();
    const again = await startServer({ dataDir, env: { PORT: String(port) } });
    try {
      const replay = await post(await insurerForm(assertion));
      const body = (await replay.json()) as Record<string, string>;
      assert.equal(replay.status, 401);
      assert.match(body.error_description!, /replay/);
      assert.equal((await fhir('Patient?_count=1', oldToken)).status, 200, 'a token from before the restart still verifies (same key)');
      assert.equal((await post(await insurerForm())).status, 200);
    } finally {
      await again.stop();
    }
  });
});
