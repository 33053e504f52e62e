// Signs in to a running console (cargo xtask dev) as alice and prints the
// first heading: a newcomer's first minute, automated.
import { chromium } from 'playwright-core';
const base = process.argv[2] ?? 'http://127.0.0.1:8080';
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const page = await browser.newPage();
await page.goto(`${base}/console/`);
await page.getByRole('button', { name: 'Sign in' }).click();
await page.locator('#username').fill('alice');
if (!(await page.locator('#password').isVisible())) await page.locator('#kc-login').click();
await page.locator('#password').fill('alice-password');
await page.locator('#kc-login').click();
await page.getByRole('heading', { name: 'My organizations' }).waitFor({ timeout: 30000 });
console.log('signed in:', await page.locator('.who').textContent());
await browser.close();
