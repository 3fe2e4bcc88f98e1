// A small markdown renderer for chat answers: paragraphs, headings, **bold**, *italic*,
// `inline code`, links and images (http and https only), fenced code blocks (highlighted)
// and lists. Every piece of text is HTML-escaped before any markup is added, so an answer
// can never inject markup or script.
'use strict';
(function (root) {
  function escapeHtml(text) {
    return text
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&#39;');
  }

  /** An http(s) URL as it may go into an attribute, or null. */
  function safeUrl(url) {
    return /^https?:\/\/[^\s"'<>`]+$/i.test(url) ? escapeHtml(url) : null;
  }

  /** Emphasis in already escaped text. */
  function emphasis(html) {
    return html
      .replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, '<strong>$1</strong>')
      .replace(/(^|[\s(（])\*(?=\S)([^*\n]*?\S)\*(?=$|[\s.,;:!?)，。；：！？）])/g, '$1<em>$2</em>');
  }

  /** Text with its images and links (`![alt](url)`, `[text](url)`), the rest escaped. */
  function linked(text) {
    const pattern = /(!?)\[([^\]\n]*)\]\(([^()\s]+)\)/g;
    let out = '';
    let at = 0;
    for (const match of text.matchAll(pattern)) {
      const url = safeUrl(match[3]);
      if (!url) continue;
      out += emphasis(escapeHtml(text.slice(at, match.index)));
      out += match[1]
        ? '<img src="' + url + '" alt="' + escapeHtml(match[2]) + '" loading="lazy">'
        : '<a href="' + url + '" target="_blank" rel="noopener noreferrer">' + emphasis(escapeHtml(match[2])) + '</a>';
      at = match.index + match[0].length;
    }
    return out + emphasis(escapeHtml(text.slice(at)));
  }

  /** One line's inline markup; code spans first, so nothing inside them is touched. */
  function inline(text) {
    return text
      .split(/(`[^`\n]+`)/)
      .map((part) => {
        if (part.length > 2 && part.startsWith('`') && part.endsWith('`')) {
          return '<code>' + escapeHtml(part.slice(1, -1)) + '</code>';
        }
        return linked(part);
      })
      .join('');
  }

  const KEYWORDS = new Set(('as async await break case catch class const continue def default defer '
    + 'del do elif else enum except export extends false fn for from func function go if impl import '
    + 'in interface is lambda let loop match mod mut new nil none null package pass pub raise return '
    + 'select self static struct super switch this throw trait true try type use var void where while '
    + 'with yield and or not int float str bool string char i32 i64 u32 u64 usize f64 '
    + 'insert into values update set delete create table drop alter join left right inner on group by '
    + 'order having limit distinct union all begin end then').split(' '));
  const HASH_COMMENTS = /^(py|python|sh|bash|shell|zsh|console|rb|ruby|ya?ml|toml|r|perl|pl|makefile|dockerfile|conf|ini)$/;
  const DASH_COMMENTS = /^(sql|lua|haskell|hs)$/;

  /** Escaped code of language `lang`, its comments, strings, numbers and keywords marked. */
  function highlight(code, lang) {
    lang = (lang || '').toLowerCase();
    const comments = HASH_COMMENTS.test(lang) ? ['#[^\\n]*']
      : DASH_COMMENTS.test(lang) ? ['--[^\\n]*']
        : ['//[^\\n]*', '/\\*[\\s\\S]*?(?:\\*/|$)'];
    const pattern = new RegExp([
      '(' + comments.join('|') + ')',
      '("(?:[^"\\\\\\n]|\\\\.)*"|\'(?:[^\'\\\\\\n]|\\\\.)*\'|`(?:[^`\\\\]|\\\\.)*`)',
      '(\\b(?:0x[0-9a-fA-F]+|\\d[\\d_]*(?:\\.\\d+)?(?:[eE][+-]?\\d+)?)\\b)',
      '([A-Za-z_][A-Za-z0-9_]*)',
    ].join('|'), 'g');
    let out = '';
    let at = 0;
    for (const match of code.matchAll(pattern)) {
      const [whole, comment, string, number, word] = match;
      const kind = comment ? 'c' : string ? 's' : number ? 'n'
        : word && KEYWORDS.has(word.toLowerCase()) ? 'k' : null;
      if (!kind) continue;
      out += escapeHtml(code.slice(at, match.index));
      out += '<span class="tok-' + kind + '">' + escapeHtml(whole) + '</span>';
      at = match.index + whole.length;
    }
    return out + escapeHtml(code.slice(at));
  }

  /** The HTML of `source`; an unclosed fence (an answer still streaming) is code so far. */
  function renderMarkdown(source) {
    const lines = String(source).replace(/\r\n?/g, '\n').split('\n');
    const out = [];
    let paragraph = [];
    let list = null; // { tag: 'ul' | 'ol', items: [] }

    const flushParagraph = () => {
      if (paragraph.length) out.push('<p>' + paragraph.map(inline).join('<br>') + '</p>');
      paragraph = [];
    };
    const flushList = () => {
      if (list) {
        out.push('<' + list.tag + '>' + list.items.map((i) => '<li>' + i.map(inline).join('<br>') + '</li>').join('') + '</' + list.tag + '>');
      }
      list = null;
    };
    const flush = () => {
      flushParagraph();
      flushList();
    };

    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      const fence = /^\s*(```+|~~~+)\s*([\w+#.-]*)/.exec(line);
      if (fence) {
        flush();
        const marker = fence[1];
        const code = [];
        i++;
        while (i < lines.length && !lines[i].trim().startsWith(marker)) {
          code.push(lines[i]);
          i++;
        }
        const lang = fence[2] ? ' class="language-' + escapeHtml(fence[2]) + '"' : '';
        out.push('<pre><code' + lang + '>' + highlight(code.join('\n'), fence[2]) + '</code></pre>');
        continue;
      }
      if (!line.trim()) {
        flush();
        continue;
      }
      const heading = /^(#{1,6})\s+(.*)$/.exec(line);
      if (heading) {
        flush();
        const level = Math.min(6, heading[1].length + 2);
        out.push('<h' + level + '>' + inline(heading[2]) + '</h' + level + '>');
        continue;
      }
      const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
      const numbered = /^\s*\d{1,9}[.)]\s+(.*)$/.exec(line);
      if (bullet || numbered) {
        flushParagraph();
        const tag = bullet ? 'ul' : 'ol';
        if (!list || list.tag !== tag) {
          flushList();
          list = { tag, items: [] };
        }
        list.items.push([(bullet || numbered)[1]]);
        continue;
      }
      if (list && /^\s+\S/.test(line)) {
        // An indented line continues the last list item.
        list.items[list.items.length - 1].push(line.trim());
        continue;
      }
      flushList();
      paragraph.push(line);
    }
    flush();
    return out.join('\n');
  }

  root.renderMarkdown = renderMarkdown;
  root.highlightCode = highlight;
  root.escapeHtml = escapeHtml;
})(typeof window !== 'undefined' ? window : globalThis);
