// A person signing in with an e-mailed code: open a protected page through nginx, land on the
// portal, choose the one-time code, type the e-mail address, read the code from the SMTP
// server's Maildir, type it, and end up back on the page with the app seeing the user.
// usage: node code-login.mjs PROTECTED_URL EMAIL MAILDIR SCREENSHOT_ON_FAILURE
import { run, codeFromMaildir } from './common.mjs';

const [url, email, maildir, shot] = process.argv.slice(2);
await run(shot, async (page) => {
  await page.goto(url);
  if (!page.url().includes('/auth/login')) throw new Error(`not sent to the portal: ${page.url()}`);
  await page.getByRole('link', { name: 'Sign in with a one-time code instead' }).click();
  await page.getByLabel('Email or mobile').fill(email);
  await page.getByRole('button', { name: 'Send code' }).click();
  await page.getByRole('heading', { name: 'Enter your code' }).waitFor();
  await page.getByLabel('Code').fill(await codeFromMaildir(maildir, email));
  await Promise.all([page.waitForURL(url), page.getByRole('button', { name: 'Sign in' }).click()]);
  const body = JSON.parse(await page.locator('body').innerText());
  return { url: page.url(), remote_user: body.headers['remote-user'] };
});
