import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { STEWARD_USER, demoActor } from '../../fixtures/actors/actors.js';
import { discoverSmartConfiguration, requestBackendToken } from '../../fixtures/actors/backend-client.js';
import { loadActorKey, readDemoPasswords } from '../../fixtures/actors/ensure-demo-actors.js';
import { REPO_ROOT, startServer, type ServerProcess } from '../helpers/server-process.js';

/**
 * The web console in a real browser (issue 9): Debian's Chromium driven by playwright-core,
 * against the real server process with demo data. The console is built from its sources
 * first, so the test exercises what `npm run build:console` makes of the current code.
 * Screenshots are kept under test-artifacts/console/.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'console');
const CATEGORY_TAG = 'https://custodian.example.org/fhir/CodeSystem/data-category';
/** Waits for things the server does by itself (anchoring a checkpoint) are bounded by this. */
const WAIT_MS = 60_000;

const missing = existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM} (apt-get install -y chromium; .ci/run installs it)`;

describe('web console in Chromium', { skip: missing }, () => {
  let srv: ServerProcess;
  let browser: Browser;
  let origin: string;
  let passwords: Record<string, string>;

  before(async () => {
    const build = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'console/vite.config.ts', '--logLevel', 'error'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(build.status, 0, `the console does not build:\n${build.stdout}\n${build.stderr}`);
    mkdirSync(ARTIFACTS, { recursive: true });
    srv = await startServer({ env: { SEED_ON_FIRST_START: 'true', SEED_PATIENTS: '2' } });
    origin = new URL(srv.baseUrl).origin;
    passwords = readDemoPasswords(srv.dataDir);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    await srv?.dispose();
  });

  /** Signs in through the console's button, the server's sign-in form and its approval form. */
  async function signIn(context: BrowserContext, mode: 'patient' | 'steward', username: string): Promise<Page> {
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`${msg.text()} ${msg.location().url}`);
    });
    (page as Page & { problems?: string[] }).problems = problems;
    await page.goto(`${origin}/console/`);
    await page.click(`#sign-in-${mode}`);
    await page.waitForURL(/\/auth\/authorize/);
    await page.fill('#username', username);
    await page.fill('#password', passwords[username]!);
    await page.click('button[type=submit]');
    await page.click('button[name=decision][value=approve]');
    await page.waitForURL(`${origin}/console/`);
    await page.waitForSelector('#sign-out');
    return page;
  }

  async function employerCount(patientId: string, category: string): Promise<number> {
    const employer = demoActor('employer');
    const { token_endpoint } = await discoverSmartConfiguration(srv.baseUrl);
    const answer = await requestBackendToken({
      tokenEndpoint: token_endpoint,
      clientId: employer.registration.client_id,
      key: await loadActorKey(srv.dataDir, employer.registration.client_id),
      scope: employer.registration.scopes.join(' '),
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const res = await fetch(`${srv.baseUrl}/Observation?subject=Patient/${patientId}&_tag=${encodeURIComponent(`${CATEGORY_TAG}|${category}`)}&_total=accurate&_count=100`, {
      headers: { authorization: `Bearer ${String(answer.body.access_token)}`, accept: 'application/fhir+json' },
    });
    assert.equal(res.status, 200);
    const bundle = (await res.json()) as { total?: number; entry?: unknown[] };
    assert.equal(bundle.total, (bundle.entry ?? []).length);
    return bundle.total ?? 0;
  }

  it('a patient denies mental-health data to the employer in the grid; the employer no longer sees it, and the access shows in the log, verified', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const page = await signIn(context, 'patient', 'demo.patient');
      const patientId = await page.evaluate(() => (JSON.parse(sessionStorage.getItem('custodian-console.session') ?? '{}') as { patient?: string }).patient);
      assert.ok(patientId, 'the launch gave the console a patient');

      const cell = page.locator('button.cell[data-category="mental-health"][data-recipient="employer"]');
      await cell.waitFor();
      assert.equal(await cell.getAttribute('data-decision'), 'permit', 'nothing denies the employer yet: the base policy permits');
      assert.ok((await employerCount(patientId, 'mental-health')) > 0, 'before: the employer sees mental-health Observations of this patient');

      // Keyboard only: the grid is one tab stop; arrows move to the cell, Space activates it.
      await page.locator('button.cell[data-row="0"][data-col="0"]').focus();
      const row = await cell.getAttribute('data-row');
      const col = await cell.getAttribute('data-col');
      for (let i = 0; i < Number(row); i++) await page.keyboard.press('ArrowDown');
      for (let i = 0; i < Number(col); i++) await page.keyboard.press('ArrowRight');
      assert.equal(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.category + '/' + (document.activeElement as HTMLElement | null)?.dataset.recipient), 'mental-health/employer');
      await page.keyboard.press('Space');
      await page.locator('button.cell[data-category="mental-health"][data-recipient="employer"][data-decision="deny"]').waitFor();
      assert.equal(await page.locator('button.cell[data-category="vital-signs"][data-recipient="employer"]').getAttribute('data-decision'), 'permit', 'one cell changed, not the column');

      assert.equal(await employerCount(patientId, 'mental-health'), 0, 'after: the employer sees none of them');
      assert.ok((await employerCount(patientId, 'vital-signs')) > 0, 'after: the employer still sees what was not denied');

      await page.click('#refresh-log');
      const employerRow = page.locator('tr[data-who="Organization/org-employer"]').first();
      await employerRow.waitFor();
      await employerRow.locator('button.badge[data-verdict="verified"]').waitFor({ timeout: WAIT_MS });
      assert.match((await employerRow.textContent()) ?? '', /Health program reporting/);
      assert.ok((await page.locator('figure.chart-figure svg rect.bar-allowed').count()) > 0, 'the chart draws bars');
      await page.screenshot({ path: join(ARTIFACTS, 'patient-view.png'), fullPage: true });

      await employerRow.locator('button.badge').click();
      const dialog = page.locator('dialog.proof');
      await dialog.waitFor();
      const proof = (await dialog.textContent()) ?? '';
      assert.match(proof, /Verdict\s*verified/);
      assert.match(proof, /Signed checkpoint\S+\n\d+\n[A-Za-z0-9+/]{43}=\n\n— /, 'the signed checkpoint note (C2SP) is shown');
      await page.screenshot({ path: join(ARTIFACTS, 'proof.png') });
      await page.keyboard.press('Escape');
      assert.deepEqual((page as Page & { problems?: string[] }).problems, [], 'no script errors and no CSP violations');
    } finally {
      await context.close();
    }
  });

  it('a data steward sees the ledger health, runs the full verification and asks why a decision was made', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const page = await signIn(context, 'steward', STEWARD_USER.username);
      const size = page.locator('#stat-log-size .stat-value');
      await size.waitFor();
      assert.ok(Number.parseInt((await size.textContent()) ?? '', 10) > 0, 'the log has leaves');
      assert.match((await page.locator('#stat-ledger-adapter').textContent()) ?? '', /healthy/);

      await page.click('#run-full-audit');
      const result = page.locator('#full-audit-result');
      await result.waitFor({ timeout: WAIT_MS });
      assert.equal(await result.getAttribute('data-ok'), 'true', (await page.locator('main').textContent()) ?? '');

      await page.fill('#x-patient', 'scn-alice');
      await page.fill('#x-actor', 'Organization/org-employer');
      await page.selectOption('#x-category', 'mental-health');
      await page.selectOption('#x-purpose', 'HPRGRP');
      await page.click('#explorer button[type=submit]');
      const answer = page.locator('#explain-result tr[data-category="mental-health"]');
      await answer.waitFor();
      assert.equal(await answer.getAttribute('data-decision'), 'deny');
      assert.match((await answer.textContent()) ?? '', /Consent\/scn-consent-alice-employer/);
      await page.screenshot({ path: join(ARTIFACTS, 'steward-view.png'), fullPage: true });
      assert.deepEqual((page as Page & { problems?: string[] }).problems, [], 'no script errors and no CSP violations');
    } finally {
      await context.close();
    }
  });
});
