//! A Server-Sent Events parser (the WHATWG event-stream format) for upstream answers.
//!
//! Fed bytes as they arrive, split anywhere: lines end in LF, CRLF or CR (a CRLF split
//! across two chunks is one terminator); `data:` lines accumulate and a blank line
//! dispatches them joined with `\n`; comment lines (`:` keep-alives) and the `event:`,
//! `id:` and `retry:` fields are ignored, since OpenAI-compatible streams carry everything
//! in `data`.

/// The longest line accepted; a longer one means the peer is not speaking SSE.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One dispatched event: its `data` lines joined with `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub data: String,
}

/// The stream is not SSE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an event-stream line is longer than {MAX_LINE_BYTES} bytes")]
pub struct LineTooLong;

/// Incremental parser state.
#[derive(Debug, Default)]
pub struct SseParser {
    /// The start of a line whose end has not arrived yet.
    line: Vec<u8>,
    /// The data buffer: each `data` value followed by `\n`, as the spec builds it.
    data: String,
    has_data: bool,
    /// The previous byte was a CR, so an LF now completes a CRLF and is not a second line.
    after_cr: bool,
    /// A leading byte-order mark is dropped once.
    started: bool,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes; the events they complete, in order. Lines are found with
    /// `memchr` and read in place: only a line split across two feeds is copied.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, LineTooLong> {
        let mut events = Vec::new();
        let mut rest = bytes;
        if let Some(&first) = rest.first()
            && std::mem::take(&mut self.after_cr)
            && first == b'\n'
        {
            rest = &rest[1..];
        }
        while let Some(end) = memchr::memchr2(b'\n', b'\r', rest) {
            let (body, tail) = rest.split_at(end);
            if self.line.len() + body.len() > MAX_LINE_BYTES {
                return Err(LineTooLong);
            }
            if self.line.is_empty() {
                self.end_line(body, &mut events);
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(body);
                self.end_line(&line, &mut events);
                line.clear();
                self.line = line;
            }
            rest = match tail {
                [b'\r', b'\n', after @ ..] => after,
                [b'\r'] => {
                    self.after_cr = true;
                    &[]
                }
                [_, after @ ..] => after,
                [] => unreachable!("memchr2 found a line end"),
            };
        }
        if self.line.len() + rest.len() > MAX_LINE_BYTES {
            return Err(LineTooLong);
        }
        self.line.extend_from_slice(rest);
        Ok(events)
    }

    /// The end of the stream: an event still being collected is dispatched (lenient: some
    /// servers omit the final blank line).
    pub fn finish(&mut self) -> Option<SseEvent> {
        let mut events = Vec::new();
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.end_line(&line, &mut events);
        }
        self.end_line(b"", &mut events);
        events.pop()
    }

    fn end_line(&mut self, bytes: &[u8], events: &mut Vec<SseEvent>) {
        let decoded = String::from_utf8_lossy(bytes);
        let mut line: &str = &decoded;
        if !self.started {
            self.started = true;
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        if line.is_empty() {
            if self.has_data {
                let mut data = std::mem::take(&mut self.data);
                data.pop(); // the trailing `\n` the last data line added
                self.has_data = false;
                events.push(SseEvent { data });
            }
            return;
        }
        if line.starts_with(':') {
            return; // a comment: keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        if field == "data" {
            self.data.push_str(value);
            self.data.push('\n');
            self.has_data = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_at_once(input: &str) -> Vec<String> {
        let mut parser = SseParser::new();
        let mut events = parser.feed(input.as_bytes()).unwrap();
        events.extend(parser.finish());
        events.into_iter().map(|e| e.data).collect()
    }

    fn byte_by_byte(input: &str) -> Vec<String> {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        for byte in input.as_bytes() {
            events.extend(parser.feed(std::slice::from_ref(byte)).unwrap());
        }
        events.extend(parser.finish());
        events.into_iter().map(|e| e.data).collect()
    }

    /// Every way of feeding it gives the same events.
    fn parse(input: &str) -> Vec<String> {
        let whole = all_at_once(input);
        assert_eq!(whole, byte_by_byte(input), "byte by byte differs");
        for split in 0..=input.len() {
            let mut parser = SseParser::new();
            let mut events = parser.feed(&input.as_bytes()[..split]).unwrap();
            events.extend(parser.feed(&input.as_bytes()[split..]).unwrap());
            events.extend(parser.finish());
            let events: Vec<String> = events.into_iter().map(|e| e.data).collect();
            assert_eq!(whole, events, "split at {split} differs");
        }
        whole
    }

    #[test]
    fn data_lines_join_with_newlines_and_blank_lines_dispatch() {
        assert_eq!(
            parse("data: one\ndata:two\ndata:  three\n\ndata: [DONE]\n\n"),
            vec!["one\ntwo\n three", "[DONE]"]
        );
    }

    #[test]
    fn crlf_cr_and_lf_all_end_lines() {
        assert_eq!(
            parse("data: a\r\ndata: b\r\n\r\ndata: c\rdata: d\r\rdata: e\n\n"),
            vec!["a\nb", "c\nd", "e"]
        );
    }

    #[test]
    fn comments_and_other_fields_are_ignored() {
        assert_eq!(
            parse(": keep-alive\n\n:\nevent: delta\nid: 7\nretry: 10\ndata: x\n\n: ping\n\n"),
            vec!["x"]
        );
    }

    #[test]
    fn an_empty_data_line_is_an_empty_event_and_a_bare_blank_line_is_none() {
        assert_eq!(parse("\n\ndata\n\ndata:\n\n"), vec!["", ""]);
    }

    #[test]
    fn multibyte_text_survives_any_split() {
        assert_eq!(parse("data: 你好，世界 👋\n\n"), vec!["你好，世界 👋"]);
    }

    #[test]
    fn a_leading_bom_is_dropped_and_a_missing_final_blank_line_is_tolerated() {
        assert_eq!(parse("\u{feff}data: a\n\ndata: b"), vec!["a", "b"]);
    }

    #[test]
    fn error_objects_arrive_as_ordinary_data() {
        let events =
            parse("data: {\"choices\":[]}\n\ndata: {\"error\":{\"message\":\"boom\"}}\n\n");
        assert_eq!(events[1], r#"{"error":{"message":"boom"}}"#);
    }

    #[test]
    fn an_empty_feed_between_cr_and_lf_keeps_them_one_line_end() {
        let mut parser = SseParser::new();
        let mut events = parser.feed(b"data: a\r").unwrap();
        events.extend(parser.feed(b"").unwrap());
        events.extend(parser.feed(b"\ndata: b\r\n\r\n").unwrap());
        let data: Vec<String> = events.into_iter().map(|e| e.data).collect();
        assert_eq!(data, vec!["a\nb"]);
    }

    #[test]
    fn a_line_too_long_is_refused_whole_or_in_pieces() {
        let mut parser = SseParser::new();
        let mut long = vec![b'x'; MAX_LINE_BYTES + 1];
        long.push(b'\n');
        assert_eq!(parser.feed(&long), Err(LineTooLong));
        let mut parser = SseParser::new();
        parser.feed(&vec![b'x'; MAX_LINE_BYTES / 2 + 1]).unwrap();
        assert_eq!(
            parser.feed(&vec![b'x'; MAX_LINE_BYTES / 2 + 1]),
            Err(LineTooLong)
        );
        let mut parser = SseParser::new();
        let mut longest = vec![b'x'; MAX_LINE_BYTES];
        longest.extend_from_slice(b"\n\n");
        assert_eq!(parser.feed(&longest), Ok(Vec::new()));
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut parser = SseParser::new();
        assert_eq!(
            parser.feed(&vec![b'x'; MAX_LINE_BYTES + 1]),
            Err(LineTooLong)
        );
    }
}
