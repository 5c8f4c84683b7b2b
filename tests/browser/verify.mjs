// A person verifying an address in Gatehouse's modal on an application's own page: open the
// app's page, press its button (which calls Gatehouse.verify), type the address in the modal,
// read the code from the SMTP server's Maildir, type it, and see the app's callback fire.
// usage: node verify.mjs APP_PAGE_URL ADDRESS MAILDIR SCREENSHOT_ON_FAILURE
import { run, codeFromMaildir } from './common.mjs';

const [url, address, maildir, shot] = process.argv.slice(2);
await run(shot, async (page) => {
  await page.goto(url);
  await page.getByRole('button', { name: 'Verify my e-mail' }).click();
  const modal = page.frameLocator('iframe[title="Verification"]');
  await modal.getByLabel('Address').fill(address);
  await modal.getByRole('button', { name: 'Send code' }).click();
  await modal.getByLabel('Code').waitFor();
  const sentTo = await modal.locator('#gh-sent-to').innerText();
  await modal.getByLabel('Code').fill(await codeFromMaildir(maildir, address));
  await modal.getByRole('button', { name: 'Verify' }).click();
  await page.waitForFunction(() => document.body.dataset.result);
  const result = await page.evaluate(() => document.body.dataset.result);
  const modalGone = (await page.locator('iframe[title="Verification"]').count()) === 0;
  return { result, sentTo, modalGone };
});
