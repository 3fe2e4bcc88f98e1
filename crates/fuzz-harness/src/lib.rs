//! The bodies of chatmall's fuzz targets: every parser of outside input, driven by
//! arbitrary bytes. `fuzz/` (cargo-fuzz, libFuzzer) calls these; `tests/corpus.rs` replays
//! the kept corpora through them on every `cargo test`, so a crash once found stays fixed.
//!
//! Each target checks what must hold whatever the input (a round trip, agreement between
//! two ways of reading), beyond not panicking.

use std::sync::OnceLock;
use wechatpay::aead::ApiV3Key;
use wechatpay::keys::PrivateKey;
use wechatpay::verify::{SignatureHeaders, Verifier, response_message};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus folder.
pub const TARGETS: &[(&str, Target)] = &[
    ("notification", notification),
    ("official_account", official_account),
    ("upstream_sse", upstream_sse),
    ("config", config),
];

const SERIAL: &str = "PUB_KEY_ID_0000000000000000000000000000000001";
const NOW: i64 = 1_800_000_000;

struct Wechat {
    key: PrivateKey,
    verifier: Verifier,
    apiv3: ApiV3Key,
}

fn wechat() -> &'static Wechat {
    static WECHAT: OnceLock<Wechat> = OnceLock::new();
    WECHAT.get_or_init(|| {
        let key = PrivateKey::generate();
        Wechat {
            verifier: Verifier::with_public_key(SERIAL, key.public_key()),
            key,
            apiv3: ApiV3Key::new("0123456789abcdef0123456789abcdef").expect("32 bytes"),
        }
    })
}

fn signed(body: &[u8]) -> SignatureHeaders {
    let nonce = "fuzzNonce0123456789abcdefghijklm".to_owned();
    let timestamp = NOW.to_string();
    SignatureHeaders {
        signature: wechat()
            .key
            .sign_base64(&response_message(&timestamp, &nonce, body)),
        timestamp,
        nonce,
        serial: SERIAL.to_owned(),
        signature_type: "WECHATPAY2-SHA256-RSA2048".to_owned(),
    }
}

/// A WeChat Pay notification: headers and body as sent (mode 0), a body signed with the
/// trusted key (mode 1: the envelope and the decryption are reached), or a resource
/// encrypted and signed properly (modes 2–4: the typed transaction or refund, and what the
/// shop makes of a transaction).
pub fn notification(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let wechat = wechat();
    match mode % 5 {
        0 => {
            let split = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            let (head, body) = (&rest[..split], rest.get(split + 1..).unwrap_or_default());
            let mut headers = reqwest::header::HeaderMap::new();
            for line in String::from_utf8_lossy(head).lines() {
                if let Some((name, value)) = line.split_once(':')
                    && let (Ok(name), Ok(value)) = (
                        reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()),
                        reqwest::header::HeaderValue::from_str(value.trim()),
                    )
                {
                    headers.append(name, value);
                }
            }
            if let Ok(parsed) = SignatureHeaders::from_headers(&headers) {
                let outcome = wechatpay::notify::parse_notification(
                    &wechat.verifier,
                    &wechat.apiv3,
                    &parsed,
                    body,
                    NOW,
                );
                assert!(outcome.is_err(), "an unsigned body was accepted");
            }
        }
        1 => {
            let _ = wechatpay::notify::parse_notification(
                &wechat.verifier,
                &wechat.apiv3,
                &signed(rest),
                rest,
                NOW,
            );
        }
        kind => {
            let (event, original) = match kind {
                2 => ("TRANSACTION.SUCCESS", "transaction"),
                3 => ("REFUND.SUCCESS", "refund"),
                _ => ("SOMETHING.NEW", "other"),
            };
            let nonce = "0123456789ab";
            let ciphertext = wechat
                .apiv3
                .encrypt(nonce, original, rest)
                .expect("encryption works");
            let body = serde_json::json!({
                "id": "EV-fuzz", "create_time": "2026-12-01T12:00:00+08:00",
                "resource_type": "encrypt-resource", "event_type": event, "summary": "fuzz",
                "resource": {"original_type": original, "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": ciphertext, "associated_data": original, "nonce": nonce}
            })
            .to_string();
            let parsed = wechatpay::notify::parse_notification(
                &wechat.verifier,
                &wechat.apiv3,
                &signed(body.as_bytes()),
                body.as_bytes(),
                NOW,
            );
            if let Ok(wechatpay::notify::Notification {
                resource: wechatpay::notify::NotificationResource::Transaction(tx),
                ..
            }) = parsed
            {
                if let Ok(Some(payment)) = infra::wechatpay_channel::confirmation_of(&tx) {
                    // What is kept of it parses back into the same transaction.
                    let again: wechatpay::model::Transaction =
                        serde_json::from_str(&payment.raw).expect("kept JSON parses");
                    assert_eq!(again.out_trade_no, tx.out_trade_no);
                }
                let _ = infra::wechatpay_channel::payment_state(&tx);
            }
        }
    }
}

