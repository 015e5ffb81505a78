import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RequestListener } from 'node:http';
import { pino } from 'pino';
import request from 'supertest';
import { createApp } from '../../server/src/app.js';
import { BASE, startTestApp, type TestApp } from './app-fixture.js';

/**
 * The console's static files at /console/ (server/src/http/console-static.ts), on a build
 * directory made by the test: the page, hashed assets cached for good, config.json, no way out
 * of the directory, and a clear answer when the console is not built.
 */
describe('the web console is served as static files at /console/', () => {
  let t: TestApp;
  let root: string;
  let app: RequestListener;
  let unbuilt: RequestListener;
  const SECRET = 'TOP-SECRET-OUTSIDE-THE-BUILD';

  before(async () => {
    t = await startTestApp();
    root = mkdtempSync(join(tmpdir(), 'custodian-console-'));
    const dist = join(root, 'dist');
    mkdirSync(join(dist, 'assets'), { recursive: true });
    writeFileSync(join(dist, 'index.html'), '<!doctype html><title>Custodian console</title><script type="module" src="/console/assets/index-Ab12Cd34.js"></script>');
    writeFileSync(join(dist, 'assets', 'index-Ab12Cd34.js'), 'console.log("console");');
    writeFileSync(join(dist, '.env'), SECRET);
    writeFileSync(join(root, 'outside.txt'), SECRET);
    mkdirSync(join(root, 'empty'));
    const deps = { fhir: t.deps.service, baseUrl: BASE, maxBodyBytes: 1024, logger: pino({ level: 'silent' }), auth: { verifier: t.auth.verifier } };
    app = createApp({ ...deps, console: { dir: dist, clientId: 'custodian-console' } });
    unbuilt = createApp({ ...deps, console: { dir: join(root, 'empty'), clientId: 'custodian-console' } });
  });
  after(async () => {
    await t.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('/console redirects to /console/ (the registered redirect URI), keeping the query', async () => {
    const res = await request(app).get('/console?code=abc&state=xyz');
    assert.equal(res.status, 301);
    assert.equal(res.headers.location, '/console/?code=abc&state=xyz');
  });

  it('the page is HTML that browsers revalidate, under a Content-Security-Policy that allows only this origin', async () => {
    const res = await request(app).get('/console/');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] ?? '', /^text\/html/);
    assert.match(res.text, /<title>Custodian console<\/title>/);
    assert.equal(res.headers['cache-control'], 'no-cache');
    const csp = res.headers['content-security-policy'] ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self';/);
    assert.match(csp, /connect-src 'self';/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
  });

  it('hashed assets are cached for a year, immutable', async () => {
    const res = await request(app).get('/console/assets/index-Ab12Cd34.js');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] ?? '', /javascript/);
    assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(res.text, 'console.log("console");');
  });

  it('config.json tells the page the FHIR base and its client id, never cached', async () => {
    const res = await request(app).get('/console/config.json');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { fhirBaseUrl: BASE, clientId: 'custodian-console' });
    assert.equal(res.headers['cache-control'], 'no-store');
  });

  it('nothing outside the build directory, and no dotfiles, can be read', async () => {
    for (const path of ['/console/../outside.txt', '/console/%2e%2e/outside.txt', '/console/..%2foutside.txt', '/console/assets/..%2f..%2foutside.txt', '/console/%2e%2e%2f%2e%2e%2fpackage.json', '/console/.env', '/console/assets/%2e%2e/.env']) {
      const res = await request(app).get(path);
      assert.ok(res.status === 404 || res.status === 403 || res.status === 400, `${path}: ${res.status}`);
      assert.ok(!res.text.includes(SECRET), `${path} leaked the file`);
      assert.ok(!res.text.includes('"devDependencies"'), `${path} leaked package.json`);
    }
  });

  it('an unknown file is a 404 page; only GET and HEAD are allowed', async () => {
    const missing = await request(app).get('/console/assets/nope.js');
    assert.equal(missing.status, 404);
    assert.match(missing.headers['content-type'] ?? '', /^text\/html/);
    const post = await request(app).post('/console/').send('x');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
  });

  it('without a build, the console answers 503 saying how to build it', async () => {
    for (const path of ['/console/', '/console/assets/index-Ab12Cd34.js']) {
      const res = await request(unbuilt).get(path);
      assert.equal(res.status, 503, path);
      assert.match(res.headers['content-type'] ?? '', /^text\/html/);
      assert.match(res.text, /npm run build:console/);
      assert.equal(res.headers['retry-after'], '60');
    }
    assert.equal((await request(unbuilt).get('/console/config.json')).status, 200, 'the configuration does not depend on the build');
  });

  it('the FHIR API beside it is unchanged', async () => {
    const res = await request(app).get('/fhir/metadata');
    assert.equal(res.status, 200);
    assert.equal(res.body.resourceType, 'CapabilityStatement');
  });
});
