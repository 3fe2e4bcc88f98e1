//! Safe mode (安全模式) message encryption, per WeChat's official-account spec:
//! AES-256-CBC with IV = key[0..16], WeChat's PKCS#7 padding to 32-byte blocks, and the
//! plaintext `random(16) ‖ msg_len (u32 BE) ‖ msg ‖ appid`, base64-encoded.
//!
//! Every failure is one opaque [`CryptoError`] kind towards the caller (no padding oracle);
//! `msg_signature` is checked before anything is decrypted anyway.

use aws_lc_rs::cipher::{
    AES_256, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;
use base64::Engine as _;
use base64::alphabet::STANDARD;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};

/// Length of an EncodingAESKey (43 base64 characters, 32 bytes).
pub const ENCODING_AES_KEY_LEN: usize = 43;
/// WeChat pads to multiples of this (not AES's 16).
const PAD_BLOCK: usize = 32;
const RANDOM_LEN: usize = 16;

/// WeChat's keys are 43 random base64 characters plus "=": the last character's low bits
/// need not be zero, which a strict decoder would refuse.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// The 32-byte AES key an EncodingAESKey stands for. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct AesKey([u8; 32]);

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesKey(<redacted>)")
    }
}

/// Why a message could not be encrypted or decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the EncodingAESKey must be 43 base64 characters")]
    BadKey,
    #[error("the encrypted message is not valid base64")]
    Base64,
    #[error("the encrypted message has a bad length")]
    Length,
    #[error("the encrypted message has bad padding")]
    Padding,
    #[error("the decrypted message has a bad layout")]
    Layout,
    #[error("the decrypted message is for another appid")]
    AppidMismatch,
    #[error("the cipher failed")]
    Cipher,
}

impl AesKey {
    /// The key from a configured EncodingAESKey: `base64_decode(key + "=")`, 32 bytes.
    pub fn from_encoding_aes_key(encoding_aes_key: &str) -> Result<Self, CryptoError> {
        let text = encoding_aes_key.trim();
        if text.len() != ENCODING_AES_KEY_LEN {
            return Err(CryptoError::BadKey);
        }
        let bytes = LENIENT
            .decode(format!("{text}="))
            .map_err(|_| CryptoError::BadKey)?;
        Ok(Self(bytes.try_into().map_err(|_| CryptoError::BadKey)?))
    }

    /// A fresh EncodingAESKey as the official-account console makes one: 43 characters of
    /// `[A-Za-z0-9]`.
    pub fn generate_encoding_aes_key() -> String {
        random_alphanumeric(ENCODING_AES_KEY_LEN)
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.0[..16]);
        iv
    }
}

/// `len` random characters of `[A-Za-z0-9]` from the system CSPRNG.
pub fn random_alphanumeric(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut byte = [0u8; 1];
        aws_lc_rs::rand::fill(&mut byte).expect("the system CSPRNG works");
        // 248 = 4 × 62: refusing the rest keeps every character equally likely.
        if byte[0] < 248 {
            out.push(char::from(ALPHABET[usize::from(byte[0] % 62)]));
        }
    }
    out
}

/// Encrypts `msg` for `appid` with fresh random bytes; base64.
pub fn encrypt(key: &AesKey, appid: &str, msg: &[u8]) -> Result<String, CryptoError> {
    let mut random = [0u8; RANDOM_LEN];
    aws_lc_rs::rand::fill(&mut random).map_err(|_| CryptoError::Cipher)?;
    encrypt_with_random(key, appid, msg, random)
}

/// Encrypts with the given leading random bytes (deterministic, for tests and vectors).
pub fn encrypt_with_random(
    key: &AesKey,
    appid: &str,
    msg: &[u8],
    random: [u8; RANDOM_LEN],
) -> Result<String, CryptoError> {
    let msg_len = u32::try_from(msg.len()).map_err(|_| CryptoError::Length)?;
    let mut buffer = Vec::with_capacity(RANDOM_LEN + 4 + msg.len() + appid.len() + PAD_BLOCK);
    buffer.extend_from_slice(&random);
    buffer.extend_from_slice(&msg_len.to_be_bytes());
    buffer.extend_from_slice(msg);
    buffer.extend_from_slice(appid.as_bytes());
    let pad = PAD_BLOCK - buffer.len() % PAD_BLOCK;
    let pad_byte = u8::try_from(pad).expect("1..=32 fits a byte");
    buffer.resize(buffer.len() + pad, pad_byte);
    let cipher = EncryptingKey::cbc(
        UnboundCipherKey::new(&AES_256, &key.0).map_err(|_| CryptoError::Cipher)?,
    )
    .map_err(|_| CryptoError::Cipher)?;
    cipher
        .less_safe_encrypt(
            &mut buffer,
            EncryptionContext::Iv128(FixedLength::from(key.iv())),
        )
        .map_err(|_| CryptoError::Cipher)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(buffer))
}

