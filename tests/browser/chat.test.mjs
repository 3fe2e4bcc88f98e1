// The chat page on /v1 as people expect a chat product to be: conversations kept in the
// browser (new, rename, delete, kept over a reload), markdown with highlighted code and a
// copy button, stop, regenerate, the model picker from /v1/models, pictures inline, what
// each call cost and the balance; the account page with API keys and usage; a free-trial
// user; and both pages on a phone screen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, sharedBrowser, sessionToken, useToken, buy, shot, newPage as openPage, PHONE, fitsPhone,
} from './harness.mjs';

const chromium = sharedBrowser();

async function newPage(base, options = {}) {
  const { context, page, errors } = await openPage(chromium.browser, options);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  // Rename asks with prompt(), delete with confirm(): the user answers.
  page.on('dialog', (dialog) => dialog.accept(dialog.type() === 'prompt' ? '改过的名字 Renamed' : undefined));
  return { context, page, errors };
}

const answers = (page) => page.locator('#messages .msg-assistant');
const lastAnswer = (page) => answers(page).last();

/** Sends `text` and waits for its answer to end; the answer's element. */
async function ask(page, text) {
  const before = await answers(page).count();
  await page.fill('#prompt', text);
  await page.press('#prompt', 'Enter');
  await page.waitForFunction(
    (n) => document.querySelectorAll('#messages .msg-assistant[data-done="1"]').length > n
      && document.getElementById('stop').hidden,
    before,
  );
  return lastAnswer(page);
}

/** Waits until the last answer says what it cost. */
async function charged(page, pattern) {
  await lastAnswer(page).locator('.msg-meta').filter({ hasText: pattern }).waitFor();
}

test('conversations, markdown and code, stop, regenerate, pictures and the charge (desktop)', async () => {
  const server = await startServer('chat-ui');
  const { base } = server;
  const { context, page, errors } = await newPage(base);
  try {
    const token = await sessionToken(base, 'oBrowserChatUi');
    await buy(base, token, '1003');
    await useToken(page, base, token);
    await page.goto(base + '/chat');
    await page.locator('#quota').filter({ hasText: /^500$/ }).waitFor();
    // The picker is /v1/models: the package's models.
    const listed = await (await fetch(base + '/v1/models', { headers: { Authorization: 'Bearer ' + token } })).json();
    assert.deepEqual(await page.locator('#model option').allInnerTexts(), listed.data.map((m) => m.id));
    assert.ok(listed.data.some((m) => m.id === 'dall-e-3'));
    await page.selectOption('#model', 'gpt-4o-mini');

    // Markdown with a code block (the offline model quotes the question): highlighted, copyable.
    const code = 'def add(a, b):\n    return a + 1  # one more';
    let answer = await ask(page, '看这段代码:\n```python\n' + code + '\n```');
    await answer.locator('pre code.language-python .tok-k').first().waitFor();
    assert.deepEqual(await answer.locator('.tok-k').allInnerTexts(), ['def', 'return']);
    assert.deepEqual(await answer.locator('.tok-c').allInnerTexts(), ['# one more']);
    assert.deepEqual(await answer.locator('.tok-n').allInnerTexts(), ['1']);
    await answer.locator('pre .copy').click();
    await answer.locator('pre .copy').filter({ hasText: '已复制' }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), code);
    await charged(page, /本次消耗 1 额度/);
    assert.match(await lastAnswer(page).locator('.msg-meta').innerText(), /tokens \d+ \+ \d+/);
    await page.locator('#quota').filter({ hasText: /^499$/ }).waitFor();
    await shot(page, 'desktop-chat-code');

    // Regenerate: the last answer is asked again, in its place, and paid again.
    await page.click('#regenerate');
    await page.waitForFunction(() => document.getElementById('stop').hidden
      && document.querySelectorAll('#messages .msg-assistant[data-done="1"]').length === 1
      && document.getElementById('regenerate'));
    await charged(page, /本次消耗 1 额度/);
    await page.locator('#quota').filter({ hasText: /^498$/ }).waitFor();

    // Stop: the stream ends where it is; the caller pays for the call (per-call billing).
    await page.fill('#prompt', '请慢慢地说 '.repeat(30));
    await page.press('#prompt', 'Enter');
    await page.locator('.msg-assistant.streaming .msg-body p').waitFor();
    await page.click('#stop');
    await charged(page, /已停止 · Stopped.*本次消耗 1 额度/);
    const stopped = await lastAnswer(page).locator('.msg-body').innerText();
    assert.ok(stopped.length > 0 && !stopped.includes('请慢慢地说 '.repeat(30).trim()), stopped);
    await page.locator('#quota').filter({ hasText: /^497$/ }).waitFor();

    // A picture model answers inline.
    await page.selectOption('#model', 'dall-e-3');
    answer = await ask(page, '一只小熊猫');
    const img = answer.locator('.msg-body img');
    await img.waitFor();
    assert.match(await img.getAttribute('src'), /\/offline\/images\/[\w-]+\.svg$/);
    await page.waitForFunction(() => {
      const pictures = document.querySelectorAll('#messages .msg-assistant .msg-body img');
      const last = pictures[pictures.length - 1];
      return last && last.complete && last.naturalWidth > 0;
    });
    await shot(page, 'desktop-chat-image');

    // Conversations: a second one, renamed; the first deleted; all kept over a reload.
    assert.equal(await page.locator('#conversation-list .conversation').count(), 1);
    await page.click('#new-chat');
    assert.equal(await answers(page).count(), 0);
    await page.selectOption('#model', 'gpt-4o-mini');
    await ask(page, 'second conversation');
    assert.equal(await page.locator('#conversation-list .conversation').count(), 2);
    const current = page.locator('#conversation-list .conversation.current');
    assert.equal(await current.locator('.conv-open').innerText(), 'second conversation');
    await current.locator('.conv-rename').click();
    await current.locator('.conv-open').filter({ hasText: '改过的名字 Renamed' }).waitFor();
    const first = page.locator('#conversation-list .conversation:not(.current)');
    await first.locator('.conv-open').click();
    await page.locator('#messages .msg-user').filter({ hasText: '看这段代码' }).waitFor();
    assert.equal(await answers(page).count(), 3, 'the first conversation, as it was');
    await page.locator('#conversation-list .conversation.current .conv-delete').click();
    await page.waitForFunction(() => document.querySelectorAll('#conversation-list .conversation').length === 1);
    await page.reload();
    await page.locator('#conversation-list .conversation .conv-open').filter({ hasText: 'Renamed' }).waitFor();
    await page.locator('#messages .msg-user').filter({ hasText: 'second conversation' }).waitFor();
    await charged(page, /本次消耗 1 额度/);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});

