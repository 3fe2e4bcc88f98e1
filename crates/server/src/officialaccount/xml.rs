//! The official account's XML: reading a message's top-level fields, and writing replies
//! (text in CDATA, `]]>` split safely) with quick-xml.

use quick_xml::Reader;
use quick_xml::Writer;
use quick_xml::events::{BytesCData, BytesEnd, BytesStart, BytesText, Event};
use std::collections::HashMap;

/// The XML could not be read as an official-account message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("the body is not well-formed XML")]
    Malformed,
    #[error("the XML may not declare a DOCTYPE")]
    Doctype,
    #[error("the message has no {0}")]
    Missing(&'static str),
}

/// The text of each direct child of the root element (`<xml><Name>text</Name>…</xml>`).
/// Deeper elements are skipped; text and CDATA are joined and entities resolved.
pub fn fields(xml: &str) -> Result<HashMap<String, String>, XmlError> {
    let mut reader = Reader::from_str(xml);
    let mut depth = 0usize;
    let mut seen_root = false;
    let mut current: Option<(String, String)> = None;
    let mut out = HashMap::new();
    loop {
        let event = reader.read_event().map_err(|_| XmlError::Malformed)?;
        match event {
            Event::Start(start) => {
                depth += 1;
                if depth == 1 {
                    if seen_root {
                        return Err(XmlError::Malformed);
                    }
                    seen_root = true;
                } else if depth == 2 {
                    current = Some((name_of(&start)?, String::new()));
                }
            }
            Event::Empty(start) => {
                if depth == 0 {
                    seen_root = true;
                } else if depth == 1 {
                    out.insert(name_of(&start)?, String::new());
                }
            }
            Event::End(_) => {
                if depth == 2
                    && let Some((name, text)) = current.take()
                {
                    out.insert(name, text);
                }
                depth = depth.checked_sub(1).ok_or(XmlError::Malformed)?;
            }
            Event::Text(text) if depth == 2 => {
                if let Some((_, value)) = current.as_mut() {
                    value.push_str(&text.xml10_content());
                }
            }
            Event::CData(data) if depth == 2 => {
                if let Some((_, value)) = current.as_mut() {
                    value.push_str(&data.xml10_content());
                }
            }
            Event::GeneralRef(reference) if depth == 2 => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => quick_xml::escape::resolve_xml_entity(&reference.xml10_content())
                        .ok_or(XmlError::Malformed)?
                        .to_owned(),
                    Err(_) => return Err(XmlError::Malformed),
                };
                if let Some((_, value)) = current.as_mut() {
                    value.push_str(&resolved);
                }
            }
            // No DTD, so no entity expansion of any kind.
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root || depth != 0 {
        return Err(XmlError::Malformed);
    }
    Ok(out)
}

fn name_of(start: &BytesStart<'_>) -> Result<String, XmlError> {
    Ok(start.name().as_ref().to_owned())
}

/// A message from a follower, as far as login needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The official account's original id (`gh_…`).
    pub to_user: String,
    /// The follower's openid.
    pub from_user: String,
    /// `text`, `event`, `image`, …
    pub msg_type: String,
    /// The text of a `text` message.
    pub content: Option<String>,
    /// The event of an `event` message (`subscribe`, `unsubscribe`, …).
    pub event: Option<String>,
}

impl Inbound {
    /// Reads a (plaintext) message.
    pub fn parse(xml: &str) -> Result<Self, XmlError> {
        let mut fields = fields(xml)?;
        let mut take = |name: &'static str| fields.remove(name).ok_or(XmlError::Missing(name));
        Ok(Self {
            to_user: take("ToUserName")?,
            from_user: take("FromUserName")?,
            msg_type: take("MsgType")?,
            content: take("Content").ok(),
            event: take("Event").ok(),
        })
    }
}

/// Writes `<xml>…</xml>` with the given children; `cdata` ones go in CDATA sections.
fn document(children: &[(&str, &str, bool)]) -> String {
    let mut writer = Writer::new(Vec::new());
    let write = |writer: &mut Writer<Vec<u8>>| -> std::io::Result<()> {
        writer.write_event(Event::Start(BytesStart::new("xml")))?;
        for &(name, value, cdata) in children {
            writer.write_event(Event::Start(BytesStart::new(name)))?;
            if cdata {
                for section in BytesCData::escaped(value) {
                    writer.write_event(Event::CData(section))?;
                }
            } else {
                writer.write_event(Event::Text(BytesText::new(value)))?;
            }
            writer.write_event(Event::End(BytesEnd::new(name)))?;
        }
        writer.write_event(Event::End(BytesEnd::new("xml")))
    };
    write(&mut writer).expect("writing to a Vec cannot fail");
    String::from_utf8(writer.into_inner()).expect("the writer emits UTF-8 from UTF-8 input")
}