/// Decrypts a base64 `Encrypt` value and returns the message, checking that it names
/// `appid`.
pub fn decrypt(key: &AesKey, appid: &str, encrypted: &str) -> Result<Vec<u8>, CryptoError> {
    let mut buffer = base64::engine::general_purpose::STANDARD
        .decode(encrypted.trim())
        .map_err(|_| CryptoError::Base64)?;
    if buffer.is_empty() || buffer.len() % 16 != 0 {
        return Err(CryptoError::Length);
    }
    let cipher = DecryptingKey::cbc(
        UnboundCipherKey::new(&AES_256, &key.0).map_err(|_| CryptoError::Cipher)?,
    )
    .map_err(|_| CryptoError::Cipher)?;
    let plain = cipher
        .decrypt(
            &mut buffer,
            DecryptionContext::Iv128(FixedLength::from(key.iv())),
        )
        .map_err(|_| CryptoError::Cipher)?;
    let unpadded = unpad(plain)?;
    if unpadded.len() < RANDOM_LEN + 4 {
        return Err(CryptoError::Layout);
    }
    let len_bytes: [u8; 4] = unpadded[RANDOM_LEN..RANDOM_LEN + 4]
        .try_into()
        .expect("four bytes");
    let msg_len =
        usize::try_from(u32::from_be_bytes(len_bytes)).map_err(|_| CryptoError::Layout)?;
    let rest = &unpadded[RANDOM_LEN + 4..];
    if msg_len > rest.len() {
        return Err(CryptoError::Layout);
    }
    let (msg, from_appid) = rest.split_at(msg_len);
    if from_appid != appid.as_bytes() {
        return Err(CryptoError::AppidMismatch);
    }
    Ok(msg.to_vec())
}

