// /login: exchange the official account's code for a session token.
'use strict';
(function () {
  const cm = window.chatmall;
  // The server checked `next` already (data-next); the page checks it again before use.
  const next = cm.safeNext(document.body.dataset.next || '/');
  const form = cm.$('login-form');
  const code = cm.$('code');
  code.focus();
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = code.value.trim();
    // Six digits, or (while someone is guessing) twelve letters and digits in groups.
    if (!/^\d{6}$/.test(value) && !/^[0-9A-Za-z]{12}$/.test(value.replace(/[\s-]/g, ''))) {
      cm.say('login-error', '验证码是 6 位数字或 12 位字母数字 · The code has 6 digits, or 12 letters and digits.');
      return;
    }
    cm.say('login-error', '');
    const button = cm.$('login-submit');
    button.disabled = true;
    try {
      const token = await cm.api('/auth/login', { method: 'POST', form: { code: value }, noRedirect: true });
      cm.setToken(token);
      location.replace(next);
    } catch (e) {
      const text = e.status === 429
        ? '尝试次数过多，请稍后再试 · Too many attempts, try again later.'
        : e.status === 400 && /longer/.test(e.message)
          ? '验证码已升级为 12 位，请向公众号重新获取 · Codes are longer now: ask the official account for a new one.'
          // A code the server does not know is 0003, as the original answered it.
          : e.code === '0003' || e.status === 400
            ? '验证码错误或已过期 · Wrong or expired code.'
            : '登录失败 · Login failed: ' + e.message;
      cm.say('login-error', text);
      button.disabled = false;
    }
  });
})();
