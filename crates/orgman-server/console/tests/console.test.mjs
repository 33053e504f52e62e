// The console in a real browser (Debian's Chromium, driven by
// playwright-core) against a real orgman and Keycloak: one serial suite,
// one login per person. Started by the API suite's `console` test, which
// passes the addresses and users in the environment.
import { after, before, test as nodeTest } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} is not set: run this suite through the API tests (cargo xtask test)`);
  return value;
};
const BASE = env('CONSOLE_URL');
const SHOTS = process.env.CONSOLE_SCREENSHOTS ?? join(tmpdir(), 'orgman-console-screenshots');
const OWNER = { username: env('CONSOLE_USER'), password: env('CONSOLE_PASSWORD') };
const ADMIN = { username: env('CONSOLE_ADMIN'), password: env('CONSOLE_ADMIN_PASSWORD') };
const MEMBER_ID = env('CONSOLE_MEMBER_ID');
const SSO_ISSUER = env('CONSOLE_SSO_ISSUER');
const RUN = Date.now().toString(36);
const TIMEOUT = Number(process.env.CONSOLE_TIMEOUT_MS ?? 30_000);

let browser;
let page;
let organizationId;
const consoleErrors = [];

mkdirSync(SHOTS, { recursive: true });

/**
 * A step of the suite: on failure, the page's address, text and a
 * screenshot (`failed-<step>.png`) go with the error.
 */
function test(name, body) {
  nodeTest(name, async () => {
    try {
      await body();
    } catch (error) {
      const file = `failed-${name.replace(/\W+/g, '-').slice(0, 60)}`;
      let seen = '';
      try {
        await shot(file);
        seen = `at ${page.url()}:\n${(await page.locator('body').innerText()).slice(0, 1500)}`;
      } catch {
        // the page itself is gone
      }
      error.message += `\n--- the page ${seen}\n--- screenshot ${join(SHOTS, `${file}.png`)}`;
      throw error;
    }
  });
}

async function shot(name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** No serious or critical axe-core violation on the page as it is. */
async function accessible(where) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { resultTypes: ['violations'] }),
  );
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`),
    [],
    `axe-core on ${where}`,
  );
}

async function signIn(user) {
  await page.goto(`${BASE}/console/`);
  // By keyboard: the first stop after the page loads is "Sign in".
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => document.activeElement?.textContent);
  assert.equal(focused, 'Sign in');
  await page.keyboard.press('Enter');
  // The realm has Organizations: Keycloak asks for the username first,
  // then (no organization's provider claiming it) for the password.
  await page.locator('#username').fill(user.username);
  if (!(await page.locator('#password').isVisible())) {
    await page.locator('#kc-login').click();
  }
  await page.locator('#password').fill(user.password);
  await page.locator('#kc-login').click();
  await page.getByRole('heading', { name: 'My organizations' }).waitFor();
}

async function go(path) {
  await page.goto(`${BASE}/console/#/org/${organizationId}${path}`);
}

before(async () => {
  browser = await chromium.launch({
    executablePath: env('CHROMIUM'),
    // Root in CI: Chromium's sandbox needs a user namespace it may not get.
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(TIMEOUT);
  page = await context.newPage();
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('dialog', (dialog) => void dialog.accept());
});

after(async () => {
  await browser?.close();
});

test('the page is served with a strict policy and logs in through Keycloak', async () => {
  const response = await page.goto(`${BASE}/console/`);
  const policy = response.headers()['content-security-policy'];
  assert.match(policy, /script-src 'self';/);
  assert.match(policy, /frame-ancestors 'none'/);
  assert.doesNotMatch(policy, /unsafe-inline/);
  const issuer = new URL(SSO_ISSUER).origin;
  assert.ok(policy.includes(`connect-src 'self' ${issuer}`), policy);
  await accessible('the sign-in page');
  await shot('01-sign-in');
  await signIn(OWNER);
  // Tokens stay in memory: nothing of them in either storage.
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  assert.doesNotMatch(stored, /access_token|refresh_token|eyJ/);
  await accessible('my organizations');
});

test('an owner creates an organization', async () => {
  await page.getByLabel('Name', { exact: true }).fill(`Console ${RUN}`);
  await page.getByLabel('Slug', { exact: true }).fill(`console-${RUN}`);
  await page.getByRole('button', { name: 'Create' }).click();
  await page.getByRole('heading', { name: `Console ${RUN}` }).waitFor();
  organizationId = page.url().split('#/org/')[1];
  assert.match(organizationId, /^[0-9a-f-]{36}$/);
  await accessible('the overview');
  await shot('02-overview');
});

test('an edit that lost a race offers to reload', async () => {
  await go('');
  await page.getByLabel('Name', { exact: true }).fill(`Console ${RUN} renamed`);
  // Someone else renames it meanwhile, through the API.
  const token = env('CONSOLE_OWNER_TOKEN');
  const changed = await fetch(`${BASE}/api/v1/organizations/${organizationId}`, {
    method: 'PATCH',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: `Console ${RUN} elsewhere` }),
  });
  assert.equal(changed.status, 200);
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Someone changed this while you were editing it.').waitFor();
  await page.getByRole('button', { name: 'Reload the latest version' }).click();
  await assertValue(page.getByLabel('Name', { exact: true }), `Console ${RUN} elsewhere`);
});

