// A person who forgot their password: open a protected page through nginx, land on the portal,
// follow "Forgot password?", type the e-mail address, open the link from the SMTP server's
// Maildir, choose a new password, sign in with it, and see the page with the app seeing the user.
// usage: node forgot.mjs PROTECTED_URL EMAIL NEW_PASSWORD MAILDIR SCREENSHOT_ON_FAILURE
import { run, linkFromMaildir } from './common.mjs';

const [url, email, password, maildir, shot] = process.argv.slice(2);
await run(shot, async (page) => {
  await page.goto(url);
  if (!page.url().includes('/auth/login')) throw new Error(`not sent to the portal: ${page.url()}`);
  await page.getByRole('link', { name: 'Forgot password?' }).click();
  await page.getByLabel('Email or mobile').fill(email);
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByRole('heading', { name: 'Check your messages' }).waitFor();
  await page.goto(await linkFromMaildir(maildir, email, '/auth/password/reset?token='));
  await page.getByLabel('New password', { exact: true }).fill(password);
  await page.getByLabel('New password again').fill(password);
  await page.getByRole('button', { name: 'Set password' }).click();
  await page.getByRole('heading', { name: 'Password changed' }).waitFor();
  await page.getByRole('link', { name: 'Sign in with your new password' }).click();
  await page.getByLabel('Email, mobile or username').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Signed in' }).waitFor();
  await page.goto(url);
  const body = JSON.parse(await page.locator('body').innerText());
  return { url: page.url(), remote_user: body.headers['remote-user'] };
});
