//! Configuration: defaults → `chatmall.toml` (optional) → `CHATMALL__SECTION__KEY`
//! environment variables. Every key is documented in the README.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

mod chat;
pub use chat::{
    BUILTIN_WORDS, BillingKind, ChatModelSettings, ChatSettings, ChatUpstreamSettings, ModelKind,
    TrialSettings, WordListSettings,
};

/// All settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub order: OrderSettings,
    pub wechatpay: WechatPaySettings,
    pub sandbox: SandboxSettings,
    pub jobs: JobSettings,
    pub officialaccount: OfficialAccountSettings,
    pub login: LoginSettings,
    pub redeem: RedeemSettings,
    pub admin: AdminSettings,
    pub chat: ChatSettings,
    /// `[trial]`: free calls for users who never bought.
    #[serde(default)]
    pub trial: TrialSettings,
    /// `[pages]`: what the web pages show.
    #[serde(default)]
    pub pages: PagesSettings,
    /// `[log]`: how the log is written.
    #[serde(default)]
    pub log: LogSettings,
    /// `[metrics]`: the Prometheus endpoint.
    #[serde(default)]
    pub metrics: MetricsSettings,
}

/// `[log]`: how the log is written (to stderr, filtered by `RUST_LOG`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct LogSettings {
    /// `text` (for people) or `json` (one object per line, for collectors).
    pub format: LogFormat,
}

/// The log's line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[metrics]`: `GET /metrics` in Prometheus' text format.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct MetricsSettings {
    /// Off: no `/metrics` anywhere.
    pub enabled: bool,
    /// `host:port` to serve `/metrics` on, apart from the shop (e.g. `127.0.0.1:9464` for
    /// a scraper on the same host); empty = on the shop's own port.
    pub listen: String,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: String::new(),
        }
    }
}

/// `[pages]`: what the web pages show.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct PagesSettings {
    /// The official account's QR code on the login page: an `http(s)://` URL or an
    /// absolute path served as it is (`/…`), or a local image file (PNG, JPEG, GIF, SVG)
    /// served by this process; empty = a placeholder.
    pub official_account_qr: String,
}

/// `[admin]`: the operators' console and API.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct AdminSettings {
    /// Bearer token for `/api/v1/admin/*` (automation; audited as `admin-token`); empty
    /// disables it. Operator accounts log in to the console at `/admin/login` regardless.
    pub token: Secret,
    /// How long a console session lives, in hours.
    pub session_hours: u32,
    /// Failed logins on one operator account from one address block within the window
    /// before that block is refused for that account.
    pub max_failures_per_account: u32,
    /// Failed operator logins from one address block within the window before it is refused.
    pub max_failures_per_address: u32,
    /// The failure window, in seconds.
    pub failure_window_secs: u64,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            token: Secret::default(),
            session_hours: 12,
            max_failures_per_account: 5,
            max_failures_per_address: 20,
            failure_window_secs: 900,
        }
    }
}

impl AdminSettings {
    /// The console's limits, checked.
    pub fn policy(&self) -> anyhow::Result<domain::service::ConsolePolicy> {
        anyhow::ensure!(
            (1..=24 * 30).contains(&self.session_hours),
            "admin.session_hours must be 1 to 720, got {}",
            self.session_hours
        );
        anyhow::ensure!(
            self.max_failures_per_account > 0 && self.max_failures_per_address > 0,
            "admin.max_failures_per_account and admin.max_failures_per_address must be > 0"
        );
        anyhow::ensure!(
            (1..=86_400).contains(&self.failure_window_secs),
            "admin.failure_window_secs must be 1 to 86400, got {}",
            self.failure_window_secs
        );
        Ok(domain::service::ConsolePolicy {
            failures_per_account: self.max_failures_per_account,
            failures_per_address: self.max_failures_per_address,
            window: chrono::Duration::seconds(self.failure_window_secs as i64),
            session_ttl: chrono::Duration::hours(i64::from(self.session_hours)),
        })
    }
}