async function assertValue(locator, expected) {
  await page.waitForFunction(
    ([selector, value]) => document.querySelector(selector)?.value === value,
    [await locator.evaluate((el) => `#${CSS.escape(el.id)}`), expected],
  );
}

test('invitations: create, copy the link, resend, revoke', async () => {
  await go('/invitations');
  await page.getByLabel('E-mail address').fill(`invitee-${RUN}@example.com`);
  await page.getByRole('button', { name: 'Invite', exact: true }).click();
  const link = page.getByTestId('invitation-link').first();
  await link.waitFor();
  assert.ok((await link.textContent()).length > 20);
  await page.getByRole('cell', { name: `invitee-${RUN}@example.com`, exact: true }).waitFor();
  await page.getByRole('button', { name: `Resend to invitee-${RUN}@example.com` }).click();
  await page.getByTestId('invitation-link').nth(1).waitFor();
  await accessible('invitations');
  await shot('03-invitations');
  await page.getByRole('button', { name: `Revoke the invitation of invitee-${RUN}@example.com` }).click();
  await page.getByRole('cell', { name: 'REVOKED' }).waitFor();
});

test('members: a CSV import shows its progress, then the report', async () => {
  await go('/members');
  await page.getByRole('heading', { name: 'Members', exact: true }).waitFor();
  const csv = `userId,role\n${MEMBER_ID},ADMIN\n00000000-0000-4000-8000-00000000dead,MEMBER\n`;
  const file = join(SHOTS, `import-${RUN}.csv`);
  writeFileSync(file, csv);
  await page.getByLabel('CSV file').setInputFiles(file);
  // A slow uplink (200 bytes/s), so the upload's progress is there to see.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: 200,
  });
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  await page.locator('progress#import-progress').waitFor();
  await page.getByText('Uploading').waitFor();
  const report = page.getByText('Import finished:');
  await report.waitFor();
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: -1,
  });
  assert.equal(await page.locator('progress#import-progress').count(), 0, 'the bar goes once the report is in');
  assert.match(await report.textContent(), /1 added, 0 unchanged, 1 refused/);
  await page.getByRole('cell', { name: /user-not-found/ }).waitFor();
  // The new member is listed, with the role the file gave.
  await page.getByRole('combobox', { name: /Role of / }).nth(1).waitFor();
  await accessible('members');
  await shot('04-members');
  // Adding someone orgman does not know says why, in words.
  await page.getByLabel('User id').fill('00000000-0000-4000-8000-0000000000ff');
  await page.getByRole('button', { name: 'Add member' }).click();
  await page.getByRole('alert').filter({ hasText: 'user-not-found' }).waitFor();
  // Search: a prefix that matches nobody says so.
  await page.getByLabel('Search', { exact: true }).fill('zzz-nobody');
  await page.getByText('No member matches.').waitFor();
});

test('domains: claim, read the TXT record, and a clear "not yet"', async () => {
  await go('/domains');
  const domain = `console-${RUN}.example.com`;
  await page.getByLabel('Domain', { exact: true }).fill(domain);
  await page.getByRole('button', { name: 'Claim' }).click();
  const value = page.getByTestId('txt-value');
  await value.waitFor();
  assert.match(await value.textContent(), /\S{16,}/);
  await page.getByRole('button', { name: `Verify ${domain}` }).click();
  await page.getByText('Not yet: the TXT record was not found').waitFor();
  await accessible('domains');
  await shot('05-domains');
});

test('SSO: create a configuration with a write-only secret and read its test step by step', async () => {
  await go('/sso');
  await page.getByLabel('Name', { exact: true }).fill(`Customer IdP ${RUN}`);
  await page.getByLabel('Issuer URL').fill(SSO_ISSUER);
  await page.getByLabel('Client ID').fill('orgman-broker');
  const secret = page.getByLabel('Client secret');
  assert.equal(await secret.getAttribute('type'), 'password');
  await secret.fill('a-secret-nobody-reads-back');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.getByRole('heading', { name: new RegExp(`Customer IdP ${RUN}`) }).waitFor();
  assert.equal(await page.getByText('a-secret-nobody-reads-back').count(), 0);
  await page.getByRole('button', { name: `Test the connection of Customer IdP ${RUN}` }).click();
  const steps = page.locator('ol.steps li');
  await steps.first().waitFor();
  assert.match(await steps.first().textContent(), /discovery: passed/);
  await accessible('SSO');
  await shot('06-sso');
});

