// /orders: the caller's orders, newest first; unpaid ones link back to their pay page.
'use strict';
(function () {
  const cm = window.chatmall;
  if (!cm.requireLogin()) return;

  const el = cm.el;

  function row(list, label, value) {
    if (!value) return;
    list.append(el('dt', '', label), el('dd', '', value));
  }

  async function load() {
    let orders;
    try {
      orders = await cm.api('/sale/query_order_list');
    } catch (e) {
      if (e.code !== '0003') cm.say('orders-error', '查询订单失败 · Could not load orders: ' + e.message);
      return;
    }
    const box = cm.$('orders');
    box.replaceChildren();
    cm.$('orders-empty').hidden = orders.length > 0;
    for (const o of orders) {
      const card = el('article', 'card order');
      card.dataset.orderId = o.orderId;
      card.dataset.status = o.status;
      const head = el('div', 'order-head');
      head.append(
        el('strong', 'order-product', o.productName),
        el('span', 'status status-' + o.status, cm.statusLabel(o.status)),
      );
      const facts = el('dl', 'facts');
      row(facts, '订单号 Order', o.orderId);
      row(facts, '金额 Amount', '¥' + cm.yuan(o.amountFen));
      row(facts, '额度 Quota', o.quota + ' 次 chats');
      row(facts, '下单 Created', cm.time(o.createdAt));
      row(facts, '支付 Paid', cm.time(o.paidAt));
      row(facts, '到账 Delivered', cm.time(o.deliveredAt));
      row(facts, '关闭 Closed', cm.time(o.closedAt));
      card.append(head, facts);
      if ((o.status === 'CREATED' || o.status === 'PAY_WAIT') && o.codeUrl) {
        const pay = el('a', 'button pay-link', '去支付 · Pay');
        pay.href = '/pay/' + encodeURIComponent(o.orderId);
        row(facts, '截止 Pay by', cm.time(o.expireAt));
        card.append(pay);
      }
      box.append(card);
    }
  }

  load();
})();
