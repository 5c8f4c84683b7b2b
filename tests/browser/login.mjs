// A person signing in: open a protected page through nginx, land on the portal, type the
// credentials, press the button, and end up back on the page with the app seeing the user.
// With a fifth argument, the authenticator code, the second-factor step is expected too.
// usage: node login.mjs PROTECTED_URL USER PASSWORD SCREENSHOT_ON_FAILURE [CODE]
import { run } from './common.mjs';

const [url, user, password, shot, code] = process.argv.slice(2);
await run(shot, async (page) => {
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
  return { url: page.url(), remote_user: body.headers['remote-user'] };
});
