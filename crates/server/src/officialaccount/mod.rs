//! The WeChat official account (公众号) side of login: its credentials, the message
//! protocol ([`signature`], safe-mode [`crypto`], [`xml`]), and the offline [`simulator`].

pub mod crypto;
pub mod replay;
pub mod signature;
pub mod simulator;
pub mod xml;

use crate::config::{OfficialAccountMode, Settings};
use anyhow::Context as _;
use crypto::AesKey;

/// The configured (or generated) official account. `Debug` hides the token and the key.
#[derive(Clone)]
pub struct OfficialAccount {
    appid: String,
    token: String,
    key: AesKey,
    mode: OfficialAccountMode,
}

impl std::fmt::Debug for OfficialAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfficialAccount")
            .field("appid", &self.appid)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl OfficialAccount {
    /// An account from explicit values (tests, tools).
    pub fn new(
        appid: &str,
        token: &str,
        encoding_aes_key: &str,
        mode: OfficialAccountMode,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            (1..=64).contains(&appid.len())
                && appid
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "officialaccount.appid must be 1 to 64 characters of [0-9A-Za-z_]"
        );
        // WeChat's own rule for the token: 3 to 32 letters or digits.
        anyhow::ensure!(
            (3..=32).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_alphanumeric()),
            "officialaccount.token must be 3 to 32 letters or digits"
        );
        let key = AesKey::from_encoding_aes_key(encoding_aes_key)
            .context("officialaccount.encoding_aes_key")?;
        Ok(Self {
            appid: appid.to_owned(),
            token: token.to_owned(),
            key,
            mode,
        })
    }

    /// The account from settings; values left empty are generated once and kept in the data
    /// dir (like the JWT secret), so the embedded default works offline.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let oa = &settings.officialaccount;
        let dir = settings.server.data_dir.join("officialaccount");
        let appid = if oa.appid.is_empty() {
            crate::secrets::load_or_generate(&dir.join("appid"), || {
                format!("wx{}", crypto::random_alphanumeric(16).to_ascii_lowercase())
            })?
        } else {
            oa.appid.clone()
        };
        let token = if oa.token.is_empty() {
            crate::secrets::load_or_generate(&dir.join("token"), || {
                crypto::random_alphanumeric(32)
            })?
        } else {
            oa.token.expose().to_owned()
        };
        let key = if oa.encoding_aes_key.is_empty() {
            crate::secrets::load_or_generate(
                &dir.join("encoding_aes_key"),
                AesKey::generate_encoding_aes_key,
            )?
        } else {
            oa.encoding_aes_key.expose().to_owned()
        };
        Self::new(&appid, &token, &key, oa.mode)
    }

    /// The appid in the portal URL and in encrypted messages.
    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// The shared token of the signatures.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The safe-mode key.
    pub fn key(&self) -> &AesKey {
        &self.key
    }

    /// Which message modes the portal accepts.
    pub fn mode(&self) -> OfficialAccountMode {
        self.mode
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn generated_credentials_are_made_once_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::default();
        settings.server.data_dir = dir.path().to_path_buf();
        let first = OfficialAccount::from_settings(&settings).unwrap();
        let again = OfficialAccount::from_settings(&settings).unwrap();
        assert_eq!(first.appid(), again.appid());
        assert_eq!(first.token(), again.token());
        assert_eq!(first.key(), again.key());
        assert!(first.appid().starts_with("wx"));
        let printed = format!("{first:?}");
        assert!(!printed.contains(first.token()), "{printed}");
    }

    #[test]
    // figment's Jail closure returns figment's (large) error type; not ours to shrink.
    #[allow(clippy::result_large_err)]
    fn the_sections_load_from_defaults_and_the_environment() {
        figment::Jail::expect_with(|jail| {
            let defaults = Settings::load(Path::new("absent.toml")).expect("loads");
            assert_eq!(defaults.officialaccount.mode, OfficialAccountMode::Safe);
            assert_eq!(defaults.officialaccount.simulator, None);
            assert_eq!(defaults.login.code_ttl_secs, 180);
            assert!(!defaults.login.trust_forwarded_for);

            jail.set_env("CHATMALL__OFFICIALACCOUNT__MODE", "compatible");
            jail.set_env("CHATMALL__OFFICIALACCOUNT__SIMULATOR", "false");
            jail.set_env("CHATMALL__OFFICIALACCOUNT__TOKEN", "123456");
            jail.set_env("CHATMALL__LOGIN__CODE_TTL_SECS", "60");
            jail.set_env("CHATMALL__LOGIN__TRUST_FORWARDED_FOR", "true");
            let settings = Settings::load(Path::new("absent.toml")).expect("loads");
            assert_eq!(
                settings.officialaccount.mode,
                OfficialAccountMode::Compatible
            );
            assert_eq!(settings.officialaccount.simulator, Some(false));
            assert_eq!(settings.officialaccount.token.expose(), "123456");
            assert_eq!(settings.login.code_ttl_secs, 60);
            assert!(settings.login.trust_forwarded_for);

            jail.set_env("CHATMALL__OFFICIALACCOUNT__MODE", "secret");
            let error = Settings::load(Path::new("absent.toml"))
                .unwrap_err()
                .to_string();
            assert!(
                error.to_lowercase().contains("officialaccount.mode"),
                "{error}"
            );
            Ok(())
        });
    }

    #[test]
    fn configured_values_are_checked() {
        let key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
        let mode = OfficialAccountMode::Safe;
        assert!(OfficialAccount::new("wx123", "token123", key, mode).is_ok());
        assert!(OfficialAccount::new("wx123", "to", key, mode).is_err());
        assert!(OfficialAccount::new("wx123", "token with spaces", key, mode).is_err());
        assert!(OfficialAccount::new("wx/../x", "token123", key, mode).is_err());
        let error = OfficialAccount::new("wx123", "token123", "short", mode).unwrap_err();
        assert!(
            format!("{error:#}").contains("encoding_aes_key"),
            "{error:#}"
        );
    }
}
