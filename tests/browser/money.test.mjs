// Money the user sees arrive: "I have paid" on the pay page credits a payment whose
// notification was lost (the jobs would take an hour here), and a redemption code typed on
// the account page adds its quota; on a phone screen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, sharedBrowser, sessionToken, useToken, newPage, PHONE, fitsPhone, until } from './harness.mjs';

const chromium = sharedBrowser();
const ADMIN = 'operator-token-browser';

test('"I have paid" credits a payment whose notification was lost (phone)', async () => {
  const server = await startServer('buyer-check', { CHATMALL__JOBS__MISSED_PAYMENT_DELAY_SECS: '3600' });
  const { base } = server;
  const { context, page, errors } = await newPage(chromium.browser, PHONE);
  try {
    const lost = await fetch(base + '/sandbox/faults', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ drop_notification: 1.0 }),
    });
    assert.ok(lost.ok);
    const token = await sessionToken(base, 'oBrowserSaysPaid');
    const placed = await (await fetch(base + '/api/v1/sale/place_order', {
      method: 'POST',
      headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'productId=1001',
    })).json();
    assert.equal(placed.code, '0000');
    const orderId = placed.data.orderId;
    await useToken(page, base, token);
    await page.goto(base + '/pay/' + orderId);
    await page.locator('#pay-waiting').waitFor();
    await until('the sandbox to take the payment', async () => (await fetch(base + '/sandbox/pay', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ out_trade_no: orderId }),
    })).ok);
    // Paid at WeChat, but nobody here was told: the page still waits.
    const order = await (await fetch(base + '/api/v1/sale/query_order?orderId=' + orderId, {
      headers: { Authorization: 'Bearer ' + token },
    })).json();
    assert.equal(order.data.status, 'PAY_WAIT');

    await page.click('#check-payment');
    await page.locator('#check-result').filter({ hasText: 'Payment found' }).waitFor();
    await page.locator('#pay-done').waitFor();
    await page.locator('#pay-done-text').filter({ hasText: 'credited' }).waitFor();
    await page.locator('#quota-left').filter({ hasText: /^\d+$/ }).waitFor();
    const account = await (await fetch(base + '/api/v1/account/query', {
      headers: { Authorization: 'Bearer ' + token },
    })).json();
    assert.equal(await page.locator('#quota-left').innerText(), String(account.data.surplusQuota));
    assert.ok(account.data.surplusQuota > 0);
    await fitsPhone(page, 'pay-checked');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});

test('a redemption code typed on the account page adds its quota once (phone)', async () => {
  const server = await startServer('redeem', { CHATMALL__ADMIN__TOKEN: ADMIN });
  const { base } = server;
  const { context, page, errors } = await newPage(chromium.browser, PHONE);
  try {
    const issued = await (await fetch(base + '/api/v1/admin/redemption_batches', {
      method: 'POST',
      headers: { Authorization: 'Bearer ' + ADMIN, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        count: 1,
        quota: 42,
        modelTypes: ['gpt-4o-mini'],
        expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      }),
    })).json();
    assert.equal(issued.code, '0000', JSON.stringify(issued));
    const [code] = issued.data.codes;
    const token = await sessionToken(base, 'oBrowserRedeems');
    await useToken(page, base, token);
    await page.goto(base + '/account');
    await page.locator('#balance').filter({ hasText: /^0$/ }).waitFor();

    // Typed as people type: lowercase, spaces for hyphens.
    await page.fill('#redeem-code', code.toLowerCase().replaceAll('-', ' '));
    await page.click('#redeem');
    await page.locator('#redeem-done').filter({ hasText: '+42' }).waitFor();
    await page.locator('#balance').filter({ hasText: /^42$/ }).waitFor();
    assert.equal(await page.locator('#account-models').innerText(), 'gpt-4o-mini');
    assert.equal(await page.inputValue('#redeem-code'), '');

    // Once only.
    await page.fill('#redeem-code', code);
    await page.click('#redeem');
    await page.locator('#redeem-error').filter({ hasText: 'used already' }).waitFor();
    assert.equal(await page.locator('#balance').innerText(), '42');
    await fitsPhone(page, 'account-redeemed');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});
