// What the browser scripts share: Debian's Chromium, a run that leaves a screenshot when it
// fails, and the code of the newest message to an address in the SMTP server's Maildir.
import { chromium } from 'playwright-core';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// Runs `steps(page)` in a fresh headless Chromium; prints what it returns as JSON, or the error
// and a screenshot path (exit code 1).
export async function run(shot, steps) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage();
  if (process.env.DEBUG_REQUESTS) {
    page.on('request', async (r) => console.error(r.method(), r.url(), JSON.stringify(await r.allHeaders())));
    page.on('response', async (r) => console.error(r.status(), r.url(), JSON.stringify(await r.allHeaders())));
  }
  try {
    console.log(JSON.stringify(await steps(page)));
  } catch (e) {
    await page.screenshot({ path: shot, fullPage: true });
    console.error(`${e.message}\nscreenshot: ${shot}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

// Waits (at most 20 s) for a message to `to` in `maildir` and returns the code in its body.
export async function codeFromMaildir(maildir, to) {
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    for (const sub of ['new', 'cur']) {
      let files = [];
      try { files = readdirSync(join(maildir, sub)); } catch { continue; }
      for (const f of files) {
        const text = readFileSync(join(maildir, sub, f), 'utf8');
        if (!text.includes(`To: ${to}`)) continue;
        const m = text.split(/\r?\n\r?\n/).slice(1).join('\n').match(/\b(\d{4,10})\b/);
        if (m) return m[1];
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no code for ${to} in ${maildir}`);
}

// Waits (at most 20 s) for a message to `to` in `maildir` holding a link with `marker` and
// returns the link.
export async function linkFromMaildir(maildir, to, marker) {
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    for (const sub of ['new', 'cur']) {
      let files = [];
      try { files = readdirSync(join(maildir, sub)); } catch { continue; }
      for (const f of files) {
        const text = readFileSync(join(maildir, sub, f), 'utf8').replace(/=\r?\n/g, '').replace(/=3D/g, '=');
        if (!text.includes(`To: ${to}`) || !text.includes(marker)) continue;
        const m = text.match(/(https?:\/\/\S+)/g)?.find((l) => l.includes(marker));
        if (m) return m;
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no link with ${marker} for ${to} in ${maildir}`);
}
