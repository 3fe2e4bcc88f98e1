// The operators' console in Chromium: an admin's walk (log in, find a paid order, refund
// part of it, adjust an account, read the audit log), a viewer's walk on a phone (sees
// everything, no forms, refused when it tries), and a state-changing request without the
// session's CSRF token refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, sharedBrowser, sessionToken, buy, newPage, PHONE, fitsPhone, shot, createOperator } from './harness.mjs';

const chromium = sharedBrowser();
const PASSWORD = 'a long console password';

async function logIn(page, base, name) {
  await page.goto(base + '/admin/orders');
  // No session yet: the console sends the browser to its login page, and back after it.
  await page.waitForURL(/\/admin\/login\?next=/);
  await page.fill('input[name=name]', name);
  await page.fill('input[name=password]', PASSWORD);
  await page.click('#login-form button[type=submit]');
  await page.waitForURL(base + '/admin/orders');
}

test('an admin finds a paid order, refunds part of it, adjusts the account, and reads the audit log', async () => {
  const server = await startServer('console-admin');
  const { base } = server;
  await createOperator(server, 'alice', 'admin', PASSWORD);
  const { context, page, errors } = await newPage(chromium.browser);
  try {
    const user = 'oBrowserConsoleBuyer';
    const token = await sessionToken(base, user);
    await buy(base, token, '1002');

    // A wrong password first: one answer, and the form again.
    await page.goto(base + '/admin/login');
    await page.fill('input[name=name]', 'alice');
    await page.fill('input[name=password]', 'not the password');
    await page.click('#login-form button[type=submit]');
    await page.locator('#login-problem').filter({ hasText: 'Wrong name or password' }).waitFor();

    await logIn(page, base, 'alice');
    await page.locator('#operator').filter({ hasText: 'alice · admin' }).waitFor();
    await page.fill('input[name=q]', user);
    await page.click('#order-search button[type=submit]');
    const link = page.locator('#orders tbody tr a').first();
    const orderId = (await link.innerText()).trim();
    await link.click();
    await page.waitForURL(base + '/admin/orders/' + orderId);
    await page.locator('#history').filter({ hasText: 'deliver' }).waitFor();

    // The refund asks for confirmation first.
    page.once('dialog', (dialog) => dialog.accept());
    await page.fill('#refund-form input[name=amount_fen]', '300');
    await page.fill('#refund-form input[name=reason]', 'asked in support chat');
    await page.click('#refund-form button[type=submit]');
    await page.locator('#done').filter({ hasText: 'refund requested' }).waitFor();
    await page.locator('#refunds').filter({ hasText: 'asked in support chat' }).waitFor();
    await page.locator('#history').filter({ hasText: 'operator:alice' }).waitFor();
    await shot(page, 'console-order');

    await page.goto(base + '/admin/accounts/' + user);
    page.once('dialog', (dialog) => dialog.accept());
    await page.fill('#adjust-form input[name=delta]', '5');
    await page.fill('#adjust-form input[name=reason]', 'goodwill');
    await page.click('#adjust-form button[type=submit]');
    await page.locator('#done').filter({ hasText: 'adjusted by +5' }).waitFor();
    await page.locator('#ledger').filter({ hasText: 'operator_adjust' }).waitFor();

    // A request from this very page without the session's CSRF token is refused.
    const forged = await page.evaluate(async (path) => {
      const response = await fetch(path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'amount_fen=100&reason=forged',
      });
      return response.status;
    }, '/admin/orders/' + orderId + '/refund');
    assert.equal(forged, 403);

    await page.goto(base + '/admin/audit');
    const audit = page.locator('#audit tbody');
    await audit.filter({ hasText: 'account.adjust' }).waitFor();
    await audit.filter({ hasText: 'refund' }).waitFor();
    assert.equal(await audit.locator('tr').filter({ hasText: 'forged' }).count(), 0);
    await page.goto(base + '/admin');
    await page.locator('#today-paid b').filter({ hasText: '1' }).waitFor();
    await shot(page, 'console-dashboard');

    await page.click('#logout');
    await page.waitForURL(base + '/admin/login');
    await page.goto(base + '/admin/audit');
    await page.waitForURL(/\/admin\/login/);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});

test('a viewer sees every page on a phone, with no forms, and is refused when it acts', async () => {
  const server = await startServer('console-viewer');
  const { base } = server;
  await createOperator(server, 'vera', 'viewer', PASSWORD);
  const { context, page, errors } = await newPage(chromium.browser, PHONE);
  try {
    const user = 'oBrowserConsoleViewed';
    const token = await sessionToken(base, user);
    await buy(base, token, '1001');
    await logIn(page, base, 'vera');
    await page.locator('#operator').filter({ hasText: 'vera · viewer' }).waitFor();
    await fitsPhone(page, 'console-orders');
    const orderId = (await page.locator('#orders tbody tr a').first().innerText()).trim();
    await page.goto(base + '/admin/orders/' + orderId);
    await page.locator('#viewer-note').waitFor();
    assert.equal(await page.locator('#refund-form').count(), 0);
    await fitsPhone(page, 'console-order');
    for (const path of ['/admin', '/admin/troubled', '/admin/products', '/admin/accounts', '/admin/batches', '/admin/reconciliations', '/admin/audit']) {
      const response = await page.goto(base + path);
      assert.equal(response.status(), 200, path);
      assert.equal(await page.locator('main form[method=post]').count(), 0, `no forms for a viewer on ${path}`);
      await fitsPhone(page, 'console' + path.replaceAll('/', '-'));
    }
    await page.goto(base + '/admin/accounts/' + user);
    assert.equal(await page.locator('#adjust-form').count(), 0);

    // Even with the session's own CSRF token (read from the logout form), a viewer acts on nothing.
    const refused = await page.evaluate(async (path) => {
      const csrf = document.querySelector('form.who input[name=csrf]').value;
      const response = await fetch(path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'csrf=' + encodeURIComponent(csrf) + '&delta=1000&reason=mine',
      });
      return response.status;
    }, '/admin/accounts/' + user + '/adjust');
    assert.equal(refused, 403);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});
