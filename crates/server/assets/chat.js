// /chat: pick a granted model, stream the answer (SSE over fetch), show the quota left.
'use strict';
(function () {
  const cm = window.chatmall;
  const $ = cm.$;
  if (!cm.requireLogin()) return;

  const MODEL_KEY = 'chatmall.model';
  /** Older turns are dropped past this, well inside the API's 64-message limit. */
  const MAX_HISTORY = 40;
  let history = [];
  let busy = false;
  let account = null;

  function notice(text, link) {
    const box = $('chat-notice');
    box.replaceChildren();
    if (!text) {
      box.hidden = true;
      return;
    }
    box.append(document.createTextNode(text + ' '));
    if (link) {
      const a = document.createElement('a');
      a.href = link.href;
      a.textContent = link.text;
      box.append(a);
    }
    box.hidden = false;
  }

  const toMall = { href: '/', text: '去商城购买 · Buy a package' };

  async function loadAccount() {
    try {
      account = await cm.api('/account/query');
    } catch (e) {
      if (e.code !== '0003') notice('查询额度失败 · Could not load your quota: ' + e.message);
      return;
    }
    $('quota').textContent = account.surplusQuota;
    const select = $('model');
    const models = account.modelTypes || [];
    const chosen = select.value || localStorage.getItem(MODEL_KEY);
    select.replaceChildren(...models.map((m) => {
      const option = document.createElement('option');
      option.value = m;
      option.textContent = m;
      return option;
    }));
    if (models.includes(chosen)) select.value = chosen;
    select.disabled = models.length === 0;
    if (account.status && account.status !== 'USABLE') {
      notice('账户已冻结 · Your account is frozen.');
    } else if (models.length === 0) {
      notice('还没有可用的模型 · No models yet.', toMall);
    } else if (account.surplusQuota <= 0) {
      notice('额度已用完 · Your quota is used up.', toMall);
    } else {
      notice('');
    }
    updateSend();
  }

  function updateSend() {
    $('send').disabled = busy || !account || !(account.modelTypes || []).length;
  }

  function bubble(role, text) {
    const div = document.createElement('div');
    div.className = 'msg msg-' + role;
    const body = document.createElement('div');
    body.className = 'msg-body';
    if (role === 'user') body.textContent = text;
    div.append(body);
    $('messages').append(div);
    div.scrollIntoView({ block: 'end' });
    return div;
  }

  /** What a refusal before the stream means to the user. */
  function refusal(status, info) {
    if (status === 402) return { text: '额度不足 · Not enough quota. (' + info + ')', link: toMall };
    if (status === 403) return { text: '无法使用此模型 · Not allowed: ' + info, link: toMall };
    if (status === 502 || status === 504) return { text: '模型服务暂不可用 · The model service failed: ' + info };
    return { text: '发送失败 · Failed: ' + info };
  }

  function failed(div, text, link) {
    div.classList.add('msg-error');
    const body = div.querySelector('.msg-body');
    const p = document.createElement('p');
    p.className = 'error';
    p.textContent = text + ' ';
    if (link) {
      const a = document.createElement('a');
      a.href = link.href;
      a.textContent = link.text;
      p.append(a);
    }
    body.append(p);
  }

  /** Reads an event stream; `onEvent(name, data)` for each event. */
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let data = [];
    let name = '';
    const line = (text) => {
      if (text === '') {
        if (data.length) onEvent(name || 'message', data.join('\n'));
        data = [];
        name = '';
      } else if (text.startsWith(':')) {
        // a comment (keep-alive)
      } else {
        const colon = text.indexOf(':');
        const field = colon < 0 ? text : text.slice(0, colon);
        let value = colon < 0 ? '' : text.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'data') data.push(value);
        else if (field === 'event') name = value;
      }
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      // A CR at the very end may be half of a CRLF: keep it for the next chunk.
      const cut = buffer.endsWith('\r') ? buffer.length - 1 : buffer.length;
      const parts = buffer.slice(0, cut).split(/\r\n|\r|\n/);
      buffer = parts.pop() + buffer.slice(cut);
      parts.forEach(line);
    }
    buffer += decoder.decode();
    if (buffer) buffer.split(/\r\n|\r|\n/).forEach(line);
    line('');
  }

  async function send(text) {
    const model = $('model').value;
    if (!model) return;
    localStorage.setItem(MODEL_KEY, model);
    busy = true;
    updateSend();
    bubble('user', text);
    const answerDiv = bubble('assistant', '');
    answerDiv.classList.add('streaming');
    const body = answerDiv.querySelector('.msg-body');
    const turn = history.concat([{ role: 'user', content: text }]).slice(-MAX_HISTORY);
    let answer = '';
    let scheduled = false;
    const draw = () => {
      scheduled = false;
      body.innerHTML = window.renderMarkdown(answer); // escaped by the renderer
      answerDiv.scrollIntoView({ block: 'end' });
    };
    try {
      const response = await fetch('/api/v1/chat/completions', {
        method: 'POST',
        headers: Object.assign({ 'Content-Type': 'application/json' }, cm.authHeaders()),
        body: JSON.stringify({ model, messages: turn }),
      });
      const type = response.headers.get('Content-Type') || '';
      if (response.status === 401) {
        cm.toLogin();
        return;
      }
      if (!response.ok || !type.startsWith('text/event-stream')) {
        let info = 'HTTP ' + response.status;
        try {
          const envelope = await response.json();
          if (envelope.code === '0003') {
            cm.toLogin();
            return;
          }
          info = envelope.info || info;
        } catch (_) {
          // not JSON: keep the status
        }
        const why = refusal(response.status, info);
        failed(answerDiv, why.text, why.link);
        return;
      }
      let broke = null;
      let done = false;
      await readEvents(response, (name, data) => {
        if (name === 'error') {
          try {
            broke = JSON.parse(data).info || data;
          } catch (_) {
            broke = data;
          }
        } else if (data === '[DONE]') {
          done = true;
        } else if (!done) {
          answer += data;
          if (!scheduled) {
            scheduled = true;
            requestAnimationFrame(draw);
          }
        }
      });
      draw();
      if (broke) {
        failed(answerDiv, '回答中断 · The answer broke off: ' + broke);
      } else if (!done) {
        failed(answerDiv, '连接中断 · The connection closed early.');
      }
      if (answer) {
        history = turn.concat([{ role: 'assistant', content: answer }]);
      }
    } catch (e) {
      failed(answerDiv, '网络错误 · Network error: ' + e.message);
    } finally {
      answerDiv.classList.remove('streaming');
      answerDiv.dataset.done = '1';
      busy = false;
      updateSend();
      loadAccount();
    }
  }

  $('chat-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = $('prompt').value.trim();
    if (!text || busy) return;
    $('prompt').value = '';
    send(text);
  });
  $('prompt').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $('chat-form').requestSubmit();
    }
  });
  $('new-chat').addEventListener('click', () => {
    history = [];
    $('messages').replaceChildren();
  });

  loadAccount();
})();
