// The admin page in a real browser: Debian's chromium driven by playwright-core (headless). An admin signs in
// with their password, sees a failing appservice DOWN with its next retry time, clicks "Retry now" once the
// service works again, and sees it UP; screenshots go to test-artifacts/ (gitignored).
//
// The appservice is the real machine (machines/appservice.ts) inside the server's actor system, with fake
// storage and a fake service (test/admin/fixtures.ts): the real appservice sender is issue 7's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { isDown, spawnBackingOffDestination, spawnFakeAppservice, waitForSnapshot, SECRETS, type FakeAppservice } from '../admin/fixtures.ts';

const ARTIFACTS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-artifacts');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

test('an admin sees a failing appservice go DOWN, retries it and sees it recover', async (t) => {
  const server = await startTestServer(t);
  const admin = await server.createUser('root', { admin: true, password: 'root-password-1' });
  await server.createUser('alice', { password: 'alice-password-1' });
  const fake = spawnFakeAppservice(t, server.running.actors, server.running.admin);
  spawnBackingOffDestination(t, server.running.actors, server.running.admin);
  await waitForSnapshot(fake.actor, isDown);

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  try {
    await drive(browser, server, admin.userId, fake);
  } finally {
    // Before the server stops (after hooks run later), so no page keeps its socket open.
    await browser.close();
  }
});

async function drive(browser: Browser, server: TestServer, adminUserId: string, fake: FakeAppservice): Promise<void> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  // Everything the page loads comes from Troupe itself.
  const foreign: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(server.url) && !r.url().startsWith(server.url.replace(/^http/, 'ws'))) foreign.push(r.url());
  });
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await mkdir(ARTIFACTS, { recursive: true });

  await page.goto(`${server.url}/_troupe/admin`);

  // A non-admin is turned away.
  await page.fill('#login-user', 'alice');
  await page.fill('#login-password', 'alice-password-1');
  await page.click('#password-form button[type=submit]');
  await page.locator('#login-error', { hasText: 'not a server admin' }).waitFor();

  // The admin signs in with user and password (the client API's /login).
  await page.fill('#login-user', 'root');
  await page.fill('#login-password', 'root-password-1');
  await page.click('#password-form button[type=submit]');
  await page.waitForSelector('#dashboard:not([hidden])');
  assert.equal(await page.textContent('#whoami'), adminUserId);

  // DOWN, with when the next retry is.
  const row = 'tr[data-actor="as:bridge"]';
  await page.locator(`${row} td[data-field="state"]`, { hasText: /^DOWN · down\./ }).waitFor();
  const nextRetryAt = Number(await page.getAttribute(`${row} td[data-field="next-retry"]`, 'data-at'));
  assert.ok(nextRetryAt > Date.now() - 60_000, 'a next retry time is shown');
  assert.match((await page.textContent(`${row} td[data-field="next-retry"]`)) ?? '', /\((in|[0-9]+ s ago)/);
  // The destination backing off, and the diagram with the appservice's current state marked.
  await page.waitForSelector('tr[data-actor="dest:remote.example"] td.state.backingOff');
  await page.waitForSelector('.machine-box[data-kind="appservice"] g.state.active[data-path^="down."]');
  await page.screenshot({ path: path.join(ARTIFACTS, 'admin-page-appservice-down.png'), fullPage: true });

  // The service works again; the operator does not wait for the back-off.
  fake.failing = false;
  const retried = page.waitForResponse((r) => r.url().endsWith('/_troupe/admin/v1/appservices/bridge/retry') && r.request().method() === 'POST');
  await page.click(`${row} button.retry`);
  assert.equal((await retried).status(), 200);
  await page.locator(`${row} td[data-field="state"]`, { hasText: /^UP · up\.idle$/ }).waitFor();
  assert.equal(await page.textContent(`${row} td[data-field="position"]`), '5');
  assert.equal(await page.textContent(`${row} td[data-field="next-retry"]`), '—');
  await page.waitForSelector('.machine-box[data-kind="appservice"] g.state.active[data-path="up.idle"]');
  await page.screenshot({ path: path.join(ARTIFACTS, 'admin-page-appservice-up.png'), fullPage: true });

  const html = await page.content();
  for (const secret of Object.values(SECRETS)) assert.ok(!html.includes(secret), `secret on the page: ${secret}`);
  assert.deepEqual(foreign, []);
  assert.deepEqual(pageErrors, []);
}
