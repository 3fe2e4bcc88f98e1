// /chat: conversations kept in this browser, answers streamed from /v1/chat/completions
// (OpenAI's chunks, the session token as the key), rendered as markdown with highlighted,
// copyable code; stop, regenerate, the model picker from /v1/models, and after each answer
// what the call cost and the balance left.
'use strict';
(function () {
  const cm = window.chatmall;
  const { $, el } = cm;
  if (!cm.requireLogin()) return;

  const MODEL_KEY = 'chatmall.model';
  /** Older turns are not sent past this, well inside the API's 64-message limit. */
  const MAX_HISTORY = 40;
  /** The most conversations kept; the oldest go first. */
  const MAX_CONVERSATIONS = 50;
  const toMall = { href: '/', text: '去商城购买 · Buy a package' };

  let store = null; // { active, list: [{ id, title, model, messages, updated }] }
  let storeKey = null;
  let account = null;
  let models = [];
  let running = null; // the AbortController of the answer being streamed

  // --- conversations, in localStorage per user -------------------------------------

  function load(openId) {
    storeKey = 'chatmall.conversations.' + openId;
    try {
      store = JSON.parse(localStorage.getItem(storeKey)) || null;
    } catch (_) {
      store = null;
    }
    if (!store || !Array.isArray(store.list)) store = { active: null, list: [] };
  }

  function save() {
    store.list.sort((a, b) => b.updated - a.updated);
    store.list = store.list.slice(0, MAX_CONVERSATIONS);
    try {
      localStorage.setItem(storeKey, JSON.stringify(store));
    } catch (_) {
      notice('浏览器存储已满，较早的对话未保存 · Browser storage is full.');
    }
  }

  const active = () => store.list.find((c) => c.id === store.active) || null;

  function newConversation() {
    const conversation = {
      id: Date.now().toString(36) + Math.random().toString(36).slice(2, 8),
      title: '新对话 New chat',
      model: $('model').value,
      messages: [],
      updated: Date.now(),
    };
    store.list.unshift(conversation);
    store.active = conversation.id;
    return conversation;
  }

  function drawList() {
    const list = $('conversation-list');
    list.replaceChildren(...store.list.map((c) => {
      const item = el('li', c.id === store.active ? 'conversation current' : 'conversation');
      item.dataset.id = c.id;
      const open = el('button', 'link conv-open', c.title);
      open.type = 'button';
      open.title = c.title;
      open.addEventListener('click', () => {
        if (running) return;
        store.active = c.id;
        save();
        drawAll();
        setList(false);
      });
      const rename = el('button', 'link conv-rename', '改名');
      rename.type = 'button';
      rename.title = '重命名 Rename';
      rename.addEventListener('click', () => {
        const title = prompt('对话名称 · Conversation name', c.title);
        if (title && title.trim()) {
          c.title = title.trim().slice(0, 60);
          save();
          drawList();
        }
      });
      const remove = el('button', 'link conv-delete', '删除');
      remove.type = 'button';
      remove.title = '删除 Delete';
      remove.addEventListener('click', () => {
        if (running && c.id === store.active) return;
        if (!confirm('删除这个对话？ · Delete this conversation?')) return;
        store.list = store.list.filter((x) => x.id !== c.id);
        if (store.active === c.id) store.active = store.list.length ? store.list[0].id : null;
        save();
        drawAll();
      });
      item.append(open, rename, remove);
      return item;
    }));
  }

  function setList(open) {
    $('chat-app').classList.toggle('list-open', open);
    $('toggle-list').setAttribute('aria-expanded', String(open));
  }

  // --- messages --------------------------------------------------------------------

  function notice(text, link) {
    const box = $('chat-notice');
    box.replaceChildren();
    box.hidden = !text;
    if (!text) return;
    box.append(document.createTextNode(text + ' '));
    if (link) {
      const a = el('a', '', link.text);
      a.href = link.href;
      box.append(a);
    }
  }

  /** Copy buttons on the code blocks of `body`. */
  function addCopyButtons(body) {
    body.querySelectorAll('pre').forEach((pre) => {
      if (pre.querySelector('.copy')) return;
      const button = el('button', 'copy', '复制 Copy');
      button.type = 'button';
      button.addEventListener('click', async () => {
        const code = pre.querySelector('code');
        try {
          await navigator.clipboard.writeText(code ? code.textContent : pre.textContent);
          button.textContent = '已复制 Copied';
        } catch (_) {
          button.textContent = '复制失败 Copy failed';
        }
        setTimeout(() => { button.textContent = '复制 Copy'; }, 1500);
      });
      pre.append(button);
    });
  }

  function render(body, markdown) {
    body.innerHTML = window.renderMarkdown(markdown); // escaped by the renderer
  }

  /** What a stored assistant message's meta says. */
  function metaText(meta) {
    if (!meta) return '';
    const parts = [];
    if (meta.stopped) parts.push('已停止 · Stopped');
    if (meta.trial) parts.push('免费试用 · Free trial call');
    else if (meta.charge != null) parts.push('本次消耗 ' + meta.charge + ' 额度 · Charged ' + meta.charge);
    if (meta.prompt != null) parts.push('tokens ' + meta.prompt + ' + ' + meta.completion);
    if (meta.error) parts.push(meta.error);
    return parts.join(' · ');
  }

  function bubble(message) {
    const div = el('div', 'msg msg-' + message.role);
    const body = el('div', 'msg-body');
    div.append(body);
    if (message.role === 'user') {
      body.textContent = message.content;
    } else {
      render(body, message.content);
      addCopyButtons(body);
      const meta = el('p', 'msg-meta small', metaText(message.meta));
      meta.hidden = !meta.textContent;
      div.append(meta);
      if (message.meta && message.meta.error) div.classList.add('msg-error');
      div.dataset.done = '1';
    }
    return div;
  }

  function drawMessages() {
    const conversation = active();
    const box = $('messages');
    box.replaceChildren(...(conversation ? conversation.messages.map(bubble) : []));
    const last = conversation && conversation.messages[conversation.messages.length - 1];
    if (last && last.role === 'assistant' && !running) {
      const again = el('button', 'link', '↻ 重新生成 Regenerate');
      again.type = 'button';
      again.id = 'regenerate';
      again.addEventListener('click', regenerate);
      box.lastChild.append(again);
    }
    if (box.lastChild) box.lastChild.scrollIntoView({ block: 'end' });
  }

  function drawAll() {
    const conversation = active();
    if (conversation && models.includes(conversation.model)) $('model').value = conversation.model;
    drawList();
    drawMessages();
  }

  function updateButtons() {
    $('send').hidden = !!running;
    $('stop').hidden = !running;
    $('send').disabled = !!running || models.length === 0;
  }

  // --- the account and the models --------------------------------------------------

  async function loadAccount() {
    try {
      account = await cm.api('/account/query');
    } catch (e) {
      if (e.code !== '0003') notice('查询额度失败 · Could not load your balance: ' + e.message);
      return null;
    }
    showBalance();
    return account;
  }

  /** The balance; for a user who bought nothing but has trial models, the trial. */
  function showBalance() {
    if (!account) return;
    const trial = account.totalQuota <= 0 && models.length > 0;
    $('quota').textContent = trial ? '免费试用 Trial' : account.surplusQuota;
  }

  async function loadModels() {
    try {
      models = (await cm.v1('/models')).data.map((m) => m.id);
    } catch (e) {
      if (e.code !== '0003') notice('查询模型失败 · Could not load the models: ' + e.message);
      models = [];
    }
    const select = $('model');
    const chosen = select.value || localStorage.getItem(MODEL_KEY);
    select.replaceChildren(...models.map((m) => {
      const option = el('option', '', m);
      option.value = m;
      return option;
    }));
    if (models.includes(chosen)) select.value = chosen;
    select.disabled = models.length === 0;
    showBalance();
    if (account && account.status && account.status !== 'USABLE') {
      notice('账户已冻结 · Your account is frozen.');
    } else if (models.length === 0) {
      notice('还没有可用的模型 · No models yet.', toMall);
    } else if (account && account.totalQuota > 0 && account.surplusQuota <= 0) {
      notice('额度已用完 · Your balance is used up.', toMall);
    } else {
      notice('');
    }
    updateButtons();
  }

  // --- one answer ------------------------------------------------------------------

  /** What a refusal before the stream means to the user. */
  function refusal(error) {
    if (error.status === 429) return { text: '额度不足 · Not enough quota: ' + error.message, link: toMall };
    if (error.status === 403 || error.status === 404) return { text: '无法使用此模型 · ' + error.message, link: toMall };
    if (error.status === 502 || error.status === 504) return { text: '模型服务暂不可用 · The model service failed: ' + error.message };
    return { text: '发送失败 · Failed: ' + error.message };
  }

  /** Says in the answer's place why there is none (not kept in the conversation). */
  function failed(div, text, link) {
    div.classList.remove('streaming');
    div.classList.add('msg-error');
    const p = el('p', 'error', text + ' ');
    if (link) {
      const a = el('a', '', link.text);
      a.href = link.href;
      p.append(a);
    }
    div.querySelector('.msg-body').append(p);
    div.dataset.done = '1';
  }

  /** Reads OpenAI's event stream: `onData(data)` for each `data:` payload. */
  async function readEvents(response, onData) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let data = [];
    const line = (text) => {
      if (text === '') {
        if (data.length) onData(data.join('\n'));
        data = [];
      } else if (text.startsWith('data:')) {
        data.push(text.slice(5).replace(/^ /, ''));
      }
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      const cut = buffer.endsWith('\r') ? buffer.length - 1 : buffer.length;
      const parts = buffer.slice(0, cut).split(/\r\n|\r|\n/);
      buffer = parts.pop() + buffer.slice(cut);
      parts.forEach(line);
    }
    buffer += decoder.decode();
    if (buffer) buffer.split(/\r\n|\r|\n/).forEach(line);
    line('');
  }

  /** The call's usage row once it has ended (a stopped call ends a moment later). */
  async function usageOf(callId) {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const rows = await cm.api('/account/usage?limit=20').catch(() => []);
      const row = rows.find((r) => String(r.id) === callId);
      if (row && row.status !== 'STARTED') return row;
      await new Promise((r) => setTimeout(r, 250));
    }
    return null;
  }

  /** Streams the model's answer to the conversation's last user message. */
  async function answer(conversation) {
    const model = $('model').value;
    conversation.model = model;
    localStorage.setItem(MODEL_KEY, model);
    const turn = conversation.messages.slice(-MAX_HISTORY).map((m) => ({ role: m.role, content: m.content }));
    const div = el('div', 'msg msg-assistant streaming');
    const body = el('div', 'msg-body');
    const meta = el('p', 'msg-meta small');
    meta.hidden = true;
    div.append(body, meta);
    $('messages').append(div);
    div.scrollIntoView({ block: 'end' });
    running = new AbortController();
    updateButtons();
    let text = '';
    let callId = null;
    let scheduled = false;
    let stopped = false;
    let error = null;
    const draw = () => {
      scheduled = false;
      render(body, text);
      div.scrollIntoView({ block: 'end' });
    };
    try {
      const response = await fetch('/v1/chat/completions', {
        method: 'POST',
        headers: Object.assign({ 'Content-Type': 'application/json' }, cm.authHeaders()),
        body: JSON.stringify({ model, messages: turn, stream: true, stream_options: { include_usage: true } }),
        signal: running.signal,
      });
      if (response.status === 401) {
        cm.toLogin();
        return;
      }
      if (!response.ok) {
        const refused = await response.json().catch(() => null);
        const e = (refused && refused.error) || {};
        const why = refusal({ status: response.status, message: e.message || 'HTTP ' + response.status });
        failed(div, why.text, why.link);
        return;
      }
      let done = false;
      await readEvents(response, (data) => {
        if (data === '[DONE]') {
          done = true;
          return;
        }
        let chunk;
        try {
          chunk = JSON.parse(data);
        } catch (_) {
          return;
        }
        if (chunk.error) {
          error = '回答中断 · The answer broke off: ' + chunk.error.message;
          return;
        }
        if (chunk.id) callId = chunk.id.replace(/^chatcmpl-/, '');
        const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
        if (delta && delta.content) {
          text += delta.content;
          if (!scheduled) {
            scheduled = true;
            requestAnimationFrame(draw);
          }
        }
      });
      if (!done && !error) error = '连接中断 · The connection closed early.';
    } catch (e) {
      if (e.name === 'AbortError') stopped = true;
      else error = '网络错误 · Network error: ' + e.message;
    } finally {
      running = null;
      updateButtons();
    }
    draw();
    if (text || error) {
      const message = { role: 'assistant', content: text, meta: { stopped, error } };
      conversation.messages.push(message);
      conversation.updated = Date.now();
      save();
      drawAll();
      if (callId) {
        const row = await usageOf(callId);
        if (row) {
          Object.assign(message.meta, {
            charge: row.quotaSpent,
            trial: row.trial,
            prompt: row.promptTokens,
            completion: row.completionTokens,
          });
          save();
          drawMessages();
        }
      }
    } else {
      div.remove();
    }
    loadAccount();
  }

  async function send(text) {
    let conversation = active();
    if (!conversation) conversation = newConversation();
    if (!conversation.messages.length) conversation.title = text.replace(/\s+/g, ' ').slice(0, 30);
    conversation.model = $('model').value;
    conversation.messages.push({ role: 'user', content: text });
    conversation.updated = Date.now();
    save();
    drawAll();
    await answer(conversation);
  }

  async function regenerate() {
    const conversation = active();
    if (!conversation || running) return;
    while (conversation.messages.length && conversation.messages[conversation.messages.length - 1].role === 'assistant') {
      conversation.messages.pop();
    }
    if (!conversation.messages.length) return;
    save();
    drawAll();
    await answer(conversation);
  }

  // --- wiring ----------------------------------------------------------------------

  $('chat-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = $('prompt').value.trim();
    if (!text || running || !$('model').value) return;
    $('prompt').value = '';
    send(text);
  });
  $('prompt').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $('chat-form').requestSubmit();
    }
  });
  $('stop').addEventListener('click', () => running && running.abort());
  $('new-chat').addEventListener('click', () => {
    if (running) return;
    newConversation();
    save();
    drawAll();
    setList(false);
    $('prompt').focus();
  });
  $('toggle-list').addEventListener('click', () => setList(!$('chat-app').classList.contains('list-open')));
  $('model').addEventListener('change', () => {
    localStorage.setItem(MODEL_KEY, $('model').value);
    const conversation = active();
    if (conversation) {
      conversation.model = $('model').value;
      save();
    }
  });

  (async function start() {
    const me = await loadAccount();
    if (!me) return;
    load(me.openId);
    await loadModels();
    drawAll();
  })();
})();