/// `[server]`
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ServerSettings {
    /// Address to bind.
    pub host: String,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    /// The URL the outside world reaches this server at; empty = `http://{host}:{port}`.
    #[serde(deserialize_with = "text")]
    pub public_url: String,
    /// Where the embedded default keeps its files (SQLite database, generated keys).
    pub data_dir: PathBuf,
    /// This process's order-number node id (0–999), unique among processes sharing a database.
    pub node_id: u16,
    /// Origins allowed to call the API from their pages (CORS); `"*"` = any; empty = none.
    #[serde(default)]
    pub cors_allowed_origins: Vec<String>,
    /// Seconds a client has from the first byte of a request to the end of its headers
    /// (and to send a request body).
    pub header_timeout_secs: u64,
    /// Seconds a connection may stay open with no request in flight.
    pub idle_timeout_secs: u64,
    /// Connections open at once; 0 = half of the open-file limit left after a reserve.
    pub max_connections: usize,
}

impl ServerSettings {
    /// The connection limits, checked; `open_files` is the process's open-file limit.
    pub fn connection_limits(
        &self,
        open_files: Option<u64>,
    ) -> anyhow::Result<crate::serve::ConnectionLimits> {
        for (name, secs) in [
            ("header_timeout_secs", self.header_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
        ] {
            anyhow::ensure!(
                (1..=3_600).contains(&secs),
                "server.{name} must be 1 to 3600 seconds, got {secs}"
            );
        }
        let derived = crate::serve::ConnectionLimits::max_connections_for(open_files);
        let max_connections = match self.max_connections {
            0 => derived,
            n => {
                if n > derived {
                    tracing::warn!(
                        configured = n,
                        open_file_limit = ?open_files,
                        "server.max_connections is close to the open-file limit"
                    );
                }
                n
            }
        };
        Ok(crate::serve::ConnectionLimits {
            header_timeout: std::time::Duration::from_secs(self.header_timeout_secs),
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout_secs),
            max_connections,
        })
    }
}

/// `[database]`
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DatabaseSettings {
    /// `sqlite://…` or `postgres://…`; empty = a SQLite file in `data_dir`.
    pub url: Secret,
    /// Connections to open (PostgreSQL in all; SQLite for reads beside its one writer);
    /// 0 = 2 × CPU cores + 1.
    #[serde(default)]
    pub max_connections: u32,
    /// Create a missing SQLite database even though the data folder holds an earlier run's
    /// secrets (`chatmall serve --new-database`): only on purpose, after a loss.
    #[serde(default)]
    pub create_new: bool,
}

/// `[auth]`
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AuthSettings {
    /// HS256 secret for session tokens; empty = generated once and kept in `data_dir`.
    pub jwt_secret: Secret,
    /// Session lifetime in days.
    pub token_ttl_days: i64,
}

/// `[order]`
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct OrderSettings {
    /// How long an order may be paid, in seconds; also sent to WeChat as `time_expire`.
    pub ttl_secs: i64,
    /// How often a buyer may have one order checked with WeChat ("I have paid"), seconds.
    pub buyer_check_interval_secs: i64,
}

/// `sandbox` (the built-in WeChat Pay sandbox, offline) or `live` (api.mch.weixin.qq.com).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WechatPayMode {
    Sandbox,
    Live,
}

/// `[wechatpay]`
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WechatPaySettings {
    pub mode: WechatPayMode,
    /// API host; empty = WeChat's in live mode, this server itself in sandbox mode.
    #[serde(deserialize_with = "text")]
    pub base_url: String,
    #[serde(deserialize_with = "text")]
    pub appid: String,
    #[serde(deserialize_with = "text")]
    pub mchid: String,
    /// The merchant API certificate serial.
    #[serde(deserialize_with = "text")]
    pub merchant_serial_no: String,
    /// `apiclient_key.pem`.
    pub private_key_path: PathBuf,
    /// The 32-byte APIv3 key.
    pub apiv3_key: Secret,
    /// `PUB_KEY_ID_…` of the WeChat Pay public key (public-key mode).
    #[serde(deserialize_with = "text")]
    pub public_key_id: String,
    /// `pub_key.pem`.
    pub public_key_path: PathBuf,
    /// Where WeChat sends payment notifications; empty = `{public_url}/api/v1/sale/pay_notify`.
    pub notify_url: String,
    /// Milliseconds before a WeChat Pay call counts as "outcome unknown".
    pub timeout_ms: u64,
    /// Legacy mode (live): download WeChat Pay's platform certificates from
    /// `/v3/certificates` at start and every 12 hours, and trust them beside the public key.
    pub platform_certificates: bool,
}

