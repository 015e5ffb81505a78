import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../server/src/config/config.js';

describe('loadConfig', () => {
  it('applies defaults and freezes the result', () => {
    const c = loadConfig({});
    assert.equal(c.port, 8080);
    assert.equal(c.baseUrl, 'http://localhost:8080/fhir');
    assert.deepEqual(c.storage, { engine: 'embedded' });
    assert.equal(c.updateCreate, true);
    assert.ok(Object.isFrozen(c));
    assert.throws(() => {
      (c as { port: number }).port = 1;
    });
  });
  it('selects MongoDB when MONGODB_URI is set', () => {
    const c = loadConfig({ MONGODB_URI: 'mongodb://db:27017/?replicaSet=rs0', MONGODB_DB: 'fhir' });
    assert.deepEqual(c.storage, { engine: 'mongodb', uri: 'mongodb://db:27017/?replicaSet=rs0', dbName: 'fhir' });
  });
  it('treats empty strings as unset', () => {
    assert.equal(loadConfig({ PORT: '' }).port, 8080);
  });
  it('reports every invalid variable at once', () => {
    assert.throws(
      () => loadConfig({ PORT: 'eighty', LOG_LEVEL: 'loud', MONGODB_URI: 'http://nope', UPDATE_CREATE: 'maybe' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        for (const v of ['PORT', 'LOG_LEVEL', 'MONGODB_URI', 'UPDATE_CREATE']) assert.match(err.message, new RegExp(v));
        return true;
      },
    );
  });
  it('validates the consent base policy and break-the-glass roles', () => {
    const d = loadConfig({});
    assert.deepEqual(d.consent.breakGlassRoles, ['clinician']);
    assert.match(d.consent.basePolicy, /research=deny/);
    assert.deepEqual(loadConfig({ CONSENT_BREAK_GLASS_ROLES: 'none' }).consent.breakGlassRoles, []);
    assert.deepEqual(loadConfig({ CONSENT_BREAK_GLASS_ROLES: 'clinician, admin' }).consent.breakGlassRoles, ['clinician', 'admin']);
    assert.equal(loadConfig({ CONSENT_BASE_POLICY: 'research=permit,payment:substance-use=deny' }).consent.basePolicy, 'research=permit,payment:substance-use=deny');
    assert.throws(() => loadConfig({ CONSENT_BASE_POLICY: 'research=maybe' }), (e: Error) => e instanceof ConfigError && /CONSENT_BASE_POLICY/.test(e.message));
    assert.throws(() => loadConfig({ CONSENT_BASE_POLICY: 'gaming=deny' }), (e: Error) => e instanceof ConfigError && /unknown purpose group 'gaming'/.test(e.message));
    assert.throws(() => loadConfig({ CONSENT_BASE_POLICY: 'payment:lottery=deny' }), (e: Error) => e instanceof ConfigError && /unknown data category 'lottery'/.test(e.message));
    assert.throws(() => loadConfig({ CONSENT_BREAK_GLASS_ROLES: 'janitor' }), (e: Error) => e instanceof ConfigError && /CONSENT_BREAK_GLASS_ROLES/.test(e.message));
  });

  it('refuses a default page size above the maximum', () => {
    assert.throws(() => loadConfig({ DEFAULT_PAGE_SIZE: '50', MAX_PAGE_SIZE: '10' }), ConfigError);
  });
  it('derives BASE_URL from HOST and PORT unless given', () => {
    assert.equal(loadConfig({ HOST: 'fhir.example.org', PORT: '9000' }).baseUrl, 'http://fhir.example.org:9000/fhir');
    assert.equal(loadConfig({ BASE_URL: 'https://fhir.example.org/r4/' }).baseUrl, 'https://fhir.example.org/r4');
  });
  it('CURSOR_SECRET must be at least 32 characters; MAX_INCLUDES is a bounded integer', () => {
    assert.equal(loadConfig({}).cursorSecret, undefined);
    assert.equal(loadConfig({ CURSOR_SECRET: 's'.repeat(32) }).cursorSecret, 's'.repeat(32));
    assert.throws(() => loadConfig({ CURSOR_SECRET: 'too-short' }), (err: unknown) => err instanceof ConfigError && /CURSOR_SECRET/.test(err.message));
    assert.equal(loadConfig({}).maxIncludes, 1000);
    assert.equal(loadConfig({ MAX_INCLUDES: '0' }).maxIncludes, 0);
    assert.throws(() => loadConfig({ MAX_INCLUDES: '-1' }), ConfigError);
    assert.throws(() => loadConfig({ MAX_INCLUDES: 'many' }), ConfigError);
  });
});
