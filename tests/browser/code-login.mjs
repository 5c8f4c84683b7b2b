// A person signing in with an e-mailed code: open a protected page through nginx, land on the
// portal, choose the one-time code, type the e-mail address, read the code from the SMTP
// server's Maildir, type it, and end up back on the page with the app seeing the user.
// usage: node code-login.mjs PROTECTED_URL EMAIL MAILDIR SCREENSHOT_ON_FAILURE
import { chromium } from 'playwright-core';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [url, email, maildir, shot] = process.argv.slice(2);

async function codeFromMaildir() {
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    for (const sub of ['new', 'cur']) {
      let files = [];
      try { files = readdirSync(join(maildir, sub)); } catch { continue; }
      for (const f of files) {
        const text = readFileSync(join(maildir, sub, f), 'utf8');
        if (!text.includes(`To: ${email}`)) continue;
        const m = text.split(/\r?\n\r?\n/).slice(1).join('\n').match(/\b(\d{4,10})\b/);
        if (m) return m[1];
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no code for ${email} in ${maildir}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage();
try {
  await page.goto(url);
  if (!page.url().includes('/auth/login')) throw new Error(`not sent to the portal: ${page.url()}`);
  await page.getByRole('link', { name: 'Sign in with a one-time code instead' }).click();
  await page.getByLabel('Email or mobile').fill(email);
  await page.getByRole('button', { name: 'Send code' }).click();
  await page.getByRole('heading', { name: 'Enter your code' }).waitFor();
  await page.getByLabel('Code').fill(await codeFromMaildir());
  await Promise.all([page.waitForURL(url), page.getByRole('button', { name: 'Sign in' }).click()]);
  const body = JSON.parse(await page.locator('body').innerText());
  console.log(JSON.stringify({ url: page.url(), remote_user: body.headers['remote-user'] }));
} catch (e) {
  await page.screenshot({ path: shot, fullPage: true });
  console.error(`${e.message}\nscreenshot: ${shot}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
