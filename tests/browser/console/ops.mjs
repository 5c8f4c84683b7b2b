// The Authentication, Webhooks, Audit and Platform tabs: a test e-mail through the SMTP
// provider, a webhook to a local receiver and its delivery in the log, the explain form, and a
// purge of the audit log leaving the purge's own event. Every page passes axe; each step is
// screenshotted at 1280 and 390 px.
import { cfg, run, signIn, visit, check, screenshots } from './lib.mjs';

run(async (page) => {
  await signIn(page);
  const out = {};

  // Authentication: a test message through the e-mail provider, the provider's answer shown.
  await visit(page, '/auth/admin/authentication', null);
  await page.locator('#to-email').fill(cfg.mail_to);
  await page.locator('#provider-email').getByRole('button', { name: 'Send test' }).click();
  out.test_answer = (await page.locator('#to-email-answer').textContent()).trim();
  await check(page, 'test message sent');
  await screenshots(page, 'authentication-test');

  // Webhooks: one to the local receiver, its secret shown once; then an event (a user created
  // through the admin API with the console's session) and its delivery in the log.
  await visit(page, '/auth/admin/webhooks', null);
  await page.getByLabel('URL').fill(cfg.hook_url);
  await page.getByLabel('user.created').check();
  await page.getByRole('button', { name: 'Create webhook' }).click();
  out.secret = (await page.locator('#secret-once').textContent()).trim();
  await check(page, 'webhook created');
  await screenshots(page, 'webhooks-created');
  const csrf = await page.locator('input[name="csrf"]').first().getAttribute('value');
  const made = await page.request.post(`${cfg.base}/auth/admin/api/users`, {
    data: { email: 'hooked@example.com', name: 'Hooked' },
    headers: { 'X-CSRF-Token': csrf, Origin: cfg.base },
  });
  out.user_created = made.status();
  await page.goto(`${cfg.base}/auth/admin/webhooks`);
  await page.getByRole('link', { name: 'Deliveries' }).first().click();
  const deadline = Date.now() + 20000;
  for (;;) {
    const status = await page.locator('#deliveries tbody tr .status').first().textContent().catch(() => null);
    if (status && status.trim() === 'delivered') { out.delivery = status.trim(); break; }
    if (Date.now() > deadline) throw new Error(`no delivered delivery (last: ${status})`);
    await page.waitForTimeout(250);
    await page.reload();
  }
  out.delivery_event = (await page.locator('#deliveries tbody tr td code').first().textContent()).trim();
  await check(page, 'deliveries');
  await screenshots(page, 'webhooks-deliveries');

  // Platform: the dashboard and the "test a request" form.
  await visit(page, '/auth/admin/platform', null);
  await page.locator('#x-url').fill(`${cfg.base}/reports`);
  await page.getByRole('button', { name: 'Explain' }).click();
  out.explain = (await page.locator('#explain-answer').textContent()).replace(/\s+/g, ' ').trim();
  await check(page, 'explained');
  await screenshots(page, 'platform-explain');

  // Audit: purge everything (0 days) behind the confirmation; the purge's event remains.
  await visit(page, '/auth/admin/audit', null);
  out.rows_before = await page.locator('#events tbody tr').count();
  await page.getByLabel('Delete events older than (days)').fill('0');
  await page.getByRole('button', { name: 'Purge…' }).click();
  await check(page, 'purge confirmation');
  await screenshots(page, 'audit-confirm');
  await page.getByRole('button', { name: 'Purge', exact: true }).click();
  out.purged = (await page.locator('#purged').textContent()).trim();
  out.rows_after = await page.locator('#events tbody tr').count();
  out.remaining = (await page.locator('#events tbody tr td code').first().textContent()).trim();
  await check(page, 'purged');
  await screenshots(page, 'audit-purged');
  return out;
});
