//! Login through the official account: the domain's login service wired to the store, the
//! system CSPRNG and a keyed hasher, plus what the portal and the login endpoint share.
//! HTTP lives in `http::portal` and `http::login`.

use crate::config::Settings;
use crate::officialaccount::OfficialAccount;
use crate::officialaccount::replay::ReplayGuard;
use aws_lc_rs::{aead, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use domain::login_code::{CodeDigest, CodeStrength, LoginCode, SealedCode};
use domain::ports::Clock;
use domain::ports::{CodeSource, CodeVault};
use domain::user::UserId;
use infra::store::SeaStore;
use std::sync::Arc;

/// Fresh codes from the system CSPRNG: short ones uniformly over 000000–999999, long ones
/// from 60 random bits.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsCodes;

impl CodeSource for OsCodes {
    fn fresh_code(&self, strength: CodeStrength) -> LoginCode {
        let mut bytes = [0u8; 8];
        loop {
            aws_lc_rs::rand::fill(&mut bytes).expect("the system CSPRNG works");
            let random = u64::from_be_bytes(bytes);
            match strength {
                CodeStrength::Long => return LoginCode::long_from_random(random),
                CodeStrength::Short => {
                    if let Some(code) = LoginCode::short_from_random(random as u32) {
                        return code;
                    }
                }
            }
        }
    }
}

/// The server keys of login codes, derived from the session secret (which every instance
/// sharing the database shares): HMAC-SHA-256 digests to look codes up by, and AES-256-GCM
/// to seal a copy for the user it was issued to. The database alone yields neither.
pub struct CodeKeys {
    digest: hmac::Key,
    seal: aead::LessSafeKey,
}

impl CodeKeys {
    /// The keys for `session_secret`.
    pub fn new(session_secret: &[u8]) -> Self {
        let root = hmac::Key::new(hmac::HMAC_SHA256, session_secret);
        let derive = |purpose: &[u8]| hmac::sign(&root, purpose);
        let digest = derive(b"chatmall login code digests v1");
        let seal = derive(b"chatmall login code seals v1");
        Self {
            digest: hmac::Key::new(hmac::HMAC_SHA256, digest.as_ref()),
            seal: aead::LessSafeKey::new(
                aead::UnboundKey::new(&aead::AES_256_GCM, seal.as_ref())
                    .expect("a SHA-256 tag is an AES-256 key"),
            ),
        }
    }
}

impl CodeVault for CodeKeys {
    fn digest(&self, code: &LoginCode) -> CodeDigest {
        CodeDigest::new(hex::encode(hmac::sign(
            &self.digest,
            code.as_str().as_bytes(),
        )))
    }

    fn seal(&self, code: &LoginCode, user: &UserId) -> SealedCode {
        let mut nonce = [0u8; aead::NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).expect("the system CSPRNG works");
        let mut sealed = code.as_str().as_bytes().to_vec();
        self.seal
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(user.as_str().as_bytes()),
                &mut sealed,
            )
            .expect("AES-GCM seals a short code");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        SealedCode::new(BASE64.encode(out))
    }

    fn open(&self, sealed: &SealedCode, user: &UserId) -> Option<LoginCode> {
        let bytes = BASE64.decode(sealed.as_str()).ok()?;
        if bytes.len() < aead::NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(aead::NONCE_LEN);
        let mut ciphertext = ciphertext.to_vec();
        let plain = self
            .seal
            .open_in_place(
                aead::Nonce::try_assume_unique_for_key(nonce).ok()?,
                aead::Aad::from(user.as_str().as_bytes()),
                &mut ciphertext,
            )
            .ok()?;
        LoginCode::parse(std::str::from_utf8(plain).ok()?).ok()
    }
}

/// The login service over the shared store.
pub type LoginService = domain::service::Login<SeaStore>;

/// Everything the portal and the login endpoint share.
#[derive(Debug)]
pub struct LoginDesk {
    /// Issues and redeems codes under the limits.
    pub service: LoginService,
    /// Take the client address from `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
    /// The official account messages come from.
    pub account: OfficialAccount,
    /// Binds plain-mode signatures to their first sender.
    pub replays: ReplayGuard,
}

impl LoginDesk {
    /// Login from settings over `store`, for `account`, with code keys from
    /// `session_secret`.
    pub fn new(
        settings: &Settings,
        policy: domain::service::LoginPolicy,
        store: SeaStore,
        account: OfficialAccount,
        session_secret: &[u8],
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let service = LoginService::new(
            Arc::new(store),
            Arc::new(CodeKeys::new(session_secret)),
            Arc::new(OsCodes),
            clock,
            policy,
        );
        Ok(Self {
            service,
            trust_forwarded_for: settings.login.trust_forwarded_for,
            account,
            replays: ReplayGuard::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_codes_have_their_strength_and_vary() {
        for strength in [CodeStrength::Short, CodeStrength::Long] {
            let codes: std::collections::HashSet<LoginCode> =
                (0..50).map(|_| OsCodes.fresh_code(strength)).collect();
            assert!(codes.iter().all(|c| c.strength() == strength));
            // 50 draws from 10^6 values or more: a repeat-only outcome means a broken source.
            assert!(codes.len() > 40, "{}", codes.len());
        }
    }

    #[test]
    fn digests_and_seals_are_keyed() {
        let code = LoginCode::parse("123456").unwrap();
        let alice = UserId::parse("oAlice").unwrap();
        let keys = CodeKeys::new(b"secret one");
        let one = keys.digest(&code);
        assert_eq!(one, CodeKeys::new(b"secret one").digest(&code));
        assert_ne!(one, CodeKeys::new(b"secret two").digest(&code));
        assert_eq!(one.as_str().len(), 64);
        assert!(!one.as_str().contains("123456"));

        let sealed = keys.seal(&code, &alice);
        assert!(!sealed.as_str().contains("123456"));
        assert_eq!(keys.open(&sealed, &alice), Some(code.clone()));
        // Sealed for one user, under one key: nobody else opens it.
        assert_eq!(keys.open(&sealed, &UserId::parse("oBob").unwrap()), None);
        assert_eq!(CodeKeys::new(b"secret two").open(&sealed, &alice), None);
        assert_ne!(keys.seal(&code, &alice), sealed, "a fresh nonce each time");
    }
}
