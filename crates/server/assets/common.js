// chatmall pages: what every page shares (the session token, API calls, the nav).
'use strict';
(function () {
  const TOKEN_KEY = 'chatmall.token';

  /** An API answer that is not `0000`. */
  class ApiError extends Error {
    constructor(info, code, status) {
      super(info);
      this.code = code;
      this.status = status;
    }
  }

  const cm = {
    ApiError,
    $: (id) => document.getElementById(id),
    token: () => localStorage.getItem(TOKEN_KEY),
    setToken: (token) => localStorage.setItem(TOKEN_KEY, token),
    clearToken: () => localStorage.removeItem(TOKEN_KEY),

    /** The `Authorization` header for this session (empty when logged out). */
    authHeaders() {
      const token = cm.token();
      return token ? { Authorization: 'Bearer ' + token } : {};
    },

    /** `/login?next=<this page>`. */
    loginUrl() {
      return '/login?next=' + encodeURIComponent(location.pathname + location.search);
    },

    /** Forget the session and go to the login page, coming back here afterwards. */
    toLogin() {
      cm.clearToken();
      location.replace(cm.loginUrl());
    },

    /** False (and off to the login page) when there is no session. */
    requireLogin() {
      if (cm.token()) return true;
      location.replace(cm.loginUrl());
      return false;
    },

    /**
     * A local path to go to after logging in: `next` resolved against this page as the
     * browser itself would (it drops tabs and newlines and reads `\\` as `/`, so `/\t/host`
     * is `//host`), kept only when it stays on this origin; anything else becomes `/`.
     */
    safeNext(next) {
      if (typeof next !== 'string' || next === '') return '/';
      let url;
      try {
        url = new URL(next, location.origin + '/');
      } catch (_) {
        return '/';
      }
      if (url.origin !== location.origin || url.username || url.password) return '/';
      const local = url.pathname + url.search + url.hash;
      return local.startsWith('//') ? '/' : local;
    },

    /**
     * Calls `/api/v1{path}`; resolves to the envelope's `data`. A token error (0003 / 401)
     * sends the browser to the login page unless `noRedirect`.
     */
    async api(path, { method = 'GET', form = null, noRedirect = false } = {}) {
      const init = { method, headers: cm.authHeaders() };
      if (form) {
        init.headers['Content-Type'] = 'application/x-www-form-urlencoded';
        init.body = new URLSearchParams(form).toString();
      }
      let response;
      try {
        response = await fetch('/api/v1' + path, init);
      } catch (e) {
        throw new ApiError('网络错误 network error: ' + e.message, 'NETWORK', 0);
      }
      let body = null;
      try {
        body = await response.json();
      } catch (_) {
        body = null;
      }
      if (response.status === 401 || (body && body.code === '0003')) {
        if (!noRedirect) cm.toLogin();
        throw new ApiError((body && body.info) || '请重新登录 please log in', '0003', 401);
      }
      if (!response.ok || !body || body.code !== '0000') {
        const info = (body && body.info) || 'HTTP ' + response.status;
        throw new ApiError(info, body && body.code, response.status);
      }
      return body.data;
    },

    /** A new element with its class and text (as text, never markup). */
    el(tag, className, text) {
      const node = document.createElement(tag);
      if (className) node.className = className;
      if (text !== undefined) node.textContent = text;
      return node;
    },

    /** Calls `/v1{path}` (OpenAI's API) with the session token; the parsed JSON answer,
     * or an ApiError with OpenAI's error message and code. */
    async v1(path, { method = 'GET', body = null } = {}) {
      const init = { method, headers: cm.authHeaders() };
      if (body) {
        init.headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(body);
      }
      const response = await fetch('/v1' + path, init);
      const answer = await response.json().catch(() => null);
      if (response.status === 401) {
        cm.toLogin();
        throw new ApiError('请重新登录 please log in', '0003', 401);
      }
      if (!response.ok) {
        const error = (answer && answer.error) || {};
        throw new ApiError(error.message || 'HTTP ' + response.status, error.code, response.status);
      }
      return answer;
    },

    /** Shows `text` in the element (hidden when empty). */
    say(id, text) {
      const el = cm.$(id);
      if (!el) return;
      el.textContent = text || '';
      el.hidden = !text;
    },

    /** Fen as yuan with two decimals (`amount` in JSON is a number: 9.90 would read 9.9). */
    yuan(fen) {
      const n = Number(fen) || 0;
      return Math.floor(n / 100) + '.' + String(n % 100).padStart(2, '0');
    },

    /** A time as local `YYYY-MM-DD HH:MM:SS`. */
    time(iso) {
      if (!iso) return '';
      const d = new Date(iso);
      if (isNaN(d)) return '';
      const p = (n) => String(n).padStart(2, '0');
      return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' +
        p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
    },

    /** Order statuses as people read them. */
    statusLabel(status) {
      return {
        CREATED: '待支付 Unpaid',
        PAY_WAIT: '待支付 Unpaid',
        PAID: '已支付，发放中 Paid, crediting',
        DELIVERED: '已到账 Delivered',
        PARTLY_REFUNDED: '部分退款 Partly refunded',
        REFUNDED: '已退款 Refunded',
        CLOSED: '已关闭 Closed',
        REVIEW: '待核实 Under review',
      }[status] || status;
    },
  };

  function nav() {
    const page = document.body.dataset.page;
    document.querySelectorAll('[data-nav]').forEach((a) => {
      if (a.dataset.nav === page) a.setAttribute('aria-current', 'page');
    });
    const loggedIn = !!cm.token();
    const login = cm.$('nav-login');
    const logout = cm.$('nav-logout');
    if (login) login.hidden = loggedIn;
    if (logout) {
      logout.hidden = !loggedIn;
      logout.addEventListener('click', () => {
        cm.clearToken();
        location.href = '/login';
      });
    }
  }

  window.chatmall = cm;
  document.addEventListener('DOMContentLoaded', nav);
})();