test('the audit trail: filters, pages and details', async () => {
  await go('/audit');
  await page.getByRole('cell', { name: 'organization.created' }).waitFor();
  await page.getByLabel('Change type').fill('organization.member.added');
  await page.getByRole('cell', { name: 'organization.created' }).waitFor({ state: 'detached' });
  await page.getByText('Show the details of organization.member.added').first().click();
  await page.locator('details[open] pre').first().waitFor();
  await accessible('the audit trail');
  await shot('07-audit');
});

test('roles, API keys and webhooks with their rotations, directory sync: each page works and passes axe', async () => {
  await go('/roles');
  await page.getByLabel('Key', { exact: true }).fill(`auditor-${RUN}`);
  await page.getByLabel('Name', { exact: true }).fill('Auditor');
  await page.getByLabel(/^audit:read/).check();
  await page.getByRole('button', { name: 'Define' }).click();
  await page.getByRole('cell', { name: `auditor-${RUN}`, exact: true }).waitFor();
  await accessible('roles');
  await go('/api-keys');
  await page.getByLabel('Key name').fill(`ci-${RUN}`);
  await page.getByLabel(/^members:read/).check();
  await page.getByRole('button', { name: 'Create key' }).click();
  const secret = page.locator('code.secret');
  await secret.waitFor();
  assert.match(await secret.textContent(), /^orgman_/);
  await page.getByRole('cell', { name: `ci-${RUN}`, exact: true }).waitFor();
  const first = await secret.textContent();
  await page.getByRole('button', { name: `Rotate ci-${RUN}` }).click();
  await page.waitForFunction((old) => document.querySelector('code.secret')?.textContent !== old, first);
  assert.match(await secret.textContent(), /^orgman_/);
  await accessible('API keys');
  await go('/webhooks');
  await page.getByLabel('URL').fill('http://127.0.0.1:9/orgman-hook');
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  const signing = page.locator('code.secret');
  await signing.waitFor();
  const old = await signing.textContent();
  assert.match(old, /^whsec_/);
  await page.getByRole('button', { name: 'Rotate the secret of http://127.0.0.1:9/orgman-hook' }).click();
  await page.waitForFunction((before) => document.querySelector('code.secret')?.textContent !== before, old);
  await accessible('webhooks');
  await go('/directory');
  await page.getByRole('button', { name: 'Add a mapping' }).click();
  await page.getByLabel('Group name').fill('Engineering');
  await page.getByRole('button', { name: 'Save mappings' }).click();
  await page.getByText('Mappings saved.').waitFor();
  await accessible('directory sync');
});

test('usable at 375 px wide', async () => {
  await page.setViewportSize({ width: 375, height: 800 });
  await go('/members');
  await page.getByRole('heading', { name: 'Members', exact: true }).waitFor();
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  const over = await page.evaluate(() =>
    [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > 376 && !e.parentElement?.closest('.scroll'))
      .slice(0, 5)
      .map((e) => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`),
  );
  assert.ok(wide <= 375, `the page is ${wide} px wide: ${over.join(', ')}`);
  await shot('08-members-375px');
  await page.setViewportSize({ width: 1280, height: 900 });
});

test('a platform administrator suspends and reactivates the organization', async () => {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  await signIn(ADMIN);
  await page.getByRole('link', { name: 'All organizations' }).click();
  const name = `Console ${RUN} elsewhere`;
  // The suite's database is its own: the organization is on the first page.
  const row = page.getByRole('row').filter({ hasText: name });
  await row.getByRole('button', { name: `Suspend ${name}` }).click();
  await row.getByText('SUSPENDED').waitFor();
  await accessible('all organizations');
  await shot('09-platform');
  await row.getByRole('button', { name: `Reactivate ${name}` }).click();
  await row.getByText('ACTIVE').waitFor();
  await page.getByRole('link', { name: 'Health' }).click();
  await page.getByRole('heading', { name: 'Platform health' }).waitFor();
  await accessible('health');
});

test('the access token is renewed with the refresh token, without an iframe', async () => {
  // The stack realm's console tokens live 60 s and the page renews 30 s
  // before expiry: half a minute after the login at most; waited for.
  const renewal = page.waitForRequest(
    (request) => request.url().endsWith('/protocol/openid-connect/token') && /grant_type=refresh_token/.test(request.postData() ?? ''),
    { timeout: 90_000 },
  );
  await renewal;
  assert.equal(page.frames().length, 1, 'no hidden iframe');
  // The page goes on with the new token, without a reload.
  await page.getByRole('link', { name: 'All organizations' }).click();
  await page.getByRole('heading', { name: 'All organizations' }).waitFor();
});

test('nothing failed silently in the page', () => {
  // Errors the page logged are its own failures (a 4xx the page showed is
  // logged by the browser as a failed resource, which is expected).
  const own = consoleErrors.filter((e) => !/Failed to load resource/.test(e));
  assert.deepEqual(own, []);
});
