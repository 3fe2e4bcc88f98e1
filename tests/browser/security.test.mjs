// Attacks on the pages, in the browser where they would land: an open redirect after login
// (the tab, newline, backslash and `//` forms browsers rewrite into another origin) and a
// configured SVG image that carries a script reading the session token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, sharedBrowser, loginCode, sessionToken, useToken, newPage as openPage, WAIT } from './harness.mjs';

const chromium = sharedBrowser();

const newPage = () => openPage(chromium.browser);

test('after login, next never leaves this origin', async () => {
  const server = await startServer('redirect');
  const { context, page, errors } = await newPage();
  try {
    const base = server.base;
    // Each `next` as a link would carry it, percent-encoded in the query.
    const hostile = [
      '/%09/evil.example', // tab: browsers drop it, `/\t/evil` is `//evil`
      '/%0A/evil.example', // newline, dropped the same way
      '/%0D%0A/evil.example',
      '/%5Cevil.example', // backslash: read as `/`
      '%5C%5Cevil.example',
      '//evil.example',
      '%2F%2Fevil.example',
      '///evil.example',
      'https://evil.example/',
      'https:evil.example',
      'javascript:alert(document.domain)',
      '%09javascript:alert(1)',
    ];
    let n = 0;
    for (const next of hostile) {
      n += 1;
      const openid = `oBrowserRedir${String(n).padStart(2, '0')}`;
      const code = await loginCode(base, openid);
      await page.goto(`${base}/login?next=${next}`);
      await page.fill('#code', code);
      await page.click('#login-submit');
      await page.waitForURL((url) => url.pathname !== '/login', { timeout: WAIT });
      const landed = new URL(page.url());
      assert.equal(landed.origin, base, `next=${next} left the site: ${page.url()}`);
      assert.equal(landed.pathname, '/', `next=${next} should fall back to /`);
      await page.evaluate(() => localStorage.clear());
    }
    // A local next is followed.
    const code = await loginCode(base, 'oBrowserRedirOk');
    await page.goto(`${base}/login?next=%2Forders%3Fx%3D1`);
    await page.fill('#code', code);
    await page.click('#login-submit');
    await page.waitForURL(`${base}/orders?x=1`);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});

test('a configured SVG image cannot run script on the shop origin', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chatmall-svg-'));
  const svg = join(dir, 'qr.svg');
  writeFileSync(svg, `<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200">
<rect width="200" height="200" fill="#fff"/>
<script>
document.documentElement.setAttribute('data-ran', 'yes');
try { localStorage.setItem('leaked', localStorage.getItem('chatmall.token') || 'none'); } catch (e) {}
fetch('/api/v1/account/query?leak=' + encodeURIComponent(localStorage.getItem('chatmall.token')));
</script>
</svg>`);
  const server = await startServer('svg', { CHATMALL__PAGES__OFFICIAL_ACCOUNT_QR: svg });
  const { context, page } = await newPage();
  try {
    const base = server.base;
    await useToken(page, base, await sessionToken(base, 'oBrowserSvg01'));
    const leaks = [];
    page.on('request', (request) => {
      if (request.url().includes('leak=')) leaks.push(request.url());
    });
    // The login page shows it as an image…
    await page.goto(base + '/login');
    const src = await page.locator('#official-qr').getAttribute('src');
    assert.equal(src, '/official-account-qr');
    await page.waitForFunction(() => document.getElementById('official-qr').complete);
    // …and opened on its own, as a document of this origin, its script must not run.
    const response = await page.goto(base + src);
    assert.equal(await page.evaluate(() => document.documentElement.getAttribute('data-ran')), null);
    await page.goto(base + '/login');
    assert.equal(await page.evaluate(() => localStorage.getItem('leaked')), null);
    assert.deepEqual(leaks, []);
    const csp = response.headers()['content-security-policy'] || '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /\bsandbox\b/);
    assert.equal(response.headers()['x-content-type-options'], 'nosniff');
  } finally {
    await context.close();
    await server.stop();
  }
});

test('the API, sandbox and simulator answers carry a Content-Security-Policy', async () => {
  const server = await startServer('csp');
  try {
    const base = server.base;
    for (const path of ['/api/v1/sale/query_product_list', '/sandbox/scan?pr=none', '/simulator/official-account', '/health']) {
      const response = await fetch(base + path);
      const csp = response.headers.get('content-security-policy') || '';
      assert.match(csp, /default-src 'none'/, path);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', path);
    }
  } finally {
    await server.stop();
  }
});
