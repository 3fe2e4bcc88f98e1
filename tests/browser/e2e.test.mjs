// The chatmall pages in headless Chromium against the real binary: log in through the
// official-account simulator, buy, pay through the sandbox, chat, see the order; plus an
// expired order, logged-out redirects and a phone-sized screen. Screenshots go to artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, sharedBrowser, loginCode, sessionToken, useToken, shot, newPage as openPage, PHONE, fitsPhone,
} from './harness.mjs';

const chromium = sharedBrowser();

/** A fresh browser context (its own localStorage) and page. */
const newPage = (options) => openPage(chromium.browser, options);

const text = (page, selector) => page.locator(selector).innerText();

test('buy, pay in the sandbox, chat, see the order (desktop)', async () => {
  const server = await startServer('flow');
  const { context, page, errors } = await newPage();
  try {
    const base = server.base;

    // Logged out: a personal page sends you to the login page, which comes back afterwards.
    await page.goto(base + '/orders');
    await page.waitForURL(base + '/login?next=%2Forders');
    await page.locator('#official-qr').waitFor();
    assert.equal(await page.locator('#simulator-link').getAttribute('href'), '/simulator/official-account');
    await shot(page, 'desktop-login');

    // The follower sends the official account a message (the simulator plays WeChat)...
    await page.goto(base + '/simulator/official-account');
    await page.fill('#openid', 'oBrowserDesk01');
    await page.click('#send');
    await page.waitForFunction(() => /\d{6}/.test(document.getElementById('reply').textContent));
    const code = /\d{6}/.exec(await text(page, '#reply'))[0];

    // ...and types the code into the login page.
    await page.goto(base + '/login?next=%2F');
    await page.fill('#code', '000000');
    await page.click('#login-submit');
    await page.locator('#login-error').filter({ hasText: '验证码错误' }).waitFor();
    await page.fill('#code', code);
    await page.click('#login-submit');
    await page.waitForURL(base + '/');
    await page.locator('#nav-logout').waitFor();

    // The mall: the catalog, rendered by the server.
    const standard = page.locator('article.product[data-product-id="1002"]');
    assert.match(await standard.locator('.product-name').innerText(), /Standard/);
    assert.equal(await standard.locator('.product-price').innerText(), '9.90');
    assert.match(await standard.locator('.product-models').innerText(), /gpt-4o-mini/);
    await shot(page, 'desktop-mall');

    // Buy: the pay page shows the server-drawn QR code, the amount and a countdown.
    await standard.locator('button.buy').click();
    await page.waitForURL(/\/pay\/\d+$/);
    const payUrl = page.url();
    const orderId = payUrl.split('/').pop();
    await page.locator('#pay-waiting').waitFor();
    assert.equal(await text(page, '#order-id'), orderId);
    assert.equal(await text(page, '#order-amount'), '9.90');
    await page.waitForFunction(() => {
      const img = document.getElementById('pay-qr');
      return img.complete && img.naturalWidth > 0;
    });
    assert.match(await page.locator('#pay-qr').getAttribute('src'), /^\/qr\.svg\?text=weixin%3A%2F%2F/);
    await page.waitForFunction(() => /^\d\d:\d\d$/.test(document.getElementById('countdown').textContent));
    await page.locator('#sandbox-pay-link').waitFor();
    await shot(page, 'desktop-pay-waiting');

    // A leftover unpaid order comes back to the same QR code.
    await page.goto(base + '/');
    await page.locator('article.product[data-product-id="1002"] button.buy').click();
    await page.waitForURL(payUrl);
    await page.locator('#pay-waiting').waitFor();

    // "Scan" it: the sandbox's scan page pays; the pay page notices by itself.
    const [scan] = await Promise.all([
      context.waitForEvent('page'),
      page.click('#sandbox-pay-link'),
    ]);
    await scan.waitForLoadState();
    assert.match(scan.url(), /\/sandbox\/scan\?pr=/);
    await scan.click('#pay');
    await scan.locator('#result').filter({ hasText: '支付成功' }).waitFor();
    await shot(scan, 'desktop-sandbox-scan');
    await scan.close();

    await page.locator('#pay-done').waitFor();
    await page.waitForFunction(() => document.getElementById('order-status').dataset.status === 'DELIVERED');
    await page.locator('#quota-left').filter({ hasText: /^100$/ }).waitFor();
    await shot(page, 'desktop-pay-done');

    // Chat: the granted model, a streamed answer, one quota spent.
    await page.click('#go-chat');
    await page.waitForURL(base + '/chat');
    await page.locator('#quota').filter({ hasText: /^100$/ }).waitFor();
    const models = await page.locator('#model option').allInnerTexts();
    assert.deepEqual(models, ['chatglm_std', 'chatglm_turbo', 'gpt-3.5-turbo', 'gpt-3.5-turbo-16k', 'gpt-4o-mini']);
    await page.fill('#prompt', '你好，请介绍一下自己');
    await page.press('#prompt', 'Enter');
    const answer = page.locator('.msg-assistant[data-done="1"]').first();
    await answer.waitFor();
    assert.match(await answer.innerText(), /offline model/i);
    assert.equal(await answer.locator('.error').count(), 0, await answer.innerText());
    await page.locator('#quota').filter({ hasText: /^99$/ }).waitFor();
    await shot(page, 'desktop-chat');

    // The markdown renderer escapes before it adds markup.
    const html = await page.evaluate(() => window.renderMarkdown(
      'Hi <img src=x onerror=alert(1)> **bold** `a<b>`\n\n```js\nif (a < b) {}\n```\n- one\n- **two**\n\n1. first\n2. second',
    ));
    assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'), html);
    assert.ok(!html.includes('<img'), html);
    assert.ok(html.includes('<strong>bold</strong>'), html);
    assert.ok(html.includes('<code>a&lt;b&gt;</code>'), html);
    assert.ok(html.includes('<pre><code class="language-js"><span class="tok-k">if</span> (a &lt; b) {}</code></pre>'), html);
    // Links and pictures: http(s) only, their URLs escaped.
    const linked = await page.evaluate(() => window.renderMarkdown(
      '[ok](https://a.example/?q=1&r=2) [no](javascript:alert(1)) ![p](https://a.example/p.png) ![x](data:text/html,x) [q](https://a.example/"onmouseover=alert(1))',
    ));
    assert.ok(linked.includes('<a href="https://a.example/?q=1&amp;r=2" target="_blank" rel="noopener noreferrer">ok</a>'), linked);
    assert.ok(linked.includes('<img src="https://a.example/p.png" alt="p" loading="lazy">'), linked);
    assert.ok(!/javascript:alert\(1\)"|src="data:|onmouseover=alert\(1\)"/.test(linked), linked);
    assert.equal((linked.match(/<(a|img) /g) || []).length, 2, linked);
    assert.ok(html.includes('<ul><li>one</li><li><strong>two</strong></li></ul>'), html);
    assert.ok(html.includes('<ol><li>first</li><li>second</li></ol>'), html);

    // My orders: the paid order is delivered.
    await page.click('a[data-nav="orders"]');
    await page.waitForURL(base + '/orders');
    const row = page.locator(`article.order[data-order-id="${orderId}"]`);
    await row.waitFor();
    assert.equal(await row.getAttribute('data-status'), 'DELIVERED');
    assert.match(await row.innerText(), /已到账 Delivered/);
    await shot(page, 'desktop-orders');

    // Logging out, or a token the server no longer takes, leads back to the login page.
    await page.click('#nav-logout');
    await page.waitForURL(base + '/login');
    await page.goto(base + '/chat');
    await page.waitForURL(base + '/login?next=%2Fchat');
    await page.evaluate(() => localStorage.setItem('chatmall.token', 'not-a-token'));
    await page.goto(base + '/orders');
    await page.waitForURL(base + '/login?next=%2Forders');
    assert.equal(await page.evaluate(() => localStorage.getItem('chatmall.token')), null);
    // A next= to another site is not followed.
    const token = await sessionToken(base, 'oBrowserDesk01');
    await page.goto(base + '/login?next=' + encodeURIComponent('//evil.example/'));
    await page.fill('#code', await loginCode(base, 'oBrowserDesk01'));
    await page.click('#login-submit');
    await page.waitForURL(base + '/');
    assert.ok(token);

    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});

test('no quota and a model not granted say so (desktop)', async () => {
  // No free trial here: a user who bought nothing has no quota at all.
  const server = await startServer('noquota', { CHATMALL__TRIAL__CALLS: '0' });
  const { context, page, errors } = await newPage();
  try {
    await useToken(page, server.base, await sessionToken(server.base, 'oBrowserNoQuota'));
    await page.goto(server.base + '/chat');
    await page.locator('#chat-notice').filter({ hasText: '还没有可用的模型' }).waitFor();
    assert.equal(await page.locator('#quota').innerText(), '0');
    assert.ok(await page.locator('#send').isDisabled());
    await shot(page, 'desktop-chat-no-quota');

    // Sending anyway (a model forced into the picker): the server's 429 is explained.
    await page.evaluate(() => {
      const select = document.getElementById('model');
      select.add(new Option('gpt-4o-mini', 'gpt-4o-mini'));
      select.disabled = false;
      document.getElementById('send').disabled = false;
    });
    await page.fill('#prompt', 'hello');
    await page.click('#send');
    await page.locator('.msg-assistant .error').filter({ hasText: '额度不足' }).waitFor();
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});

test('an order left unpaid expires and offers a new one', async () => {
  const server = await startServer('expiry', {
    CHATMALL__ORDER__TTL_SECS: '2',
    CHATMALL__JOBS__EXPIRY_INTERVAL_MS: '200',
  });
  const { context, page, errors } = await newPage();
  try {
    await useToken(page, server.base, await sessionToken(server.base, 'oBrowserExpiry1'));
    await page.goto(server.base + '/');
    await page.locator('article.product[data-product-id="1001"] button.buy').click();
    await page.waitForURL(/\/pay\/\d+$/);
    const first = page.url();
    await page.locator('#pay-expired').waitFor();
    await page.waitForFunction(() => document.getElementById('order-status').dataset.status === 'CLOSED');
    assert.equal(await page.locator('#pay-waiting').isVisible(), false);
    await shot(page, 'desktop-pay-expired');

    await page.click('#reorder');
    await page.waitForURL((url) => /\/pay\/\d+$/.test(url.pathname) && url.href !== first);
    await page.locator('#order-id').filter({ hasText: /\d+/ }).waitFor();

    await page.goto(server.base + '/orders');
    await page.locator('article.order[data-status="CLOSED"]').first().waitFor();
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});

test('every page fits a phone screen (390×844)', async () => {
  const server = await startServer('phone');
  const { context, page, errors } = await newPage(PHONE);
  const fits = (name) => fitsPhone(page, name);
  try {
    const base = server.base;
    await page.goto(base + '/login');
    await page.locator('#official-qr').waitFor();
    await fits('login');

    await useToken(page, base, await sessionToken(base, 'oBrowserPhone01'));
    await page.goto(base + '/');
    await page.locator('article.product').first().waitFor();
    await fits('mall');

    await page.locator('article.product[data-product-id="1003"] button.buy').tap();
    await page.waitForURL(/\/pay\/\d+$/);
    const orderId = page.url().split('/').pop();
    await page.waitForFunction(() => document.getElementById('pay-qr').naturalWidth > 0);
    await fits('pay-waiting');

    // Paid by HTTP this time (as a phone's WeChat would, out of band).
    const paid = await fetch(base + '/sandbox/pay', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ out_trade_no: orderId }),
    });
    assert.ok(paid.ok, await paid.text());
    await page.waitForFunction(() => document.getElementById('order-status').dataset.status === 'DELIVERED');
    await page.locator('#quota-left').waitFor();
    await fits('pay-done');

    await page.goto(base + '/chat');
    await page.locator('#model option').first().waitFor({ state: 'attached' });
    await page.fill('#prompt', 'Show me **markdown**');
    await page.locator('#send').tap();
    await page.locator('.msg-assistant[data-done="1"]').waitFor();
    await fits('chat');

    // A model outside the packages bought (forced into the picker) is refused and said so.
    await page.evaluate(() => {
      const select = document.getElementById('model');
      select.add(new Option('o3-mini', 'o3-mini'));
      select.value = 'o3-mini';
    });
    await page.fill('#prompt', 'hi');
    await page.locator('#send').tap();
    await page.locator('.msg-assistant .error').filter({ hasText: '无法使用此模型' }).waitFor();
    await page.locator('#quota').filter({ hasText: /^499$/ }).waitFor();

    await page.goto(base + '/orders');
    await page.locator(`article.order[data-order-id="${orderId}"][data-status="DELIVERED"]`).waitFor();
    await fits('orders');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});
