// /pay/{orderId}: the QR code, a countdown, and the payment noticed by polling the order.
'use strict';
(function () {
  const cm = window.chatmall;
  const $ = cm.$;
  if (!cm.requireLogin()) return;
  const orderId = document.body.dataset.orderId;
  const sandbox = document.body.dataset.sandbox === '1';
  $('order-id').textContent = orderId;

  let order = null;
  let expireAt = 0;
  let finished = false;
  let shownCodeUrl = null;

  /** Shows exactly one of the page's states. */
  function show(which) {
    for (const id of ['pay-waiting', 'pay-done', 'pay-expired', 'pay-review']) {
      $(id).hidden = id !== which;
    }
    document.body.dataset.state = which;
  }

  function showQr(codeUrl) {
    if (codeUrl === shownCodeUrl) return;
    shownCodeUrl = codeUrl;
    $('pay-qr').src = '/qr.svg?text=' + encodeURIComponent(codeUrl);
    const token = /[?&]pr=([^&#]+)/.exec(codeUrl);
    if (sandbox && token) {
      $('sandbox-pay-link').href = '/sandbox/scan?pr=' + encodeURIComponent(decodeURIComponent(token[1]));
      $('sandbox-pay').hidden = false;
    }
  }

  function expired() {
    return expireAt && Date.now() >= expireAt;
  }

  async function showQuota() {
    try {
      const account = await cm.api('/account/query');
      $('quota-left').textContent = account.surplusQuota;
      $('pay-quota').hidden = false;
    } catch (_) {
      // The order view already says it is delivered; the quota is a nicety.
    }
  }

  function render(o) {
    order = o;
    $('order-product').textContent = o.productName + ' · ' + o.quota + ' 次 chats';
    $('order-amount').textContent = cm.yuan(o.amountFen);
    $('order-status').textContent = cm.statusLabel(o.status);
    $('order-status').dataset.status = o.status;
    expireAt = Date.parse(o.expireAt) || 0;
    switch (o.status) {
      case 'CREATED':
      case 'PAY_WAIT':
        if (o.codeUrl && !expired()) {
          showQr(o.codeUrl);
          show('pay-waiting');
          tick();
        } else {
          // Past its deadline: the expiry job will close it (a late payment still counts).
          $('pay-expired-text').textContent = '二维码已过期 · The QR code expired.';
          show('pay-expired');
        }
        break;
      case 'PAID':
        $('pay-done-text').textContent = '正在发放额度… Crediting your quota…';
        show('pay-done');
        break;
      case 'DELIVERED':
        $('pay-done-text').textContent = '额度已到账 · ' + o.quota + ' chats credited.';
        show('pay-done');
        finished = true;
        showQuota();
        break;
      case 'PARTLY_REFUNDED':
      case 'REFUNDED':
        $('pay-done-text').textContent = cm.statusLabel(o.status) + ' · The money was paid back.';
        show('pay-done');
        finished = true;
        break;
      case 'CLOSED':
        $('pay-expired-text').textContent = '订单已关闭，未支付 · The order was closed unpaid.';
        show('pay-expired');
        break;
      case 'REVIEW':
        show('pay-review');
        finished = true;
        break;
    }
  }

  async function poll() {
    try {
      render(await cm.api('/sale/query_order?orderId=' + encodeURIComponent(orderId)));
      cm.say('pay-error', '');
    } catch (e) {
      if (e.code === '0003') return;
      if (e.status === 404 || e.status === 400) {
        cm.say('pay-error', '没有这个订单 · No such order.');
        return;
      }
      cm.say('pay-error', '暂时查不到订单状态，正在重试 · Could not check the order, retrying: ' + e.message);
    }
    if (finished) return;
    // A closed order is only paid late, rarely: look less often.
    setTimeout(poll, order && order.status === 'CLOSED' ? 5000 : 1000);
  }

  function tick() {
    if (!expireAt) return;
    const left = Math.max(0, Math.floor((expireAt - Date.now()) / 1000));
    const p = (n) => String(n).padStart(2, '0');
    $('countdown').textContent = p(Math.floor(left / 60)) + ':' + p(left % 60);
    if (expired() && order && (order.status === 'CREATED' || order.status === 'PAY_WAIT')) {
      render(order);
    }
  }

  $('reorder').addEventListener('click', async () => {
    if (!order) return;
    const button = $('reorder');
    button.disabled = true;
    try {
      const placed = await cm.api('/sale/place_order', {
        method: 'POST',
        form: { productId: String(order.productId) },
      });
      if (placed.orderId === orderId) {
        location.reload();
      } else {
        location.href = '/pay/' + encodeURIComponent(placed.orderId);
      }
    } catch (e) {
      if (e.code !== '0003') cm.say('pay-error', '下单失败 · Checkout failed: ' + e.message);
      button.disabled = false;
    }
  });

  // "I have paid": the server asks WeChat about this order now, and a payment it finds is
  // credited at once; the next poll (within a second) shows the quota.
  $('check-payment').addEventListener('click', async () => {
    const button = $('check-payment');
    button.disabled = true;
    try {
      const check = await cm.api('/sale/check_payment', { method: 'POST', form: { orderId } });
      const words = {
        paid: '已查到支付 · Payment found.',
        unpaid: '微信支付尚未收到付款，请稍后再试 · WeChat Pay has no payment yet; try again shortly.',
        closed: '订单已在微信支付关闭 · The order was closed at WeChat Pay.',
        unknown: '微信支付没有这个订单 · WeChat Pay does not know this order yet.',
        review: '支付待核实 · The payment is under review.',
        settled: '订单已处理 · The order is already settled.',
      };
      cm.say('check-result', words[check.found] || check.found);
      render(check.order);
    } catch (e) {
      if (e.code !== '0003') cm.say('check-result', e.message);
    } finally {
      // One check per few seconds is all the server takes; the button says so by waiting.
      setTimeout(() => { button.disabled = false; }, 3000);
    }
  });

  setInterval(tick, 1000);
  poll();
})();
