//! Sensitive words: lists matched in a prompt after folding away the usual evasions, each
//! list with its action (mask the words, or refuse the call before anything is spent).
//!
//! Both the words and the text are folded the same way, character by character: the
//! compatibility decomposition (NFKD, so full-width `ＡＢ` is `ab`, `①` is `1`, `é` is `e`
//! plus a mark), lower case, and everything that is not a letter or a digit dropped
//! (spaces, punctuation, symbols, combining marks, zero-width characters), so separators
//! inserted between the characters of a word do not hide it. What a word may not span, so
//! that ordinary text is not matched across words: a line break or the end of a sentence
//! (`。！？!?；;`), or more than [`MAX_SEPARATORS`] separators in a row; and a word in Latin
//! letters matches whole words only (`casino`, not the `…cca. Sino…` of "Mecca. Sino").
//! The folded text remembers which original character each of its characters came from,
//! so a match masks exactly the original span.

use aho_corasick::{AhoCorasick, MatchKind};

/// The most separators in a row a word may still be matched across (`c.a.s.i.n.o`, `赌 博`).
pub const MAX_SEPARATORS: usize = 2;
/// Stands in the folded text where a word may not continue; never part of a folded word.
const BARRIER: char = '\n';

/// What a list does when one of its words is in a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordAction {
    /// Replace each character of the matched span with `*` and go on (the original's way).
    Mask,
    /// Refuse the call; nothing is spent.
    Refuse,
}

impl WordAction {
    /// Parses `mask` or `refuse`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "mask" => Some(Self::Mask),
            "refuse" => Some(Self::Refuse),
            _ => None,
        }
    }
}

/// What screening a text found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screened {
    /// No listed word.
    Clean,
    /// Words of a mask list, replaced: the text to use instead.
    Masked(String),
    /// A word of a refuse list.
    Refused,
}

/// The word lists, compiled; screening is one pass per action over the folded text.
#[derive(Debug, Clone, Default)]
pub struct WordFilter {
    mask: Option<AhoCorasick>,
    refuse: Option<AhoCorasick>,
}

/// The word lists cannot be compiled.
#[derive(Debug, thiserror::Error)]
#[error("sensitive word lists: {0}")]
pub struct WordsError(String);

impl WordFilter {
    /// Compiles `(action, words)` lists; words that fold to nothing are ignored.
    pub fn new<I, W>(lists: I) -> Result<Self, WordsError>
    where
        I: IntoIterator<Item = (WordAction, W)>,
        W: IntoIterator,
        W::Item: AsRef<str>,
    {
        let (mut mask, mut refuse) = (Vec::new(), Vec::new());
        for (action, words) in lists {
            let into = match action {
                WordAction::Mask => &mut mask,
                WordAction::Refuse => &mut refuse,
            };
            into.extend(
                words
                    .into_iter()
                    .map(|w| Folded::of(w.as_ref()).text.replace(BARRIER, ""))
                    .filter(|w| !w.is_empty()),
            );
        }
        let build = |words: Vec<String>| -> Result<Option<AhoCorasick>, WordsError> {
            if words.is_empty() {
                return Ok(None);
            }
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(words)
                .map(Some)
                .map_err(|e| WordsError(e.to_string()))
        };
        Ok(Self {
            mask: build(mask)?,
            refuse: build(refuse)?,
        })
    }

    /// Whether any list holds a word.
    pub fn is_empty(&self) -> bool {
        self.mask.is_none() && self.refuse.is_none()
    }

    /// Screens `text`: a refuse-list word wins over masking.
    pub fn screen(&self, text: &str) -> Screened {
        self.screen_as(text, true)
    }

    /// Screens `text` that the client did not write itself (an earlier answer it sends
    /// back): words of every list are masked, none refuses the call.
    pub fn mask_only(&self, text: &str) -> Screened {
        self.screen_as(text, false)
    }

    fn screen_as(&self, text: &str, refusing: bool) -> Screened {
        if self.is_empty() {
            return Screened::Clean;
        }
        let folded = Folded::of(text);
        if refusing
            && let Some(refuse) = &self.refuse
            && refuse
                .find_iter(&folded.text)
                .any(|m| folded.whole(m.range()))
        {
            return Screened::Refused;
        }
        let lists = if refusing {
            [self.mask.as_ref(), None]
        } else {
            [self.mask.as_ref(), self.refuse.as_ref()]
        };
        let mut masked = vec![false; folded.chars.len()];
        let mut any = false;
        for list in lists.into_iter().flatten() {
            for found in list.find_iter(&folded.text) {
                if !folded.whole(found.range()) {
                    continue;
                }
                let first = folded.owner[found.start()];
                let last = folded.owner[found.end() - 1];
                masked[first..=last].iter_mut().for_each(|m| *m = true);
                any = true;
            }
        }
        if !any {
            return Screened::Clean;
        }
        let text = folded
            .chars
            .iter()
            .zip(masked)
            .map(|(&c, m)| if m { '*' } else { c })
            .collect();
        Screened::Masked(text)
    }
}

