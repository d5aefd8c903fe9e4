// Drives headless Chromium for the claim end-to-end tests (tests/tests/e2e_claim.rs).
//
// Run: node tests/browser/claim-driver.mjs
// It reads one JSON command per line on stdin and prints one JSON result per line on
// stdout, so a test can act step by step and check the system between steps. Every
// command names a browser context ("a", "b", ...); each context has its own cookies,
// like a separate browser profile. Commands:
//   {"op":"open","context":"a","url":URL}                  load a page
//   {"op":"click","context":"a","button":NAME}             press a button, wait for the next page
//   {"op":"follow","context":"a","link":NAME}              follow a link, wait for the next page
//   {"op":"signIn","context":"a","user":U,"workspace":W,"decision":"Authorize"|"Cancel","hold":BOOL}
//        fill in the platform's sign-in page; with hold, the redirect back to the claim
//        worker is not followed and its URL is returned as "callbackUrl"
//   {"op":"cookies","context":"a"}                         cookie attributes, never values
//   {"op":"screenshot","context":"a","path":FILE}          full-page PNG
//   {"op":"close"}
// A page result has the main document's status, URL, headers and visible text. Errors
// come back as {"error": message}. Chromium is Debian's (/usr/bin/chromium, or
// CHROMIUM_PATH); Playwright's own browser download is never used.

import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  headless: true,
  // Playwright starts every launch with a fresh temporary profile (user data dir).
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
});

const sessions = new Map();

async function session(name) {
  if (!sessions.has(name)) {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const page = await context.newPage();
    const state = { context, page, lastDocument: null, dialogs: 0 };
    page.on('response', (response) => {
      const request = response.request();
      if (request.isNavigationRequest() && request.frame() === page.mainFrame()) {
        state.lastDocument = response;
      }
    });
    page.on('dialog', async (dialog) => {
      state.dialogs += 1;
      await dialog.dismiss();
    });
    sessions.set(name, state);
  }
  return sessions.get(name);
}

// Describes the page now shown: the last main-document response and its visible content.
async function describe(state) {
  const { page, lastDocument } = state;
  const content = await page.evaluate(() => ({
    title: document.title,
    heading: document.querySelector('h1')?.innerText ?? '',
    text: document.body?.innerText ?? '',
    links: [...document.querySelectorAll('a[href]')].map((a) => ({ text: a.innerText, href: a.getAttribute('href') })),
    buttons: [...document.querySelectorAll('button')].map((button) => button.innerText),
    scripts: document.querySelectorAll('script').length,
    boldElements: document.querySelectorAll('b').length,
  }));
  return {
    url: page.url(),
    status: lastDocument ? lastDocument.status() : null,
    headers: lastDocument ? await lastDocument.allHeaders() : {},
    dialogs: state.dialogs,
    ...content,
  };
}

// Runs `action`, which starts a navigation, and waits until the next page has loaded.
async function navigate(state, action) {
  await Promise.all([state.page.waitForEvent('load', { timeout: 20000 }), action()]);
  return describe(state);
}

async function signIn(state, command) {
  const { page, context } = state;
  const platformOrigin = new URL(page.url()).origin;
  await page.selectOption('#user', { label: command.user });
  await page.selectOption('#workspace', command.workspace);
  const button = page.getByRole('button', { name: command.decision || 'Authorize' });
  if (!command.hold) {
    return navigate(state, () => button.click());
  }

  // Handle the form's POST here instead of in the browser: fetch it without following
  // the redirect, keep the callback URL, and show a placeholder page.
  let callbackUrl = null;
  const isAuthorize = (url) => url.origin === platformOrigin && url.pathname === '/authorize';
  const handler = async (route) => {
    if (route.request().method() !== 'POST') {
      return route.continue();
    }
    const response = await route.fetch({ maxRedirects: 0 });
    callbackUrl = response.headers()['location'] ?? null;
    return route.fulfill({ status: 200, contentType: 'text/html', body: '<title>held</title><p>held</p>' });
  };
  await context.route(isAuthorize, handler);
  try {
    await navigate(state, () => button.click());
  } finally {
    await context.unroute(isAuthorize, handler);
  }
  return { callbackUrl };
}

async function run(command) {
  if (command.op === 'close') {
    await browser.close();
    return { closed: true };
  }
  const state = await session(command.context || 'a');
  switch (command.op) {
    case 'open':
      return navigate(state, () => state.page.goto(command.url, { waitUntil: 'commit' }));
    case 'click':
      return navigate(state, () => state.page.getByRole('button', { name: command.button }).click());
    case 'follow':
      return navigate(state, () => state.page.getByRole('link', { name: command.link }).click());
    case 'signIn':
      return signIn(state, command);
    case 'cookies': {
      const cookies = await state.context.cookies();
      return {
        cookies: cookies.map(({ name, domain, path, expires, httpOnly, secure, sameSite }) => ({
          name,
          domain,
          path,
          expires,
          httpOnly,
          secure,
          sameSite,
        })),
      };
    }
    case 'screenshot':
      await state.page.screenshot({ path: command.path, fullPage: true });
      return { path: command.path };
    default:
      throw new Error(`unknown op ${JSON.stringify(command.op)}`);
  }
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) {
    continue;
  }
  let result;
  try {
    result = await run(JSON.parse(line));
  } catch (error) {
    result = { error: String(error?.message ?? error) };
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (result.closed) {
    break;
  }
}
await browser.close().catch(() => {});