/// A passive text reply (被动回复文本消息).
pub fn text_message(to_user: &str, from_user: &str, create_time: i64, content: &str) -> String {
    document(&[
        ("ToUserName", to_user, true),
        ("FromUserName", from_user, true),
        ("CreateTime", &create_time.to_string(), false),
        ("MsgType", "text", true),
        ("Content", content, true),
    ])
}

/// A text message as a follower sends it (the simulator's side).
pub fn inbound_text(
    to_user: &str,
    from_user: &str,
    create_time: i64,
    content: &str,
    msg_id: u64,
) -> String {
    document(&[
        ("ToUserName", to_user, true),
        ("FromUserName", from_user, true),
        ("CreateTime", &create_time.to_string(), false),
        ("MsgType", "text", true),
        ("Content", content, true),
        ("MsgId", &msg_id.to_string(), false),
    ])
}

/// The safe-mode body WeChat posts: `<xml><ToUserName/><Encrypt/></xml>`.
pub fn encrypted_inbound(to_user: &str, encrypt: &str) -> String {
    document(&[("ToUserName", to_user, true), ("Encrypt", encrypt, true)])
}

/// The safe-mode reply: `<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>`.
pub fn encrypted_reply(encrypt: &str, msg_signature: &str, timestamp: &str, nonce: &str) -> String {
    document(&[
        ("Encrypt", encrypt, true),
        ("MsgSignature", msg_signature, true),
        ("TimeStamp", timestamp, false),
        ("Nonce", nonce, true),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_message_is_read_from_cdata_text_and_entities() {
        let xml = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName>\n\
                   <FromUserName><![CDATA[oUser]]></FromUserName>\
                   <CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType>\
                   <Content>a &amp; b &#x767b;<![CDATA[ <c> ]]></Content><MsgId>1</MsgId></xml>";
        let message = Inbound::parse(xml).unwrap();
        assert_eq!(message.to_user, "gh_1");
        assert_eq!(message.from_user, "oUser");
        assert_eq!(message.msg_type, "text");
        assert_eq!(message.content.as_deref(), Some("a & b 登 <c> "));
        assert_eq!(message.event, None);
    }

    #[test]
    fn bad_xml_is_refused() {
        assert_eq!(fields("not xml"), Err(XmlError::Malformed));
        assert_eq!(fields("<xml><a>1</b></xml>"), Err(XmlError::Malformed));
        assert_eq!(fields("<xml><a>1</a>"), Err(XmlError::Malformed));
        assert_eq!(
            fields("<!DOCTYPE x [<!ENTITY e \"boom\">]><xml><a>&e;</a></xml>"),
            Err(XmlError::Doctype)
        );
        assert_eq!(
            fields("<xml><a>&unknown;</a></xml>"),
            Err(XmlError::Malformed)
        );
        assert_eq!(
            Inbound::parse("<xml><ToUserName>x</ToUserName></xml>"),
            Err(XmlError::Missing("FromUserName"))
        );
    }

    #[test]
    fn replies_put_text_in_cdata_and_survive_a_round_trip() {
        let tricky = "code ]]> <b>&amp; 验证码";
        let xml = text_message("oUser", "gh_1", 1_700_000_000, tricky);
        assert!(
            xml.starts_with("<xml><ToUserName><![CDATA[oUser]]></ToUserName>"),
            "{xml}"
        );
        assert!(xml.contains("<CreateTime>1700000000</CreateTime>"), "{xml}");
        assert!(xml.contains("<MsgType><![CDATA[text]]></MsgType>"), "{xml}");
        let read = fields(&xml).unwrap();
        assert_eq!(read["Content"], tricky);
        assert_eq!(read["ToUserName"], "oUser");
        assert_eq!(read["FromUserName"], "gh_1");

        let reply = encrypted_reply("abc+/=", "sig", "1700000000", "n<1>");
        let read = fields(&reply).unwrap();
        assert_eq!(read["Encrypt"], "abc+/=");
        assert_eq!(read["Nonce"], "n<1>");
        assert_eq!(read["TimeStamp"], "1700000000");
    }
}
