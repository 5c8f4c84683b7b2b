// Every tab of the console: signed in with TOTP, each tab's page answers, passes axe, is
// keyboard-reachable from the navigation, and is screenshotted at 1280 and 390 px.
import { cfg, run, signIn, visit, check } from './lib.mjs';

const tabs = ['Applications', 'Directory', 'Authentication', 'Webhooks', 'Audit', 'Platform', 'Integration'];

run(async (page) => {
  await signIn(page);
  const seen = [];
  for (const tab of tabs) {
    await visit(page, `/auth/admin/${tab.toLowerCase()}`, cfg.shot_tabs ? tab.toLowerCase() : null);
    const current = await page.locator('nav a[aria-current="page"]').textContent();
    seen.push(current.trim());
  }
  // The navigation by keyboard alone: Tab from the skip link reaches the tabs; Enter follows.
  await page.goto(`${cfg.base}/auth/admin/applications`);
  await page.keyboard.press('Tab');
  const skip = await page.evaluate(() => document.activeElement.textContent);
  let steps = 0;
  while (steps++ < 10 && (await page.evaluate(() => document.activeElement.textContent)) !== 'Directory') {
    await page.keyboard.press('Tab');
  }
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/auth\/admin\/directory$/);
  await check(page, 'after keyboard navigation');
  // Signing out ends the session: the console is the sign-in page again.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  const after = await page.goto(`${cfg.base}/auth/admin/applications`);
  return { seen, skip, after_sign_out: after.status() };
});
