// Approve a device code the way a person does: Debian's chromium, headless,
// opens the verification page, the code is typed in, the person signs in on
// the provider's login page and allows access. Each page is saved as a PNG.
//   node chromium-approve.mjs VERIFICATION_URI USER_CODE EMAIL PASSWORD SCREENSHOT_DIR
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [uri, userCode, email, password, shots] = process.argv.slice(2);
if (!shots) {
  console.error('usage: chromium-approve.mjs VERIFICATION_URI USER_CODE EMAIL PASSWORD SCREENSHOT_DIR');
  process.exit(2);
}
const origin = new URL(uri).origin;
const profile = await mkdtemp(join(tmpdir(), 'cloudauth-chromium-'));

// The flags keep a headless chromium from reaching for Google's services,
// which a closed test network refuses.
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run',
  ],
  // The provider's certificate is from the test's own CA, which chromium's NSS store does not hold.
  ignoreHTTPSErrors: true,
  viewport: { width: 800, height: 600 },
});

let step = 0;
const page = context.pages()[0] ?? await context.newPage();
async function shot(name) {
  const path = join(shots, `${++step}-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot ${path}`);
}
// Every page of the flow has its own title: wait until the next one is shown.
async function submit(locator) {
  const before = await page.title();
  await locator.click();
  await page.waitForFunction((t) => document.readyState === 'complete' && document.title !== t, before,
    { timeout: 15000 });
}

try {
  await page.goto(uri, { waitUntil: 'load' });
  for (let i = 0; i < 8; i++) {
    const title = await page.title();
    if (!page.url().startsWith(origin + '/')) throw new Error(`left the provider: ${page.url()}`);
    if (title === 'Enter code') {
      await page.locator('input[name="user_code"]').pressSequentially(userCode, { delay: 20 });
      await shot('enter-code');
      await submit(page.getByRole('button', { name: 'Continue' }));
    } else if (title === 'Confirm device') {
      await shot('confirm-device');
      if (!(await page.locator('code').innerText()).includes(userCode)) throw new Error('the code shown is not ours');
      await submit(page.getByRole('button', { name: 'Continue' }));
    } else if (title === 'Sign in') {
      await page.locator('input[name="login"]').pressSequentially(email, { delay: 10 });
      await page.locator('input[name="password"]').fill(password);
      await shot('sign-in');
      await submit(page.getByRole('button', { name: 'Sign in' }));
    } else if (title === 'Allow access') {
      await shot('allow-access');
      await submit(page.getByRole('button', { name: 'Allow' }));
    } else if (title === 'Signed in') {
      await shot('signed-in');
      console.log('approved');
      process.exitCode = 0;
      break;
    } else {
      await shot('unexpected');
      throw new Error(`unexpected page "${title}" at ${page.url()}`);
    }
  }
  if (process.exitCode !== 0) throw new Error('the flow did not reach the success page');
} catch (e) {
  console.error(`chromium-approve: ${e.message}`);
  process.exitCode = 1;
} finally {
  await context.close();
  await rm(profile, { recursive: true, force: true });
}