/// Strips WeChat's PKCS#7 padding (block 32): the last byte n is 1..=32 and the last n
/// bytes all equal n.
fn unpad(plain: &[u8]) -> Result<&[u8], CryptoError> {
    let &last = plain.last().ok_or(CryptoError::Padding)?;
    let n = usize::from(last);
    if n == 0 || n > PAD_BLOCK || n > plain.len() {
        return Err(CryptoError::Padding);
    }
    let (body, padding) = plain.split_at(plain.len() - n);
    if padding.iter().any(|&b| b != last) {
        return Err(CryptoError::Padding);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const APPID: &str = "wx5823bf96d3bd56c7";
    /// 43 characters whose last one has non-zero low bits (a strict decoder refuses it).
    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    fn key() -> AesKey {
        AesKey::from_encoding_aes_key(KEY).unwrap()
    }

    /// Encrypts a raw block sequence with the same key and IV (no layout, no padding added).
    fn raw_encrypt(key: &AesKey, mut blocks: Vec<u8>) -> String {
        let cipher = EncryptingKey::cbc(UnboundCipherKey::new(&AES_256, &key.0).unwrap()).unwrap();
        cipher
            .less_safe_encrypt(
                &mut blocks,
                EncryptionContext::Iv128(FixedLength::from(key.iv())),
            )
            .unwrap();
        base64::engine::general_purpose::STANDARD.encode(blocks)
    }

    #[test]
    fn the_key_is_the_base64_of_the_encoding_key_plus_padding() {
        let key = key();
        // Independently: decode the first 40 characters (30 bytes, no trailing bits)…
        let head = base64::engine::general_purpose::STANDARD
            .decode(&KEY[..40])
            .unwrap();
        assert_eq!(&key.0[..30], head.as_slice());
        // …and "EFG=" carries the last 2 bytes: E=4, F=5, G=6 → 000100 000101 000110.
        assert_eq!(key.0[30..], [0b0001_0000, 0b0101_0001]);
        assert!(AesKey::from_encoding_aes_key("short").is_err());
        assert!(AesKey::from_encoding_aes_key(&"!".repeat(43)).is_err());
        assert!(!format!("{key:?}").contains("abc"));
    }

    #[test]
    fn encrypt_then_decrypt_round_trips() {
        let msg = "<xml><Content><![CDATA[登录 ]]> & <]]></Content></xml>".as_bytes();
        for len in [0, 1, 11, 12, 13, 44, 45, 300] {
            let msg = &msg.repeat(4)[..len.min(msg.len() * 4)];
            let sealed = encrypt(&key(), APPID, msg).unwrap();
            assert_eq!(decrypt(&key(), APPID, &sealed).unwrap(), msg, "len {len}");
        }
        // Fresh random bytes each time: the same message encrypts differently.
        assert_ne!(
            encrypt(&key(), APPID, b"same").unwrap(),
            encrypt(&key(), APPID, b"same").unwrap()
        );
    }

    #[test]
    fn a_vector_built_by_hand_decrypts_and_encrypts_to_the_same_bytes() {
        // The layout built independently of `encrypt`: 16 random bytes, length, message,
        // appid, then 32-byte PKCS#7.
        let random = *b"0123456789abcdef";
        let msg = b"<xml>hi</xml>";
        let mut plain = random.to_vec();
        plain.extend_from_slice(&13u32.to_be_bytes());
        plain.extend_from_slice(msg);
        plain.extend_from_slice(APPID.as_bytes());
        assert_eq!(plain.len(), 16 + 4 + 13 + 18);
        // 51 bytes → padded to 64 with 13 bytes of value 13.
        plain.extend(std::iter::repeat_n(13u8, 13));
        let vector = raw_encrypt(&key(), plain);
        assert_eq!(decrypt(&key(), APPID, &vector).unwrap(), msg);
        assert_eq!(
            encrypt_with_random(&key(), APPID, msg, random).unwrap(),
            vector
        );
    }

    #[test]
    fn a_whole_block_of_padding_is_used_when_already_aligned() {
        // 16 + 4 + 12 = 32: exactly one block, so a full 32-byte pad block follows.
        let random = [7u8; 16];
        let sealed = encrypt_with_random(&key(), "", b"twelve bytes", random).unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&sealed)
            .unwrap();
        assert_eq!(raw.len(), 64);
        assert_eq!(decrypt(&key(), "", &sealed).unwrap(), b"twelve bytes");
    }

    #[test]
    fn a_message_for_another_appid_is_refused() {
        let sealed = encrypt(&key(), "wx0000000000000000", b"<xml/>").unwrap();
        assert_eq!(
            decrypt(&key(), APPID, &sealed),
            Err(CryptoError::AppidMismatch)
        );
    }

    #[test]
    fn bad_padding_length_and_layout_are_refused() {
        let k = key();
        let block = |fill: u8, last: u8| {
            let mut b = vec![fill; 32];
            b[31] = last;
            b
        };
        // Pad byte 0, pad byte 33, and a pad run whose bytes disagree.
        assert_eq!(
            decrypt(&k, APPID, &raw_encrypt(&k, block(1, 0))),
            Err(CryptoError::Padding)
        );
        assert_eq!(
            decrypt(&k, APPID, &raw_encrypt(&k, block(1, 33))),
            Err(CryptoError::Padding)
        );
        assert_eq!(
            decrypt(&k, APPID, &raw_encrypt(&k, block(1, 4))),
            Err(CryptoError::Padding)
        );
        // Good padding, but the claimed message length runs past the end.
        let mut lying = vec![0u8; 16];
        lying.extend_from_slice(&1000u32.to_be_bytes());
        lying.extend(std::iter::repeat_n(12u8, 12));
        assert_eq!(
            decrypt(&k, APPID, &raw_encrypt(&k, lying)),
            Err(CryptoError::Layout)
        );
        // Too short for the header once unpadded.
        assert_eq!(
            decrypt(&k, APPID, &raw_encrypt(&k, vec![16u8; 16])),
            Err(CryptoError::Layout)
        );
        assert_eq!(decrypt(&k, APPID, "not base64!"), Err(CryptoError::Base64));
        assert_eq!(decrypt(&k, APPID, "AAAA"), Err(CryptoError::Length));
        assert_eq!(decrypt(&k, APPID, ""), Err(CryptoError::Length));
        // A different key garbles the padding (or, rarely, the layout): refused either way.
        let other = AesKey::from_encoding_aes_key(&"Z".repeat(43)).unwrap();
        let sealed = encrypt(&k, APPID, b"<xml/>").unwrap();
        assert!(decrypt(&other, APPID, &sealed).is_err());
    }

    #[test]
    fn generated_keys_are_43_alphanumerics_and_load() {
        let generated = AesKey::generate_encoding_aes_key();
        assert_eq!(generated.len(), 43);
        assert!(generated.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(AesKey::from_encoding_aes_key(&generated).is_ok());
    }
}
