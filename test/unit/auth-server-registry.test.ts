import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { parseClientRegistration, type ClientRegistration } from '../../server/src/auth-server/client-registration.js';
import { ClientRegistry } from '../../server/src/auth-server/client-registry.js';
import { UserDirectory } from '../../server/src/auth-server/users.js';
import { loadSigningKey } from '../../server/src/auth-server/signing-key.js';
import { clientKey } from '../http/auth-server-fixture.js';

const APP: ClientRegistration = {
  client_id: 'my-app',
  name: 'My app',
  kind: 'public',
  redirect_uris: ['https://app.test/cb'],
  scopes: ['launch/patient', 'patient/*.rs'],
  purposes_of_use: ['TREAT'],
  roles: [],
};

describe('client registrations are validated', () => {
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['a private key in jwks', { ...APP, kind: 'backend', redirect_uris: [], scopes: ['system/*.rs'], jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'secret' }] } }, /must be public/],
    ['a backend without keys', { ...APP, kind: 'backend', redirect_uris: [], scopes: ['system/*.rs'] }, /need jwks/],
    ['a backend with patient scopes', { ...APP, kind: 'backend', redirect_uris: [], jwks: { keys: [{ kty: 'EC' }] } }, /system\/ scopes only/],
    ['a public client with keys', { ...APP, jwks: { keys: [{ kty: 'EC' }] } }, /no keys/],
    ['an app without redirect URIs', { ...APP, redirect_uris: [] }, /redirect URI/],
    ['an http redirect off loopback', { ...APP, redirect_uris: ['http://app.test/cb'] }, /https/],
    ['a redirect with a fragment', { ...APP, redirect_uris: ['https://app.test/cb#x'] }, /fragment/],
    ['an unknown purpose', { ...APP, purposes_of_use: ['SHOPPING'] }, /PurposeOfUse/],
    ['no purpose', { ...APP, purposes_of_use: [] }, /purposes_of_use/],
    ['a malformed scope', { ...APP, scopes: ['patient/*.everything'] }, /not a SMART scope/],
    ['an unknown role', { ...APP, roles: ['superuser'] }, /roles/],
    ['a bad client_id', { ...APP, client_id: 'has space' }, /client_id/],
    ['an unknown member', { ...APP, secret: 'x' }, /secret|Unrecognized/],
  ];
  for (const [what, value, pattern] of bad) {
    it(`refuses ${what}`, () => assert.throws(() => parseClientRegistration(value), pattern));
  }
  it('accepts a loopback http redirect and a real backend key', async () => {
    parseClientRegistration({ ...APP, redirect_uris: ['http://127.0.0.1/callback', 'http://localhost:3000/cb'] });
    const key = await clientKey('RS384');
    parseClientRegistration({ ...APP, kind: 'backend', redirect_uris: [], scopes: ['system/*.rs'], jwks: { keys: [key.publicJwk] }, fhirUser: 'Organization/org-insurer' });
  });
});

describe('the client registry file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'custodian-registry-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('starts empty, persists upserts (mode 0600) and replaces by client_id', () => {
    const registry = ClientRegistry.open(dir);
    assert.equal(registry.get('my-app'), undefined);
    registry.upsert(APP);
    registry.upsert({ ...APP, name: 'Renamed' });
    assert.equal(statSync(registry.file).mode & 0o777, 0o600);
    const reopened = ClientRegistry.open(dir);
    assert.equal(reopened.list().length, 1);
    assert.equal(reopened.get('my-app')?.name, 'Renamed');
  });
  it('a running registry sees edits made by another process', () => {
    const registry = ClientRegistry.open(dir);
    registry.upsert(APP);
    ClientRegistry.open(dir).upsert({ ...APP, client_id: 'second-app' });
    assert.ok(registry.get('second-app'));
  });
  it('an invalid edit is reported once and the last valid registry stays in force', () => {
    const errors: string[] = [];
    const registry = ClientRegistry.open(dir, (err) => errors.push(err.message));
    registry.upsert(APP);
    writeFileSync(registry.file, '{"clients": [{"client_id": "broken"}]}');
    assert.equal(registry.get('my-app')?.name, 'My app');
    assert.equal(registry.get('my-app')?.name, 'My app');
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /not a valid client registry/);
  });
  it('an invalid file stops start-up with the reasons', () => {
    writeFileSync(join(dir, 'clients.json'), '{"clients": [{"client_id": "a"}, {"client_id": "a"}]}');
    assert.throws(() => ClientRegistry.open(dir), /not a valid client registry/);
    writeFileSync(join(dir, 'clients.json'), 'not json');
    assert.throws(() => ClientRegistry.open(dir), /not valid JSON/);
  });
});

describe('users and the signing key in DATA_DIR', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'custodian-users-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('stores scrypt hashes, never the password, and verifies', async () => {
    const users = await UserDirectory.open(dir);
    await users.upsert({ username: 'amelia', displayName: 'Dr Amelia', roles: ['clinician'], fhirUser: 'Practitioner/pract-1' }, 'correct horse');
    const text = readFileSync(users.file, 'utf8');
    assert.doesNotMatch(text, /correct horse/);
    assert.match(text, /"scheme": "scrypt"/);
    assert.equal(statSync(users.file).mode & 0o777, 0o600);
    const again = await UserDirectory.open(dir);
    assert.equal((await again.verify('amelia', 'correct horse'))?.fhirUser, 'Practitioner/pract-1');
    assert.equal(await again.verify('amelia', 'wrong'), undefined);
    assert.equal(await again.verify('nobody', 'correct horse'), undefined);
  });
  it('creates the ES256 signing key once (mode 0600, kid = thumbprint) and reuses it', async () => {
    const a = await loadSigningKey(dir);
    const b = await loadSigningKey(dir);
    assert.equal(a.kid, b.kid);
    assert.equal(statSync(join(dir, 'keys', 'auth-signing-key.json')).mode & 0o777, 0o600);
    const [jwk] = a.publicJwks.keys;
    assert.equal(jwk!.kid, a.kid);
    assert.equal(jwk!.alg, 'ES256');
    assert.equal('d' in jwk!, false, 'the published key set holds no private part');
  });
  it('refuses a damaged key file instead of silently replacing it', async () => {
    await loadSigningKey(dir);
    writeFileSync(join(dir, 'keys', 'auth-signing-key.json'), '{"kty":"oct","k":"abc"}');
    await assert.rejects(loadSigningKey(dir), /P-256 private key/);
  });
});