impl WechatPaySettings {
    /// Live mode that (also) trusts the platform certificates from `/v3/certificates`.
    pub fn uses_platform_certificates(&self) -> bool {
        self.mode == WechatPayMode::Live && self.platform_certificates
    }
}

/// `[sandbox]`: the built-in WeChat Pay sandbox (mode = "sandbox").
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SandboxSettings {
    /// Where its key set lives; empty = `{data_dir}/sandbox-keys` (generated on first start).
    pub keys_dir: PathBuf,
    /// Multiplies the notification retry schedule (1.0 = WeChat's real 15 s, 15 s, 30 s, …).
    pub time_scale: f64,
    /// How it signs answers and notifications: `public_key` (WeChat's current mode),
    /// `platform_certificate` (merchants on certificates) or `both` (the migration period).
    #[serde(default)]
    pub signing: wechatpay_sandbox::SignatureMode,
}

/// `[jobs]`: background work (DESIGN.md §4). Intervals in ms, delays in seconds.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct JobSettings {
    /// How often the delivery relay looks for due outbox events when not woken.
    pub delivery_poll_ms: u64,
    /// How often the missed-payment job (掉单补偿) runs.
    pub missed_payment_interval_ms: u64,
    /// Unpaid orders older than this are queried at WeChat.
    pub missed_payment_delay_secs: u64,
    /// How often the expiry job (超时关单) runs.
    pub expiry_interval_ms: u64,
    /// How often the redelivery sweep (发货补偿) runs.
    pub redelivery_interval_ms: u64,
    /// PAID orders not delivered this long after payment are delivered again.
    pub redelivery_delay_secs: u64,
    /// How often the refund job runs, in ms.
    pub refund_check_interval_ms: u64,
    /// Refunds older than this (seconds) whose outcome is unknown are asked about.
    pub refund_check_delay_secs: u64,
    /// How often the daily reconciliation looks whether yesterday is due, in ms.
    pub reconciliation_interval_ms: u64,
    /// Orders (or events) a job round takes at most.
    pub batch: u64,
    /// How long a claim on an order or event lasts (a crashed worker's claim runs out).
    pub lease_secs: u64,
    /// An order whose checks failed this many times is reported as troubled.
    pub troubled_after_attempts: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            server: ServerSettings {
                host: "127.0.0.1".into(),
                port: 8080,
                public_url: String::new(),
                data_dir: PathBuf::from("./data"),
                node_id: 0,
                cors_allowed_origins: Vec::new(),
                header_timeout_secs: 10,
                idle_timeout_secs: 60,
                max_connections: 0,
            },
            database: DatabaseSettings {
                url: Secret::default(),
                max_connections: 0,
                create_new: false,
            },
            auth: AuthSettings {
                jwt_secret: Secret::default(),
                token_ttl_days: 7,
            },
            order: OrderSettings {
                ttl_secs: 1800,
                buyer_check_interval_secs: 5,
            },
            wechatpay: WechatPaySettings {
                mode: WechatPayMode::Sandbox,
                base_url: String::new(),
                appid: String::new(),
                mchid: String::new(),
                merchant_serial_no: String::new(),
                private_key_path: PathBuf::new(),
                apiv3_key: Secret::default(),
                public_key_id: String::new(),
                public_key_path: PathBuf::new(),
                notify_url: String::new(),
                timeout_ms: 10_000,
                platform_certificates: false,
            },
            sandbox: SandboxSettings {
                keys_dir: PathBuf::new(),
                time_scale: 1.0,
                signing: wechatpay_sandbox::SignatureMode::PublicKey,
            },
            officialaccount: OfficialAccountSettings {
                appid: String::new(),
                token: Secret::default(),
                encoding_aes_key: Secret::default(),
                mode: OfficialAccountMode::Safe,
                simulator: None,
            },
            login: LoginSettings {
                code_ttl_secs: 180,
                max_failures_per_prefix: 10,
                failure_window_secs: 600,
                long_codes: LongCodesSetting::UnderAttack,
                long_codes_after_failures: 20,
                long_codes_window_secs: 86_400,
                trust_forwarded_for: false,
            },
            redeem: RedeemSettings {
                max_failures: 10,
                failure_window_secs: 600,
            },
            jobs: JobSettings {
                delivery_poll_ms: 1000,
                missed_payment_interval_ms: 10_000,
                missed_payment_delay_secs: 60,
                expiry_interval_ms: 10_000,
                redelivery_interval_ms: 30_000,
                redelivery_delay_secs: 60,
                refund_check_interval_ms: 10_000,
                refund_check_delay_secs: 30,
                reconciliation_interval_ms: 900_000,
                batch: 100,
                lease_secs: 60,
                troubled_after_attempts: 5,
            },
            admin: AdminSettings::default(),
            chat: ChatSettings::default(),
            trial: TrialSettings::default(),
            pages: PagesSettings::default(),
            log: LogSettings::default(),
            metrics: MetricsSettings::default(),
        }
    }
}

