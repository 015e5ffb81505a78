import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEMO_ACTORS, DEMO_ROLES, demoActor } from '../../fixtures/actors/actors.js';
import { actorKeyFile, demoPasswordsFile, ensureDemoActors, loadActorKey, readDemoPasswords } from '../../fixtures/actors/ensure-demo-actors.js';
import { ClientRegistry } from '../../server/src/auth-server/client-registry.js';
import { UserDirectory } from '../../server/src/auth-server/users.js';
import { ORG } from '../../fixtures/population/organizations.js';

describe('demo actors (made on first start in DATA_DIR)', () => {
  let dir: string;
  let first: Awaited<ReturnType<typeof ensureDemoActors>>;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'custodian-actors-'));
    first = await ensureDemoActors(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('there is one actor per role, and every role the issue names', () => {
    assert.deepEqual([...DEMO_ACTORS.map((a) => a.role)].sort(), [...DEMO_ROLES].sort());
  });
  it('registers every demo client, backends with the public half of a key kept in DATA_DIR (0600)', async () => {
    assert.equal(first.registered.length, DEMO_ACTORS.length);
    const registry = ClientRegistry.open(dir);
    for (const actor of DEMO_ACTORS) {
      const reg = registry.get(actor.registration.client_id);
      assert.ok(reg, actor.registration.client_id);
      if (actor.kind !== 'backend') continue;
      const file = actorKeyFile(dir, reg.client_id);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const key = await loadActorKey(dir, reg.client_id);
      assert.equal(reg.jwks?.keys[0]?.kid, key.kid);
      assert.equal('d' in reg.jwks!.keys[0]!, false);
    }
  });
  it('backends act as the seeded organisations, for the purposes chosen for them', () => {
    const insurer = demoActor('insurer').registration;
    assert.equal(insurer.fhirUser, `Organization/${ORG.insurer}`);
    assert.equal(insurer.purposes_of_use[0], 'HPAYMT');
    assert.equal(demoActor('research').registration.purposes_of_use[0], 'HRESCH');
    assert.deepEqual(demoActor('admin').registration.scopes, ['system/*.cruds']);
  });
  it('demo users sign in with the random passwords kept in DATA_DIR (hashes only in users.json)', async () => {
    const passwords = readDemoPasswords(dir);
    assert.equal(statSync(demoPasswordsFile(dir)).mode & 0o777, 0o600);
    const users = await UserDirectory.open(dir);
    const usersJson = readFileSync(users.file, 'utf8');
    for (const actor of DEMO_ACTORS) {
      if (actor.kind !== 'app') continue;
      const password = passwords[actor.user.username]!;
      assert.ok(password.length >= 16);
      assert.ok(!usersJson.includes(password));
      assert.equal((await users.verify(actor.user.username, password))?.username, actor.user.username);
    }
  });
  it('a second start changes nothing; a demo client edited by hand is reset, others are kept', async () => {
    assert.deepEqual(await ensureDemoActors(dir), { registered: [], usersCreated: [] });
    const registry = ClientRegistry.open(dir);
    registry.upsert({ ...demoActor('research').registration, jwks: registry.get('demo-research-backend')!.jwks!, scopes: ['system/Patient.rs'] });
    registry.upsert({ client_id: 'operator-app', name: 'Operator app', kind: 'public', redirect_uris: ['https://op.test/cb'], scopes: ['patient/*.rs'], purposes_of_use: ['TREAT'], roles: [] });
    assert.deepEqual((await ensureDemoActors(dir)).registered, ['demo-research-backend']);
    assert.deepEqual(ClientRegistry.open(dir).get('demo-research-backend')?.scopes, ['system/*.rs']);
    assert.ok(ClientRegistry.open(dir).get('operator-app'));
  });
});
