// Test harness: the real `chatmall` binary on a free port with a temporary data dir, and
// headless Chromium driven by playwright-core. Everything waits on conditions, never sleeps.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, createWriteStream, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { chromium } from 'playwright-core';
import { before, after } from 'node:test';

const here = dirname(fileURLToPath(import.meta.url));
/** Screenshots and server logs of the last run (gitignored). */
export const ARTIFACTS = join(here, 'artifacts');
mkdirSync(ARTIFACTS, { recursive: true });

const BINARY = process.env.CHATMALL_BIN || resolve(here, '../../target/debug/chatmall');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
/** How long one condition may take to come true. */
export const WAIT = 20_000;

function freePort() {
  return new Promise((ok, fail) => {
    const server = net.createServer();
    server.unref();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

async function until(what, check, timeout = WAIT) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}` + (last ? `: ${last.message}` : ''));
}

/** A running server; `stop()` ends it (only this process, by its pid). */
export async function startServer(name, env = {}) {
  if (!existsSync(BINARY)) {
    throw new Error(`no chatmall binary at ${BINARY} (build it, or set CHATMALL_BIN)`);
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'chatmall-browser-'));
  const port = await freePort();
  const log = createWriteStream(join(ARTIFACTS, `server-${name}.log`));
  // A chatmall.toml in the working directory must not change the test's server.
  const child = spawn(BINARY, ['--config', join(dataDir, 'none.toml')], {
    env: {
      ...process.env,
      RUST_LOG: process.env.RUST_LOG || 'info',
      CHATMALL__SERVER__HOST: '127.0.0.1',
      CHATMALL__SERVER__PORT: String(port),
      CHATMALL__SERVER__DATA_DIR: dataDir,
      CHATMALL__SANDBOX__TIME_SCALE: '0.01',
      CHATMALL__JOBS__DELIVERY_POLL_MS: '200',
      CHATMALL__WECHATPAY__TIMEOUT_MS: '3000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  const base = `http://127.0.0.1:${port}`;
  await until(`${name} server to answer /health`, async () => {
    if (exited) throw new Error(`the server exited early (${JSON.stringify(exited)}); see ${log.path}`);
    const response = await fetch(base + '/health');
    return response.ok;
  });
  return {
    base,
    dataDir,
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        await until(`${name} server to stop`, () => exited !== null, 15_000).catch(() => child.kill('SIGKILL'));
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs `chatmall admin create` against `server`'s data dir, the password on stdin. */
export async function createOperator(server, name, role, password) {
  const child = spawn(BINARY, ['--config', join(server.dataDir, 'none.toml'), 'admin', 'create', '--user', name, '--role', role], {
    env: { ...process.env, CHATMALL__SERVER__DATA_DIR: server.dataDir },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  child.stdin.end(password + '\n');
  const code = await new Promise((ok) => child.on('exit', ok));
  if (code !== 0) throw new Error(`admin create ${name} failed (${code}): ${output}`);
}

/** Headless Chromium (Debian's), cut off from every network but loopback's. */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
      '--no-proxy-server',
    ],
  });
}

/** One Chromium for the calling test file: launched before its tests, closed after them;
 * `.browser` once they run. */
export function sharedBrowser() {
  const shared = { browser: null };
  before(async () => {
    shared.browser = await launchBrowser();
  });
  after(async () => {
    await shared.browser?.close();
  });
  return shared;
}

/** A login code from the official-account simulator, as a follower would get it. */
export async function loginCode(base, openid) {
  const response = await fetch(base + '/simulator/official-account/message', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ openid, content: '登录' }),
  });
  const body = await response.json();
  if (!response.ok || !body.code) {
    throw new Error('the simulator gave no code: ' + JSON.stringify(body));
  }
  return body.code;
}

/** A session token for `openid`, through the simulator and `/auth/login`. */
export async function sessionToken(base, openid) {
  const code = await loginCode(base, openid);
  const response = await fetch(base + '/api/v1/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'code=' + code,
  });
  const body = await response.json();
  if (body.code !== '0000') throw new Error('login failed: ' + JSON.stringify(body));
  return body.data;
}

/** Buys product `productId` for the holder of `token` and pays it in the sandbox (as the
 * WeChat app would, out of band); resolves once the package is credited. */
export async function buy(base, token, productId) {
  const auth = { Authorization: 'Bearer ' + token };
  const placed = await (await fetch(base + '/api/v1/sale/place_order', {
    method: 'POST',
    headers: { ...auth, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'productId=' + encodeURIComponent(productId),
  })).json();
  if (placed.code !== '0000') throw new Error('the order was refused: ' + JSON.stringify(placed));
  // The prepay may still be on its way to the sandbox: pay once it knows the order.
  await until('the sandbox to take the payment', async () => {
    const paid = await fetch(base + '/sandbox/pay', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ out_trade_no: placed.data.orderId }),
    });
    return paid.ok;
  });
  await until('the package to be credited', async () => {
    const account = await (await fetch(base + '/api/v1/account/query', { headers: auth })).json();
    return account.data && account.data.totalQuota > 0;
  });
}

/** Logs the page in by putting `token` where the pages keep it. */
export async function useToken(page, base, token) {
  await page.goto(base + '/login');
  await page.evaluate((t) => localStorage.setItem('chatmall.token', t), token);
}

/** A fresh context (its own localStorage) on a desktop screen unless `options` say
 * otherwise, and a page in it whose script errors are collected in `errors`. */
export async function newPage(browser, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  const errors = [];
  watchErrors(page, errors);
  return { context, page, errors };
}

/** A phone's screen, for `newPage`. */
export const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

/** Fails unless the page fits its screen's width; then saves artifacts/phone-<name>.png. */
export async function fitsPhone(page, name) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) throw new Error(`${name} is ${overflow}px wider than the screen`);
  await shot(page, 'phone-' + name);
}

/** Saves a full-page screenshot as artifacts/<name>.png. */
export async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, name + '.png'), fullPage: true });
}

/** Fails the test on any script error in the page (a broken page must not pass). */
export function watchErrors(page, errors) {
  page.on('pageerror', (e) => errors.push(`${page.url()}: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) {
      errors.push(`${page.url()}: console: ${m.text()}`);
    }
  });
}

export { until };