impl Settings {
    /// Loads defaults, then `config_file` if it exists, then the environment.
    pub fn load(config_file: &Path) -> anyhow::Result<Self> {
        Self::figment(config_file)
            .extract()
            .map_err(|e| anyhow::anyhow!("configuration: {e}"))
    }

    /// The layered sources, exposed so tests can add their own on top.
    pub fn figment(config_file: &Path) -> Figment {
        Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file(config_file))
            .merge(Env::prefixed(ENV_PREFIX).split("__"))
    }

    /// Checks every value that can be checked without the outside world, naming the key of
    /// the first one out of range; the server does this before anything else at start.
    pub fn check(&self) -> anyhow::Result<()> {
        self.parse(None).map(|_| ())
    }

    /// The settings that have a type of their own, parsed once: what the wiring hands to
    /// each subsystem. `open_files` is the process's open-file limit, if known.
    pub fn parse(&self, open_files: Option<u64>) -> anyhow::Result<Parsed> {
        use anyhow::Context as _;
        anyhow::ensure!(
            self.server.node_id <= domain::order::MAX_NODE,
            "server.node_id must be 0..={}, got {}",
            domain::order::MAX_NODE,
            self.server.node_id
        );
        anyhow::ensure!(
            self.auth.token_ttl_days > 0 && self.auth.token_ttl_days <= 3650,
            "auth.token_ttl_days must be 1 to 3650, got {}",
            self.auth.token_ttl_days
        );
        anyhow::ensure!(
            (1..=3600).contains(&self.order.buyer_check_interval_secs),
            "order.buyer_check_interval_secs must be 1 to 3600, got {}",
            self.order.buyer_check_interval_secs
        );
        Ok(Parsed {
            order_ttl: domain::order::OrderTtl::from_secs(self.order.ttl_secs)
                .context("order.ttl_secs")?,
            buyer_check_gap: chrono::Duration::seconds(self.order.buyer_check_interval_secs),
            login: self.login.policy()?,
            redeem: self.redeem.policy()?,
            limits: self.server.connection_limits(open_files)?,
            chat: self.chat.rules(&self.trial)?,
            console: self.admin.policy()?,
        })
    }

    /// The database URL, defaulting to a SQLite file in the data dir.
    pub fn database_url(&self) -> String {
        let url = self.database.url.expose();
        if url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.server.data_dir.join("chatmall.db").display()
            )
        } else {
            url.to_owned()
        }
    }

    /// The sandbox's key directory.
    pub fn sandbox_keys_dir(&self) -> PathBuf {
        if self.sandbox.keys_dir.as_os_str().is_empty() {
            self.server.data_dir.join("sandbox-keys")
        } else {
            self.sandbox.keys_dir.clone()
        }
    }
}

/// The settings parsed into the types the flows take ([`Settings::parse`]).
#[derive(Debug, Clone)]
pub struct Parsed {
    pub order_ttl: domain::order::OrderTtl,
    pub buyer_check_gap: chrono::Duration,
    pub login: domain::service::LoginPolicy,
    pub redeem: domain::redemption::RedeemPolicy,
    pub limits: crate::serve::ConnectionLimits,
    pub chat: domain::service::ChatRules,
    pub console: domain::service::ConsolePolicy,
}

/// The environment prefix of every setting (`CHATMALL__SECTION__KEY`).
pub const ENV_PREFIX: &str = "CHATMALL__";

/// The environment variable of one setting: `env_key("wechatpay", "mchid")` is
/// `CHATMALL__WECHATPAY__MCHID`.
pub fn env_key(section: &str, key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}__{}",
        section.to_ascii_uppercase(),
        key.to_ascii_uppercase()
    )
}

