// The Applications tab as an operator uses it: register an app, create an API key (copied from
// the page), find a user and assign them (bulk select), see the Integration tab for the app.
// Prints the key; the Rust test calls the app API with it.
import { cfg, run, signIn, visit, check, screenshots } from './lib.mjs';

run(async (page) => {
  await signIn(page);
  await visit(page, '/auth/admin/applications', null);
  await page.getByLabel('Application id').fill('shop');
  await page.getByLabel('Name', { exact: true }).fill('Shop');
  await page.getByLabel('Allowed IPs').fill('127.0.0.1\n10.0.0.0/8');
  await page.getByRole('button', { name: 'Register application' }).click();
  await page.getByRole('heading', { name: 'Shop (shop)' }).waitFor();
  await check(page, 'registered app');

  await page.getByRole('button', { name: 'Create an API key' }).click();
  const key = (await page.locator('#new-key').textContent()).trim();
  await page.getByRole('button', { name: 'Copy key' }).click();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  await check(page, 'new key');

  await page.getByLabel('Find users by name, e-mail, mobile or employee ID').fill(cfg.find);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByLabel('Select every user found').check();
  await page.getByRole('button', { name: 'Assign selected users' }).click();
  await page.getByRole('status').filter({ hasText: 'Users assigned.' }).waitFor();
  const members = await page.locator('table:has(caption:text("Users assigned to Shop")) tbody th').allTextContents();
  await screenshots(page, 'applications-app');

  await page.goto(`${cfg.base}/auth/admin/applications`);
  const row = (await page.locator('tbody tr', { hasText: 'Shop' }).allTextContents()).join(' ');
  await screenshots(page, 'applications-list');

  await visit(page, '/auth/admin/integration?app=shop', 'integration-app');
  const curl = await page.locator('#curl-check').textContent();
  return { key, copied, members, row, curl };
});