test('the account page makes, lists and revokes API keys and shows the usage', async () => {
  const server = await startServer('account');
  const { base } = server;
  const { context, page, errors } = await newPage(base);
  try {
    const token = await sessionToken(base, 'oBrowserKeys');
    await buy(base, token, '1002');
    await useToken(page, base, token);
    await page.goto(base + '/account');
    await page.locator('#balance').filter({ hasText: /^100$/ }).waitFor();
    await page.locator('#keys-empty').waitFor();
    assert.equal(await page.locator('#base-url').innerText(), base + '/v1');

    await page.fill('#key-name', 'laptop');
    await page.fill('#key-cap', '5');
    await page.fill('#key-models', 'gpt-4o-mini');
    await page.click('#key-create');
    await page.locator('#new-key-box').waitFor();
    const key = await page.locator('#new-key').innerText();
    assert.match(key, /^sk-cm-/);
    const row = page.locator('#keys tbody tr').first();
    await row.filter({ hasText: 'laptop' }).waitFor();
    assert.ok(!(await page.locator('#keys').innerText()).includes(key.slice(10)), 'the list never shows the key');
    assert.match(await row.innerText(), /0 \/ 5/);

    // An OpenAI client uses the key.
    const call = await fetch(base + '/v1/chat/completions', {
      method: 'POST',
      headers: { Authorization: 'Bearer ' + key, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(call.status, 200, await call.text());
    await page.reload();
    await page.locator('#keys tbody tr').first().filter({ hasText: /1 \/ 5/ }).waitFor();
    await page.locator('#usage tbody tr').first().filter({ hasText: 'gpt-4o-mini' }).waitFor();
    assert.match(await page.locator('#usage tbody tr').first().innerText(), /完成 OK.*\d+ \+ \d+.*1/s);
    await page.locator('#balance').filter({ hasText: /^99$/ }).waitFor();
    await shot(page, 'desktop-account');

    await page.locator('#keys tbody tr').first().locator('.key-revoke').click();
    await page.locator('#keys tbody tr.revoked').filter({ hasText: '已吊销' }).waitFor();
    const refused = await fetch(base + '/v1/models', { headers: { Authorization: 'Bearer ' + key } });
    assert.equal(refused.status, 401);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});

test('a user who bought nothing chats on the free trial', async () => {
  const server = await startServer('trial', { CHATMALL__TRIAL__CALLS: '2' });
  const { base } = server;
  const { context, page, errors } = await newPage(base);
  try {
    await useToken(page, base, await sessionToken(base, 'oBrowserTrial'));
    await page.goto(base + '/chat');
    await page.locator('#quota').filter({ hasText: '免费试用' }).waitFor();
    assert.deepEqual(
      await page.locator('#model option').allInnerTexts(),
      ['chatglm_turbo', 'gpt-3.5-turbo', 'gpt-4o-mini'],
    );
    await ask(page, 'hello');
    await charged(page, /免费试用/);
    await ask(page, 'again');
    const refused = await ask(page, 'once more');
    await refused.locator('.error').filter({ hasText: '额度不足' }).waitFor();
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});

test('the chat and account pages fit a phone screen (390×844)', async () => {
  const server = await startServer('chat-phone');
  const { base } = server;
  const { context, page, errors } = await newPage(base, PHONE);
  const fits = (name) => fitsPhone(page, name);
  try {
    const token = await sessionToken(base, 'oBrowserChatPhone');
    await buy(base, token, '1002');
    await useToken(page, base, token);
    await page.goto(base + '/chat');
    await page.locator('#quota').filter({ hasText: /^100$/ }).waitFor();
    // The conversation list folds away behind a button.
    assert.equal(await page.locator('#conversations').isVisible(), false);
    await page.fill('#prompt', '代码:\n```js\nconst veryLongIdentifierName = "a string much wider than a phone screen";\n```');
    await page.locator('#send').tap();
    await page.waitForFunction(() => document.getElementById('stop').hidden
      && /veryLongIdentifierName/.test(document.querySelector('#messages .msg-assistant[data-done="1"] pre code')?.textContent));
    // The long line scrolls inside its block; the page does not widen.
    assert.ok(await page.evaluate(() => {
      const pre = document.querySelector('#messages .msg-assistant pre');
      return pre.scrollWidth > pre.clientWidth;
    }));
    await fits('chat-code');
    await page.locator('#toggle-list').tap();
    await page.locator('#conversations').waitFor();
    assert.equal(await page.locator('#conversation-list .conversation').count(), 1);
    await fits('chat-list');
    await page.locator('#new-chat').tap();
    assert.equal(await page.locator('#conversations').isVisible(), false);

    await page.goto(base + '/account');
    await page.locator('#usage tbody tr').first().waitFor();
    await fits('account');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});