/// Reads a text setting that may look like a number: environment values are parsed, so
/// `CHATMALL__WECHATPAY__MCHID=1900007291` arrives as an integer and must still be text.
pub fn text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Integer(i128),
        Float(f64),
        Bool(bool),
    }
    Ok(match Scalar::deserialize(deserializer)? {
        Scalar::Text(s) => s,
        Scalar::Integer(n) => n.to_string(),
        Scalar::Float(f) => f.to_string(),
        Scalar::Bool(b) => b.to_string(),
    })
}

/// Which official-account messages the portal accepts (公众号消息加解密方式).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OfficialAccountMode {
    /// 明文模式: plaintext only (the signature does not cover the body).
    Plain,
    /// 安全模式: encrypted only, `msg_signature` over the body.
    Safe,
    /// 兼容模式: both.
    Compatible,
}

/// `[officialaccount]`: the WeChat official account users log in through.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct OfficialAccountSettings {
    /// The account's appid; empty = generated once and kept in `data_dir` (offline default).
    pub appid: String,
    /// The server-config token (3–32 letters or digits); empty = generated like the appid.
    pub token: Secret,
    /// The 43-character EncodingAESKey; empty = generated like the appid.
    pub encoding_aes_key: Secret,
    pub mode: OfficialAccountMode,
    /// Serve the official-account simulator; unset = only in `wechatpay.mode = "sandbox"`.
    pub simulator: Option<bool>,
}

/// `[login]`: login codes and the limits on redeeming them.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LoginSettings {
    /// How long a login code is valid, in seconds.
    pub code_ttl_secs: i64,
    /// Failed logins one address block (IPv4 /24, IPv6 /48) may make per window before
    /// it gets 429 (others are not affected).
    #[serde(alias = "max_failures_per_ip")]
    pub max_failures_per_prefix: u32,
    /// The sliding window of the per-block limit, in seconds.
    pub failure_window_secs: u64,
    /// `under_attack` (codes turn long once failures pile up) or `always`.
    pub long_codes: LongCodesSetting,
    /// Failed logins of everyone within `long_codes_window_secs` that turn codes long.
    pub long_codes_after_failures: u32,
    /// The window of that count, in seconds (long codes stay this long after an attack).
    pub long_codes_window_secs: u64,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
}

/// `[redeem]`: the limit on failed redemption-code attempts, per user.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RedeemSettings {
    /// Failed redemptions a user may make per window before getting 429.
    pub max_failures: u32,
    /// The sliding window of that limit, in seconds.
    pub failure_window_secs: u64,
}

impl RedeemSettings {
    /// The limit, checked.
    pub fn policy(&self) -> anyhow::Result<domain::redemption::RedeemPolicy> {
        anyhow::ensure!(
            self.max_failures >= 1,
            "redeem.max_failures must be at least 1"
        );
        anyhow::ensure!(
            (1..=30 * 86_400).contains(&self.failure_window_secs),
            "redeem.failure_window_secs must be 1 to 2592000 seconds, got {}",
            self.failure_window_secs
        );
        Ok(domain::redemption::RedeemPolicy {
            max_failures: self.max_failures,
            failure_window: chrono::Duration::seconds(self.failure_window_secs as i64),
        })
    }
}

/// When login codes are long (twelve letters and digits instead of six digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LongCodesSetting {
    /// While failed logins are many (a guessing attack).
    UnderAttack,
    /// Always.
    Always,
}

impl LoginSettings {
    /// The rules of the login service, checked.
    pub fn policy(&self) -> anyhow::Result<domain::service::LoginPolicy> {
        use anyhow::Context as _;
        use domain::service::LongCodes;
        let ttl = domain::login_code::CodeTtl::from_secs(self.code_ttl_secs)
            .context("login.code_ttl_secs")?;
        let seconds = |name: &str, secs: u64| {
            anyhow::ensure!(
                (1..=30 * 86_400).contains(&secs),
                "login.{name} must be 1 to 2592000 seconds, got {secs}"
            );
            Ok(chrono::Duration::seconds(secs as i64))
        };
        let failure_window = seconds("failure_window_secs", self.failure_window_secs)?;
        let long_codes = match self.long_codes {
            LongCodesSetting::Always => LongCodes::Always,
            LongCodesSetting::UnderAttack => {
                anyhow::ensure!(
                    self.long_codes_after_failures > 0,
                    "login.long_codes_after_failures must be at least 1"
                );
                LongCodes::UnderAttack {
                    after_failures: self.long_codes_after_failures,
                    window: seconds("long_codes_window_secs", self.long_codes_window_secs)?,
                }
            }
        };
        Ok(domain::service::LoginPolicy {
            ttl,
            max_failures_per_prefix: self.max_failures_per_prefix,
            failure_window,
            long_codes,
        })
    }
}

