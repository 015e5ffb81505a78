import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { createTestAuth, type TestAuth } from '../helpers/test-auth.js';

/**
 * End-to-end: the real server process connected to an external identity provider the way an
 * operator does it (AUTH_ISSUER + AUTH_JWKS_URL; the JWKS is fetched over HTTP), then driven
 * with tokens that provider signs: public metadata, 401s, a patient confined to its compartment.
 */

describe('the real server trusting an external identity provider', () => {
  let server: ServerProcess;
  let idp: TestAuth;
  const call = async (path: string, init: { method?: string; token?: string; body?: unknown } = {}): Promise<{ status: number; body: any; headers: Headers }> => {
    const res = await fetch(`${server.baseUrl}/${path}`, {
      method: init.method ?? 'GET',
      headers: {
        accept: 'application/fhir+json',
        ...(init.body !== undefined ? { 'content-type': 'application/fhir+json' } : {}),
        ...(init.token !== undefined ? { authorization: `Bearer ${init.token}` } : {}),
      },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  };

  before(async () => {
    idp = await createTestAuth({ audience: 'http://localhost/fhir', issuer: 'https://idp.example/realms/custodian' });
    server = await startServer({ issuer: idp });
    const admin = (server.authorization as string).slice('Bearer '.length);
    for (const [type, body] of [
      ['Patient/ext-a', { resourceType: 'Patient', id: 'ext-a', name: [{ family: 'Able' }] }],
      ['Patient/ext-b', { resourceType: 'Patient', id: 'ext-b', name: [{ family: 'Baker' }] }],
      ['Observation/ext-a-1', { resourceType: 'Observation', id: 'ext-a-1', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/ext-a' } }],
      ['Observation/ext-b-1', { resourceType: 'Observation', id: 'ext-b-1', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/ext-b' } }],
    ] as const) {
      const res = await call(type, { method: 'PUT', token: admin, body });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
  });
  after(async () => {
    await server?.dispose();
  });

  it('metadata is public; everything else needs a token from that provider', async () => {
    assert.equal((await call('metadata')).status, 200);
    const none = await call('Patient/ext-a');
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer realm=/);
    const forged = await call('Patient/ext-a', { token: await idp.token({ forged: true, audience: server.baseUrl }) });
    assert.equal(forged.status, 401);
    assert.match(forged.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    const wrongAud = await call('Patient/ext-a', { token: await idp.token({ audience: 'http://localhost/other' }) });
    assert.equal(wrongAud.status, 401);
    // SMART discovery belongs to the external provider.
    assert.equal((await call('.well-known/smart-configuration')).status, 404);
  });

  it('a patient app sees its own compartment only', async () => {
    const token = await idp.token({ audience: server.baseUrl, scope: 'openid fhirUser patient/*.rs', patient: 'ext-a', fhirUser: 'Patient/ext-a', purpose_of_use: 'PATRQT' });
    assert.equal((await call('Patient/ext-a', { token })).status, 200);
    assert.equal((await call('Patient/ext-b', { token })).status, 404);
    assert.equal((await call('Observation/ext-b-1', { token })).status, 404);
    const search = await call('Observation?_count=50', { token });
    assert.equal(search.status, 200);
    assert.deepEqual(search.body.entry.map((e: { resource: { id: string } }) => e.resource.id), ['ext-a-1']);
    assert.equal((await call('Observation', { token, method: 'POST', body: { resourceType: 'Observation', status: 'final', code: { text: 'y' }, subject: { reference: 'Patient/ext-a' } } })).status, 403);
  });
});
