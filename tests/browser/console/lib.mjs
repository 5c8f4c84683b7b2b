// What the console's browser scripts share. A script is run by tests/e2e/console.rs as
// `node console/<script>.mjs '<json>'`; the JSON (see `cfg`) names the server, the
// administrator (identifier, password, TOTP secret) and where screenshots go. The script
// prints one JSON value (what the Rust test asserts) or fails with a screenshot.
//
//   import { cfg, run, signIn, visit } from './lib.mjs';
//   run(async (page) => {
//     await signIn(page);                        // password, then a fresh TOTP code
//     await visit(page, '/auth/admin/applications', 'applications');  // 200, axe, screenshots
//     ...
//     return { ok: true };
//   });
import { chromium } from 'playwright-core';
import { createHmac } from 'node:crypto';
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

// {base, identifier, password, totp_secret, totp_used (unix time of a code already used),
//  shots (directory for the tab screenshots, or null), failure (screenshot path on failure), ...}
export const cfg = JSON.parse(process.argv[2] || '{}');

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

// Every page visited is checked by axe-core; a CSP violation in the console fails the run.
const problems = [];

// Runs `steps(page)` in a fresh headless Chromium at 1280×900; prints its result as JSON, or
// the error and a screenshot (exit code 1).
export async function run(steps) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: cfg.base });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`script error: ${e.message}`));
  try {
    const out = await steps(page);
    if (problems.length) throw new Error(problems.join('\n'));
    console.log(JSON.stringify(out ?? {}));
  } catch (e) {
    if (cfg.failure) await page.screenshot({ path: cfg.failure, fullPage: true }).catch(() => {});
    console.error(`${e.stack || e.message}\nat ${page.url()}\nscreenshot: ${cfg.failure}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

// The RFC 6238 code of a base32 secret at unix time `t` (30 s steps, 6 digits, SHA-1).
export function totp(secret, t) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(t / 30)));
  const h = createHmac('sha1', key).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  const n = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(n % 1000000).padStart(6, '0');
}

// A code of a step after `cfg.totp_used` (a code is accepted once), waiting for it if needed.
async function freshCode() {
  const usedStep = Math.floor((cfg.totp_used || 0) / 30);
  for (;;) {
    const now = Date.now() / 1000;
    if (Math.floor(now / 30) > usedStep && 30 - (now % 30) > 3) {
      cfg.totp_used = now;
      return totp(cfg.totp_secret, now);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

// Opens the console and signs in as the administrator: password, then the TOTP code.
export async function signIn(page) {
  await page.goto(`${cfg.base}/auth/admin/`);
  await page.getByLabel('E-mail address, mobile number or username').fill(cfg.identifier);
  await page.getByLabel('Password').fill(cfg.password);
  await check(page, 'sign-in');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByLabel('The code from your authenticator app').fill(await freshCode());
  await check(page, 'second factor');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('navigation', { name: 'Console sections' }).waitFor();
}

// Runs axe-core on the page as it is now; serious or critical violations fail the run. The
// script is evaluated through the DevTools protocol, which the page's CSP does not govern.
export async function check(page, label) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) throw new Error(`axe (${label}): ${JSON.stringify(bad, null, 1)}`);
  return result;
}

// Screenshots of the page at 1280 and 390 px wide into cfg.shots as <name>-1280.png and
// <name>-390.png (full page), then back to 1280. At 390 px the page must not scroll sideways
// (wide tables scroll inside their own box).
export async function screenshots(page, name) {
  if (!cfg.shots) return;
  mkdirSync(cfg.shots, { recursive: true });
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 1) throw new Error(`${name} at ${width} px is ${overflow} px wider than the window`);
    if (width === 390) await check(page, `${name} at 390 px`);
    await page.screenshot({ path: join(cfg.shots, `${name}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

// Goes to a console page (a path), expects 200, checks it with axe and, given a name,
// screenshots it at both widths.
export async function visit(page, path, name) {
  const resp = await page.goto(`${cfg.base}${path}`);
  if (resp.status() !== 200) throw new Error(`${path}: ${resp.status()}`);
  await check(page, path);
  if (name) await screenshots(page, name);
}
