// /account: the balance (and a redemption code to add to it), the API keys (create — shown once —, list, revoke) and the newest
// chat calls with their tokens and charge.
'use strict';
(function () {
  const cm = window.chatmall;
  const { $, el } = cm;
  if (!cm.requireLogin()) return;

  const STATUS = {
    STARTED: '进行中 Running',
    OK: '完成 OK',
    FAILED: '中断 Broke off',
    CANCELLED: '已停止 Stopped',
    REFUNDED: '已退回 Refunded',
  };

  /** One cell per value: an element, or text (as text, never markup). */
  function cells(row, values) {
    for (const value of values) {
      const td = el('td');
      td.append(value);
      row.append(td);
    }
  }

  async function loadAccount() {
    const account = await cm.api('/account/query');
    $('balance').textContent = account.surplusQuota;
    $('total').textContent = account.totalQuota;
    $('account-models').textContent = (account.modelTypes || []).join(', ') || '—';
  }

  async function loadKeys() {
    const keys = await cm.api('/keys');
    const body = $('keys').querySelector('tbody');
    body.replaceChildren(...keys.map((key) => {
      const row = el('tr', key.revokedAt ? 'revoked' : '');
      row.dataset.keyId = key.id;
      let action = el('span', 'small', '已吊销 Revoked');
      if (!key.revokedAt) {
        action = el('button', 'link key-revoke', '吊销 Revoke');
        action.type = 'button';
        action.addEventListener('click', async () => {
          if (!confirm('吊销密钥「' + key.name + '」？ · Revoke this key?')) return;
          try {
            await cm.api('/keys/' + key.id, { method: 'DELETE' });
          } catch (e) {
            cm.say('key-error', '吊销失败 · Could not revoke: ' + e.message);
          }
          loadKeys();
        });
      }
      cells(row, [
        key.name,
        key.hint,
        key.quotaSpent + ' / ' + (key.quotaCap == null ? '∞' : key.quotaCap),
        key.models || '全部 all',
        key.lastUsedAt ? cm.time(key.lastUsedAt) : '—',
        action,
      ]);
      return row;
    }));
    $('keys-empty').hidden = keys.length > 0;
  }

  async function loadUsage() {
    const rows = await cm.api('/account/usage?limit=50');
    const body = $('usage').querySelector('tbody');
    body.replaceChildren(...rows.map((u) => {
      const row = el('tr');
      row.dataset.usageId = u.id;
      const tokens = u.promptTokens == null ? '—' : u.promptTokens + ' + ' + u.completionTokens;
      const charge = u.trial ? '试用 trial' : u.status === 'REFUNDED' ? '0（已退回 refunded）' : String(u.quotaSpent);
      cells(row, [cm.time(u.startedAt), u.model, STATUS[u.status] || u.status, tokens, charge]);
      return row;
    }));
    $('usage-empty').hidden = rows.length > 0;
  }

  $('redeem-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    cm.say('redeem-error', '');
    cm.say('redeem-done', '');
    $('redeem').disabled = true;
    try {
      const redeemed = await cm.api('/account/redeem', { method: 'POST', form: { code: $('redeem-code').value } });
      cm.say('redeem-done', '兑换成功 · Redeemed: +' + redeemed.quota + '（' + redeemed.modelTypes.join(', ') + '）');
      $('redeem-form').reset();
      await loadAccount();
    } catch (e) {
      if (e.code !== '0003') cm.say('redeem-error', '兑换失败 · Could not redeem: ' + e.message);
    } finally {
      $('redeem').disabled = false;
    }
  });

  $('base-url').textContent = location.origin + '/v1';
  $('key-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    cm.say('key-error', '');
    const form = { name: $('key-name').value.trim(), models: $('key-models').value.trim() };
    if ($('key-cap').value.trim()) form.quotaCap = $('key-cap').value.trim();
    $('key-create').disabled = true;
    try {
      const made = await cm.api('/keys', { method: 'POST', form });
      $('new-key').textContent = made.key;
      $('new-key-box').hidden = false;
      $('key-form').reset();
      await loadKeys();
    } catch (e) {
      cm.say('key-error', '创建失败 · Could not create the key: ' + e.message);
    } finally {
      $('key-create').disabled = false;
    }
  });
  $('copy-key').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText($('new-key').textContent);
      $('copy-key').textContent = '已复制 Copied';
    } catch (_) {
      $('copy-key').textContent = '请手动复制 Copy by hand';
    }
  });

  Promise.all([loadAccount(), loadKeys(), loadUsage()]).catch((e) => {
    if (e.code !== '0003') cm.say('account-error', '加载失败 · Could not load: ' + e.message);
  });
})();
