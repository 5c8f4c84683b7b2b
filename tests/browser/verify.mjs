// A person verifying an address in Gatehouse's modal on an application's own page: open the
// app's page, press its button (which calls Gatehouse.verify), type the address in the modal,
// read the code from the SMTP server's Maildir, type it, and see the app's callback fire.
// usage: node verify.mjs APP_PAGE_URL ADDRESS MAILDIR SCREENSHOT_ON_FAILURE
import { chromium } from 'playwright-core';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [url, address, maildir, shot] = process.argv.slice(2);

async function codeFromMaildir() {
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    for (const sub of ['new', 'cur']) {
      let files = [];
      try { files = readdirSync(join(maildir, sub)); } catch { continue; }
      for (const f of files) {
        const text = readFileSync(join(maildir, sub, f), 'utf8');
        if (!text.includes(`To: ${address}`)) continue;
        const body = text.split(/\r?\n\r?\n/).slice(1).join('\n');
        const m = body.match(/\b(\d{4,10})\b/);
        if (m) return m[1];
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no code for ${address} in ${maildir}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage();
try {
  await page.goto(url);
  await page.getByRole('button', { name: 'Verify my e-mail' }).click();
  const modal = page.frameLocator('iframe[title="Verification"]');
  await modal.getByLabel('Address').fill(address);
  await modal.getByRole('button', { name: 'Send code' }).click();
  await modal.getByLabel('Code').waitFor();
  const sentTo = await modal.locator('#gh-sent-to').innerText();
  await modal.getByLabel('Code').fill(await codeFromMaildir());
  await modal.getByRole('button', { name: 'Verify' }).click();
  await page.waitForFunction(() => document.body.dataset.result);
  const result = await page.evaluate(() => document.body.dataset.result);
  const modalGone = (await page.locator('iframe[title="Verification"]').count()) === 0;
  console.log(JSON.stringify({ result, sentTo, modalGone }));
} catch (e) {
  await page.screenshot({ path: shot, fullPage: true });
  console.error(`${e.message}\nscreenshot: ${shot}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
