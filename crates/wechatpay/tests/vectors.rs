//! The official WeChat Pay vectors (`tests/vectors/`), reproduced byte for byte.

use serde_json::Value;
use std::path::PathBuf;
use wechatpay::aead::{ApiV3Key, DecryptError};
use wechatpay::keys::{PrivateKey, PublicKey};
use wechatpay::verify::{SignatureHeaders, Verifier, VerifyError};

/// The official vectors, kept in this repository (`tests/vectors/`: published test data of
/// WeChat Pay's docs and SDKs, copied unchanged), so every clone runs them.
fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn vectors() -> Vec<Value> {
    let text = std::fs::read_to_string(vectors_dir().join("vectors.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn vector(id: &str) -> Value {
    vectors()
        .into_iter()
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("vector {id} is listed"))
}

fn vector_file(name: &str) -> PathBuf {
    vectors_dir().join(name)
}

fn private_key(name: &str) -> PrivateKey {
    PrivateKey::from_pem_file(vector_file(name)).unwrap()
}

#[test]
fn every_signing_vector_reproduces_exactly() {
    let all = vectors();
    let mut checked = 0;
    for v in all.iter().filter(|v| v.get("key").is_some()) {
        let key = private_key(v["key"].as_str().unwrap());
        let signature = key.sign_base64(v["message"].as_str().unwrap().as_bytes());
        assert_eq!(
            signature,
            v["signature"].as_str().unwrap(),
            "vector {}",
            v["id"]
        );
        // And the key's own public half accepts it.
        key.public_key()
            .verify_base64(v["message"].as_str().unwrap().as_bytes(), &signature)
            .unwrap();
        checked += 1;
    }
    assert_eq!(checked, 5, "five signing vectors are listed");
}

#[test]
fn request_message_matches_the_documented_layout() {
    let v = vector("official_doc_request_sign_get_path");
    let message = wechatpay::signing::request_message(
        "GET",
        "/v3/refund/domestic/refunds/123123123123",
        1554208460,
        "593BEC0C930BF1AFEB40B4A08C8FB242",
        b"",
    );
    assert_eq!(message, v["message"].as_str().unwrap().as_bytes());
    let header = wechatpay::signing::MerchantSigner::new(
        "1900007291",
        "408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB",
        private_key("official_test_key.pem"),
    )
    .authorization_with(
        "GET",
        "/v3/refund/domestic/refunds/123123123123",
        b"",
        1554208460,
        "593BEC0C930BF1AFEB40B4A08C8FB242",
    );
    assert_eq!(
        header,
        format!(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"1900007291\",nonce_str=\"593BEC0C930BF1AFEB40B4A08C8FB242\",timestamp=\"1554208460\",serial_no=\"408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB\",signature=\"{}\"",
            v["signature"].as_str().unwrap()
        )
    );
}

fn pubkey_headers(v: &Value, signature: &str) -> (SignatureHeaders, Vec<u8>) {
    let message = v["message"].as_str().unwrap();
    let mut lines = message.splitn(3, '\n');
    let timestamp = lines.next().unwrap().to_owned();
    let nonce = lines.next().unwrap().to_owned();
    let body = lines
        .next()
        .unwrap()
        .strip_suffix('\n')
        .unwrap()
        .as_bytes()
        .to_vec();
    let headers = SignatureHeaders {
        timestamp,
        nonce,
        signature: signature.to_owned(),
        serial: v["serial"].as_str().unwrap().to_owned(),
        signature_type: "WECHATPAY2-SHA256-RSA2048".into(),
    };
    (headers, body)
}

#[test]
fn official_native_response_verifies_with_the_public_key() {
    let v = vector("official_doc_pubkey_response_verify_native");
    let key = PublicKey::from_pem_file(vector_file(v["pubkey"].as_str().unwrap())).unwrap();
    let verifier = Verifier::with_public_key(v["serial"].as_str().unwrap(), key);
    let (headers, body) = pubkey_headers(&v, v["signature"].as_str().unwrap());
    let now: i64 = headers.timestamp.parse().unwrap();
    verifier.verify(&headers, &body, now + 10).unwrap();

    // Inside the window on both sides, outside it at 300 s.
    assert_eq!(verifier.verify(&headers, &body, now - 299), Ok(()));
    assert_eq!(
        verifier.verify(&headers, &body, now + 300),
        Err(VerifyError::Stale { skew_secs: 300 })
    );
    // One changed body byte fails.
    let mut tampered = body.clone();
    tampered[5] ^= 1;
    assert_eq!(
        verifier.verify(&headers, &tampered, now),
        Err(VerifyError::BadSignature)
    );
    // An unknown serial, a wrong type and a probe signature fail for what they are.
    let mut other = headers.clone();
    other.serial = "PUB_KEY_ID_0000".into();
    assert!(matches!(
        verifier.verify(&other, &body, now),
        Err(VerifyError::UnknownSerial(_))
    ));
    let mut other = headers.clone();
    other.signature_type = "WECHATPAY2-SM2-WITH-SM3".into();
    assert!(matches!(
        verifier.verify(&other, &body, now),
        Err(VerifyError::SignatureType(_))
    ));
    // A hostile timestamp is refused as stale, without overflowing.
    let mut hostile = headers.clone();
    hostile.timestamp = i64::MIN.to_string();
    assert!(matches!(
        verifier.verify(&hostile, &body, now),
        Err(VerifyError::Stale { .. })
    ));
    let (probe, _) = pubkey_headers(&v, "WECHATPAY/SIGNTEST/abc");
    assert_eq!(
        verifier.verify(&probe, &body, now),
        Err(VerifyError::SignatureEncoding)
    );
}

#[test]
fn aes_gcm_vector_decrypts_and_every_tamper_fails() {
    let v = vector("java_aes_gcm");
    let key = ApiV3Key::new(v["apiv3_key"].as_str().unwrap()).unwrap();
    let (nonce, aad, ct) = (
        v["nonce"].as_str().unwrap(),
        v["associated_data"].as_str().unwrap(),
        v["ciphertext"].as_str().unwrap(),
    );
    assert_eq!(
        key.decrypt(nonce, aad, ct).unwrap(),
        v["plaintext"].as_str().unwrap().as_bytes()
    );
    assert_eq!(key.encrypt(nonce, aad, b"message").unwrap(), ct);

    assert_eq!(
        key.decrypt(nonce, "associatedDatA", ct),
        Err(DecryptError::Authentication)
    );
    assert_eq!(
        key.decrypt("uluk4a9R25RX", aad, ct),
        Err(DecryptError::Authentication)
    );
    let mut bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, ct).unwrap();
    bytes[0] ^= 0x01;
    let flipped = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes);
    assert_eq!(
        key.decrypt(nonce, aad, &flipped),
        Err(DecryptError::Authentication)
    );
    assert_eq!(
        key.decrypt("short", aad, ct),
        Err(DecryptError::NonceLength(5))
    );
    assert!(ApiV3Key::new("too short").is_err());
}

#[test]
fn generated_keys_round_trip_through_pem() {
    let key = PrivateKey::generate();
    let again = PrivateKey::from_pem(&key.to_pkcs8_pem()).unwrap();
    let public = PublicKey::from_pem(&key.public_key().to_pem()).unwrap();
    let signature = again.sign_base64(b"hello");
    public.verify_base64(b"hello", &signature).unwrap();
    assert_eq!(
        public.verify_base64(b"hellO", &signature),
        Err(VerifyError::BadSignature)
    );
    assert!(!format!("{key:?}").contains("PRIVATE"));
}
