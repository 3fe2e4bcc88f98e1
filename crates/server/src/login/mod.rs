//! Login through the official account: the codes it hands out, redeemed for a session,
//! behind brute-force limits. HTTP lives in `http::portal` and `http::login`.

pub mod limiter;

use crate::config::Settings;
use crate::officialaccount::OfficialAccount;
use crate::officialaccount::replay::ReplayGuard;
use anyhow::Context as _;
use domain::login::{CodeSource, CodeTtl, LoginCode};
use infra::store::SeaStore;
use limiter::{FailureLimiter, Limits};
use std::time::Duration;

/// Fresh codes from the system CSPRNG, uniformly over 000000–999999.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsCodes;

impl CodeSource for OsCodes {
    fn fresh_code(&self) -> LoginCode {
        loop {
            let mut bytes = [0u8; 4];
            aws_lc_rs::rand::fill(&mut bytes).expect("the system CSPRNG works");
            if let Some(code) = LoginCode::from_random(u32::from_be_bytes(bytes)) {
                return code;
            }
        }
    }
}

/// Everything login needs, shared by the portal and the login endpoint.
#[derive(Debug)]
pub struct Login {
    /// The login-code store (shared by every instance).
    pub store: SeaStore,
    /// How long a code lives.
    pub ttl: CodeTtl,
    /// Failed-login limits (per instance).
    pub limiter: FailureLimiter,
    /// Take the client address from `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
    /// The official account messages come from.
    pub account: OfficialAccount,
    /// Binds plain-mode signatures to their first sender.
    pub replays: ReplayGuard,
}

impl Login {
    /// Builds login from settings over `store`.
    pub fn new(settings: &Settings, store: SeaStore) -> anyhow::Result<Self> {
        let ls = &settings.login;
        let ttl = CodeTtl::from_secs(ls.code_ttl_secs).context("login.code_ttl_secs")?;
        anyhow::ensure!(
            ls.failure_window_secs > 0,
            "login.failure_window_secs must be positive"
        );
        Ok(Self {
            store,
            ttl,
            limiter: FailureLimiter::new(Limits {
                per_ip: ls.max_failures_per_ip,
                global: ls.max_failures_global,
                window: Duration::from_secs(ls.failure_window_secs),
            }),
            trust_forwarded_for: ls.trust_forwarded_for,
            account: OfficialAccount::from_settings(settings)?,
            replays: ReplayGuard::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> = (0..50)
            .map(|_| OsCodes.fresh_code().as_str().to_owned())
            .collect();
        assert!(codes.iter().all(|c| LoginCode::parse(c).is_ok()));
        // 50 draws from 10^6 values: a repeat-only outcome means the source is broken.
        assert!(codes.len() > 40, "{}", codes.len());
    }
}
