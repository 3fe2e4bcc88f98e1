// A small markdown renderer for chat answers: paragraphs, headings, **bold**, *italic*,
// `inline code`, fenced code blocks and lists. Every piece of text is HTML-escaped
// before any markup is added, so an answer can never inject markup or script.
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

  /** One line's inline markup; code spans first, so nothing inside them is touched. */
  function inline(text) {
    return text
      .split(/(`[^`\n]+`)/)
      .map((part) => {
        if (part.length > 2 && part.startsWith('`') && part.endsWith('`')) {
          return '<code>' + escapeHtml(part.slice(1, -1)) + '</code>';
        }
        return escapeHtml(part)
          .replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, '<strong>$1</strong>')
          .replace(/(^|[\s(（])\*(?=\S)([^*\n]*?\S)\*(?=$|[\s.,;:!?)，。；：！？）])/g, '$1<em>$2</em>');
      })
      .join('');
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
        out.push('<pre><code' + lang + '>' + escapeHtml(code.join('\n')) + '</code></pre>');
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
  root.escapeHtml = escapeHtml;
})(typeof window !== 'undefined' ? window : globalThis);
