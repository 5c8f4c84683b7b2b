// A person signing in: open a protected page through nginx, land on the portal, type the
// credentials, press the button, and end up back on the page with the app seeing the user.
// With a fifth argument, the authenticator code, the second-factor step is expected too.
// usage: node login.mjs PROTECTED_URL USER PASSWORD SCREENSHOT_ON_FAILURE [CODE]
import { chromium } from 'playwright-core';

const [url, user, password, shot, code] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage();
if (process.env.DEBUG_REQUESTS) page.on('request', async (r) => console.error(r.method(), r.url(), JSON.stringify(await r.allHeaders())));
page.on('response', async (r) => { if (process.env.DEBUG_REQUESTS) console.error(r.status(), r.url(), JSON.stringify(await r.allHeaders())); });
try {
  await page.goto(url);
  if (!page.url().includes('/auth/login')) throw new Error(`not sent to the portal: ${page.url()}`);
  await page.getByLabel('Email, mobile or username').fill(user);
  await page.getByLabel('Password').fill(password);
  if (code) {
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Second factor' }).waitFor();
    await page.getByLabel('Code', { exact: true }).fill(code);
    await Promise.all([page.waitForURL(url), page.getByRole('button', { name: 'Verify' }).click()]);
  } else {
    await Promise.all([page.waitForURL(url), page.getByRole('button', { name: 'Sign in' }).click()]);
  }
  const body = JSON.parse(await page.locator('body').innerText());
  console.log(JSON.stringify({ url: page.url(), remote_user: body.headers['remote-user'] }));
} catch (e) {
  await page.screenshot({ path: shot, fullPage: true });
  console.error(`${e.message}\nscreenshot: ${shot}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