/// An official-account message: plain XML (mode 0), a safe-mode `Encrypt` value (mode 1),
/// or a body sealed with the account's key, which must open to exactly itself (mode 2).
pub fn official_account(data: &[u8]) {
    use chatmall::officialaccount::{crypto, xml};
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    static KEY: OnceLock<crypto::AesKey> = OnceLock::new();
    let key = KEY.get_or_init(|| {
        crypto::AesKey::from_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
            .expect("a valid EncodingAESKey")
    });
    const APPID: &str = "wxfuzz0123456789";
    let text = String::from_utf8_lossy(rest);
    match mode % 3 {
        0 => {
            let _ = xml::fields(&text);
            let _ = xml::Inbound::parse(&text);
        }
        1 => {
            if let Ok(plain) = crypto::decrypt(key, APPID, &text) {
                let _ = xml::Inbound::parse(&String::from_utf8_lossy(&plain));
            }
            // A wrapped body: the outer XML's Encrypt field, as the portal reads it.
            if let Ok(fields) = xml::fields(&text)
                && let Some(encrypt) = fields.get("Encrypt")
            {
                let _ = crypto::decrypt(key, APPID, encrypt);
            }
        }
        _ => {
            let sealed = crypto::encrypt(key, APPID, rest).expect("sealing works");
            let opened = crypto::decrypt(key, APPID, &sealed).expect("our own seal opens");
            assert_eq!(opened, rest, "a sealed message opens to itself");
            assert!(crypto::decrypt(key, "wxanother", &sealed).is_err());
        }
    }
}

/// An upstream's event stream, fed in pieces the first byte sizes: the events must not
/// depend on where the stream was split, and each is read as the chat reads it.
pub fn upstream_sse(data: &[u8]) {
    use chatmall::chat::sse::SseParser;
    let Some((&piece, stream)) = data.split_first() else {
        return;
    };
    let piece = usize::from(piece).max(1);
    let mut whole = SseParser::new();
    let mut at_once = whole.feed(stream).ok();
    if let Some(events) = &mut at_once {
        events.extend(whole.finish());
    }
    let mut pieces = SseParser::new();
    let mut split = Some(Vec::new());
    for chunk in stream.chunks(piece) {
        match pieces.feed(chunk) {
            Ok(events) => split.as_mut().expect("not failed").extend(events),
            Err(_) => {
                split = None;
                break;
            }
        }
    }
    if let Some(events) = &mut split {
        events.extend(pieces.finish());
    }
    assert_eq!(
        at_once, split,
        "the events depend on how the stream was split"
    );
    for event in at_once.unwrap_or_default() {
        let _ = chatmall::chat::upstream::read_event(&event.data);
    }
}

/// A configuration file: parsed over the defaults, then checked as the server checks it at
/// start.
pub fn config(data: &[u8]) {
    use figment::providers::{Format, Serialized, Toml};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let loaded =
        figment::Figment::from(Serialized::defaults(chatmall::config::Settings::default()))
            .merge(Toml::string(text))
            .extract::<chatmall::config::Settings>();
    let Ok(settings) = loaded else {
        return;
    };
    let _ = settings.check();
    let _ = settings.server.connection_limits(Some(1024));
}