/// A configured secret: never printed by `Debug`; read it with [`Secret::expose`].
#[derive(Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(#[serde(deserialize_with = "text")] String);

impl Secret {
    /// The secret's value, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether nothing was configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "<unset>"
        } else {
            "<redacted>"
        })
    }
}

#[cfg(test)]
// figment's Jail returns its own large error type; boxing it is not ours to do.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_file_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "chatmall.toml",
                "[order]\nttl_secs = 900\n[server]\nport = 9000\n",
            )?;
            jail.set_env("CHATMALL__SERVER__PORT", "9100");
            jail.set_env("CHATMALL__WECHATPAY__MODE", "live");
            let settings = Settings::load(Path::new("chatmall.toml")).expect("loads");
            assert_eq!(settings.order.ttl_secs, 900);
            assert_eq!(settings.server.port, 9100);
            assert_eq!(settings.wechatpay.mode, WechatPayMode::Live);
            assert_eq!(settings.auth.token_ttl_days, 7);
            Ok(())
        });
    }

    #[test]
    fn a_model_map_entry_changes_single_fields_of_the_built_in_one() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "chatmall.toml",
                "[chat.models.\"dall-e-3\"]\nupstream = \"openai\"\nprice = 5\n\
                 [chat.models.\"my-model\"]\nmodel = \"their-name\"\n\
                 [trial]\ncalls = 3\n",
            )?;
            jail.set_env("CHATMALL__TRIAL__MODELS", "chatglm_turbo");
            let settings = Settings::load(Path::new("chatmall.toml")).expect("loads");
            let dalle = &settings.chat.models["dall-e-3"];
            assert_eq!(dalle.upstream, "openai");
            assert_eq!(dalle.price, Some(5));
            assert_eq!(dalle.kind, ModelKind::Image, "kept from the built-in entry");
            assert_eq!(dalle.model, "dall-e-3");
            assert_eq!(settings.chat.models["my-model"].model, "their-name");
            assert_eq!(
                settings.chat.models["gpt-4"].model, "gpt-4o",
                "the rest stay"
            );
            assert_eq!((settings.trial.calls, settings.trial.period_hours), (3, 24));
            assert_eq!(settings.trial.models, "chatglm_turbo");
            Ok(())
        });
    }

    #[test]
    fn numeric_looking_ids_and_secrets_from_the_environment_stay_text() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("CHATMALL__WECHATPAY__MCHID", "1900007291");
            jail.set_env(
                "CHATMALL__WECHATPAY__MERCHANT_SERIAL_NO",
                "4081234567890123456789012345678901234567",
            );
            jail.set_env(
                "CHATMALL__WECHATPAY__APIV3_KEY",
                "12345678901234567890123456789012",
            );
            let settings = Settings::load(Path::new("absent.toml")).expect("loads");
            assert_eq!(settings.wechatpay.mchid, "1900007291");
            assert_eq!(
                settings.wechatpay.merchant_serial_no,
                "4081234567890123456789012345678901234567"
            );
            assert_eq!(
                settings.wechatpay.apiv3_key.expose(),
                "12345678901234567890123456789012"
            );
            Ok(())
        });
    }

    #[test]
    fn secrets_never_reach_debug_output() {
        let mut settings = Settings::default();
        settings.wechatpay.apiv3_key = Secret::from("0123456789abcdef0123456789abcdef".to_owned());
        let printed = format!("{settings:?}");
        assert!(!printed.contains("0123456789abcdef"), "{printed}");
        assert!(printed.contains("<redacted>"));
    }

    #[test]
    fn a_missing_file_is_fine_and_a_bad_value_is_named() {
        figment::Jail::expect_with(|jail| {
            assert!(Settings::load(Path::new("absent.toml")).is_ok());
            jail.set_env("CHATMALL__WECHATPAY__MODE", "prod");
            let error = Settings::load(Path::new("absent.toml"))
                .unwrap_err()
                .to_string();
            assert!(error.to_lowercase().contains("wechatpay.mode"), "{error}");
            Ok(())
        });
    }
}
