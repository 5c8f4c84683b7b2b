// The Directory tab in a real browser (tests/e2e/console_directory.rs): import a CSV of 1,000
// users watching the progress bar, find a user by search and disable them, end a user's
// sessions, reset their MFA. Every page is checked by axe-core; the Directory pages are
// screenshotted at 1280 and 390 px (directory-*.png).
//   cfg: {csv: path of the file to import, disable: who to find and disable, sessions: whose
//         sessions to end and MFA to reset}
import { cfg, run, signIn, visit, check, screenshots } from './lib.mjs';

// Confirms the dialog that a[data-confirm] opened (the confirmation page without JS).
async function confirm(page, button) {
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  await check(page, `confirmation: ${button}`);
  await dialog.getByRole('button', { name: button }).click();
}

run(async (page) => {
  await signIn(page);
  const out = {};

  // Import: the file goes up, the bar moves until the report.
  await visit(page, '/auth/admin/directory/import', 'directory-import');
  await page.getByLabel('CSV file').setInputFiles(cfg.csv);
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  await page.waitForURL(/\/auth\/admin\/directory\/import\/[0-9a-f]+$/);
  const seen = [];
  const deadline = Date.now() + 120000;
  while (Date.now() < deadline) {
    const state = await page.evaluate(() => {
      const bar = document.getElementById('import-progress');
      const done = document.getElementById('import-summary');
      return { value: bar ? Number(bar.value) : null, max: bar ? Number(bar.max) : null, done: !!done };
    }).catch(() => null); // the page reloads when the import is done
    if (state && state.value !== null && (seen.length === 0 || seen[seen.length - 1] !== state.value)) seen.push(state.value);
    if (state && state.done) break;
    await page.waitForTimeout(25);
  }
  out.progress = seen;
  out.summary = await page.locator('#import-summary').textContent();
  out.report = await page.locator('#import-report tbody tr').allTextContents();
  await check(page, 'import report');
  await screenshots(page, 'directory-import-report');

  // Find the user by search, open their page, disable them.
  await visit(page, '/auth/admin/directory', null);
  await page.getByLabel('Search', { exact: true }).fill(cfg.disable);
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.waitForURL(/q=/);
  const rows = page.locator('#users tbody tr');
  out.found = await rows.count();
  await check(page, 'search');
  await screenshots(page, 'directory-search');
  await rows.first().getByRole('link').first().click();
  await page.getByRole('heading', { level: 1 }).waitFor();
  await page.getByRole('link', { name: 'Disable', exact: true }).click();
  await confirm(page, 'Disable user');
  await page.waitForURL(/done=disable/);
  out.disabled_notice = await page.locator('.notice').textContent();

  // A user's sessions: end one, then all; reset their MFA.
  await visit(page, `/auth/admin/directory?q=${encodeURIComponent(cfg.sessions)}`, null);
  await page.locator('#users tbody tr').first().getByRole('link').first().click();
  await page.locator('#sessions').waitFor();
  await check(page, 'user page');
  await screenshots(page, 'directory-user');
  out.sessions_before = await page.locator('#sessions tbody tr').count();
  await page.getByRole('button', { name: /^End the session/ }).first().click();
  await page.waitForURL(/done=end-session/);
  out.sessions_after_one = await page.locator('#sessions tbody tr').count();
  await page.getByRole('link', { name: 'End all sessions' }).click();
  await confirm(page, 'End all sessions');
  await page.waitForURL(/done=end-sessions/);
  out.sessions_left = await page.locator('#sessions tbody td[colspan]').count() === 1 ? 0 : -1;
  out.mfa_before = await page.getByText(/^Authenticator app:/).textContent();
  await page.getByRole('link', { name: 'Reset MFA' }).click();
  await confirm(page, 'Reset MFA');
  await page.waitForURL(/done=reset-mfa/);
  out.mfa_after = await page.getByText(/^Authenticator app:/).textContent();
  await visit(page, page.url().replace(cfg.base, ''), null);

  // The forms: create, with an error next to its field.
  await visit(page, '/auth/admin/directory/new', 'directory-new');
  await page.getByLabel('E-mail', { exact: true }).fill('not-an-address');
  await page.getByRole('button', { name: 'Create user' }).click();
  await page.locator('#f-email-error').waitFor();
  await check(page, 'create form with an error');
  out.field_error = await page.locator('#f-email-error').textContent();
  return out;
});