/// A text folded for matching, with each folded byte's original character.
struct Folded {
    text: String,
    /// For each byte of `text`, the index in `chars` of the character it came from.
    owner: Vec<usize>,
    chars: Vec<char>,
}

impl Folded {
    fn of(original: &str) -> Self {
        let chars: Vec<char> = original.chars().collect();
        let mut text = String::with_capacity(original.len());
        let mut owner = Vec::with_capacity(original.len());
        let mut separators = 0;
        for (index, &c) in chars.iter().enumerate() {
            let mut kept = false;
            unicode_normalization::char::decompose_compatible(c, |d| {
                if d.is_alphanumeric() {
                    for lower in d.to_lowercase() {
                        text.push(lower);
                        owner.resize(text.len(), index);
                    }
                    kept = true;
                }
            });
            if kept {
                separators = 0;
                continue;
            }
            separators += 1;
            if is_break(c) || separators == MAX_SEPARATORS + 1 {
                text.push(BARRIER);
                owner.resize(text.len(), index);
            }
        }
        Self { text, owner, chars }
    }

    /// Whether the match at `range` of the folded text stands as a whole word: a match in
    /// ASCII letters and digits must not touch an ASCII letter or digit on either side.
    fn whole(&self, range: std::ops::Range<usize>) -> bool {
        if !self.text[range.clone()].is_ascii() {
            return true;
        }
        let (first, last) = (self.owner[range.start], self.owner[range.end - 1]);
        let alnum = |i: Option<usize>| {
            i.and_then(|i| self.chars.get(i))
                .is_some_and(|c| c.is_ascii_alphanumeric())
        };
        !alnum(first.checked_sub(1)) && !alnum(last.checked_add(1))
    }
}

/// A character no word continues across: a line break or the end of a sentence.
fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '。' | '！' | '？' | '!' | '?' | '；' | ';')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(mask: &[&str], refuse: &[&str]) -> WordFilter {
        WordFilter::new([
            (WordAction::Mask, mask.to_vec()),
            (WordAction::Refuse, refuse.to_vec()),
        ])
        .unwrap()
    }

    #[test]
    fn chinese_and_mixed_text_is_masked_in_place() {
        let f = filter(&["赌博", "Casino"], &[]);
        assert_eq!(
            f.screen("哪里可以赌博？"),
            Screened::Masked("哪里可以**？".into())
        );
        assert_eq!(
            f.screen("online CASINO 和赌博网站"),
            Screened::Masked("online ****** 和**网站".into())
        );
        assert_eq!(f.screen("今天天气很好"), Screened::Clean);
    }

    #[test]
    fn evasions_are_folded_away() {
        let f = filter(&["赌博", "casino"], &[]);
        for (text, expected) in [
            // Separators between the characters, of every kind.
            ("赌 博", "***"),
            ("赌-博", "***"),
            ("赌\u{200b}博", "***"),
            ("赌，，博", "****"),
            ("c.a.s.i.n.o", "***********"),
            // Full-width letters and case.
            ("ＣＡＳＩＮＯ", "******"),
            ("CaSiNo", "******"),
            // A combining mark added to a letter, and a precomposed accent.
            ("ca\u{301}sino", "*******"),
            ("cásino", "******"),
        ] {
            assert_eq!(f.screen(text), Screened::Masked(expected.into()), "{text}");
        }
    }

    #[test]
    fn a_refuse_list_wins_and_lists_combine() {
        let f = filter(&["赌博"], &["毒品"]);
        assert_eq!(f.screen("赌博和毒 品"), Screened::Refused);
        assert_eq!(f.screen("赌博"), Screened::Masked("**".into()));
        assert!(WordFilter::default().is_empty());
        assert_eq!(WordFilter::default().screen("赌博"), Screened::Clean);
        // Words that fold to nothing are ignored rather than matching everywhere.
        assert!(filter(&["  ", "。"], &[]).is_empty());
    }

    #[test]
    fn ordinary_text_is_not_matched_across_words() {
        let f = filter(&["色情", "casino"], &[]);
        for text in [
            "红色。情人节",
            "红色\n情人节",
            "红色 ,,, 情人节",
            "Mecca. Sino-Japanese",
            "the casinos",
            "xcasino",
        ] {
            assert_eq!(f.screen(text), Screened::Clean, "{text}");
        }
        assert_eq!(
            f.screen("a casino, again"),
            Screened::Masked("a ******, again".into())
        );
        assert_eq!(f.screen("红色情人节"), Screened::Masked("红**人节".into()));
    }

    #[test]
    fn text_the_client_did_not_write_is_masked_never_refused() {
        let f = filter(&["赌博"], &["毒品"]);
        assert_eq!(f.mask_only("毒品和赌博"), Screened::Masked("**和**".into()));
        assert_eq!(f.screen("毒品和赌博"), Screened::Refused);
    }

    #[test]
    fn overlapping_words_mask_the_longest_span() {
        let f = filter(&["代开", "代开发票"], &[]);
        assert_eq!(
            f.screen("可代开发票吗"),
            Screened::Masked("可****吗".into())
        );
    }
}
