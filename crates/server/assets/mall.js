// /: buy a package (place the order, then go to its pay page).
'use strict';
(function () {
  const cm = window.chatmall;
  document.querySelectorAll('button.buy').forEach((button) => {
    button.addEventListener('click', async () => {
      if (!cm.token()) {
        location.href = '/login?next=' + encodeURIComponent('/');
        return;
      }
      cm.say('mall-error', '');
      button.disabled = true;
      try {
        const order = await cm.api('/sale/place_order', {
          method: 'POST',
          form: { productId: button.dataset.productId },
        });
        location.href = '/pay/' + encodeURIComponent(order.orderId);
      } catch (e) {
        if (e.code !== '0003') cm.say('mall-error', '下单失败 · Checkout failed: ' + e.message);
        button.disabled = false;
      }
    });
  });
})();
