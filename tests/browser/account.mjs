// A person ends another of their sessions from the account page, by keyboard alone: they sign in
// twice (two browser contexts, two devices), open the account page in the first, Tab to the
// other device's "End session" button and press Enter; the other device is signed out at its
// next request. A screenshot of the account page is saved and checked to be no blank image.
// usage: node account.mjs PROTECTED_URL ACCOUNT_URL USER PASSWORD SCREENSHOT SCREENSHOT_ON_FAILURE
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';

const [url, accountUrl, user, password, shotPath, failShot] = process.argv.slice(2);
const HEADINGS = ['Your account', 'Profile', 'Password', 'Second factors', 'Sessions', 'Personal API tokens',
  'Recent security events'];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});

// What has the keyboard focus, as the test needs it.
const focused = (page) => page.evaluate(() => {
  const e = document.activeElement;
  return {
    tag: e?.tagName, id: e?.id, text: e?.innerText?.trim() || '',
    row: e?.closest('tr')?.innerText || '', outline: e ? getComputedStyle(e).outlineStyle : 'none',
  };
});

// Signs in on the portal by keyboard: the identifier field has the focus, Tab to the password,
// Enter sends the form.
async function signIn(page) {
  await page.goto(url);
  if (!page.url().includes('/auth/login')) throw new Error(`not sent to the portal: ${page.url()}`);
  for (let i = 0; i < 10 && (await focused(page)).id !== 'identifier'; i++) await page.keyboard.press('Tab');
  await page.keyboard.type(user);
  await page.keyboard.press('Tab');
  if ((await focused(page)).id !== 'password') throw new Error('Tab did not move to the password');
  await page.keyboard.type(password);
  await Promise.all([page.waitForURL(url), page.keyboard.press('Enter')]);
}

// Whether a PNG shows something: drawn on a canvas in a blank page, it holds many colours and
// some dark (text) pixels.
async function inked(context, png) {
  const page = await context.newPage();
  const data = `data:image/png;base64,${png.toString('base64')}`;
  const r = await page.evaluate(async (src) => {
    const img = new Image();
    img.src = src;
    await img.decode();
    const c = document.createElement('canvas');
    [c.width, c.height] = [img.width, img.height];
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const px = g.getImageData(0, 0, c.width, c.height).data;
    const colours = new Set();
    let dark = 0;
    for (let i = 0; i < px.length; i += 4) {
      colours.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
      if (px[i] + px[i + 1] + px[i + 2] < 200) dark++;
    }
    return { width: c.width, height: c.height, colours: colours.size, dark: dark / (px.length / 4) };
  }, data);
  await page.close();
  return r;
}

const here = await browser.newContext({ userAgent: 'PageBrowser/1.0 (keyboard)' });
const there = await browser.newContext({ userAgent: 'OtherDevice/2.0' });
const page = await here.newPage();
const other = await there.newPage();
try {
  await signIn(page);
  await signIn(other);
  await page.goto(accountUrl);
  await page.getByRole('heading', { name: 'Your account' }).waitFor();
  await page.keyboard.press('Tab');
  const first = await focused(page);
  // Tab (and nothing else) to the other device's "End session" button.
  let target = null;
  for (let i = 0; i < 80 && !target; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    if (f.tag === 'BUTTON' && f.text === 'End session' && f.row.includes('OtherDevice/2.0')) target = f;
  }
  if (!target) throw new Error('the keyboard never reached the other session\'s End session button');
  await Promise.all([page.waitForURL(/done=session-ended/), page.keyboard.press('Enter')]);
  const notice = await page.getByRole('status').innerText();
  const listed = await page.locator('table').first().innerText();

  await other.goto(url);
  const otherUrl = other.url();

  const visible = {};
  for (const name of HEADINGS) visible[name] = await page.getByRole('heading', { name, exact: true }).isVisible();
  await page.screenshot({ path: shotPath, fullPage: true });
  const image = await inked(here, readFileSync(shotPath));
  console.log(JSON.stringify({
    first_tab: first.text, end_button_outline: target.outline, notice, other_still_listed: listed.includes('OtherDevice'),
    other_url: otherUrl, visible, image,
  }));
} catch (e) {
  await page.screenshot({ path: failShot, fullPage: true }).catch(() => {});
  console.error(`${e.message}\nscreenshot: ${failShot}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
