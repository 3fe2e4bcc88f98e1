//! The key set of one sandbox merchant, written and read with the file names WeChat's
//! merchant platform uses, plus the (self-signed) X.509 certificates.

use anyhow::{Context, Result};
use chrono::{DateTime, Datelike, Duration as ChronoDuration, Utc};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;
use wechatpay::keys::{PrivateKey, PublicKey};

/// The merchant private key (PKCS#8), as WeChat names it.
pub const MERCHANT_KEY_FILE: &str = "apiclient_key.pem";
/// The merchant certificate, as WeChat names it.
pub const MERCHANT_CERT_FILE: &str = "apiclient_cert.pem";
/// The WeChat Pay public key, as WeChat names it.
pub const PUBLIC_KEY_FILE: &str = "pub_key.pem";
/// The sandbox's own signing key: WeChat's private half, which real WeChat never hands out.
pub const PLATFORM_KEY_FILE: &str = "sandbox_platform_key.pem";
/// The ids and the APIv3 key.
pub const CONFIG_FILE: &str = "sandbox.toml";

/// One merchant's credentials plus WeChat's side of the keys.
pub struct KeySet {
    /// Merchant id (`mchid`).
    pub mchid: String,
    /// The app id bound to the merchant.
    pub appid: String,
    /// Merchant certificate serial: 40 uppercase hex chars.
    pub merchant_serial_no: String,
    /// The merchant's private key (`apiclient_key.pem`).
    pub merchant_key: PrivateKey,
    /// The WeChat Pay public key id, `PUB_KEY_ID_` + digits.
    pub public_key_id: String,
    /// WeChat's signing key; its public half is the "WeChat Pay public key".
    pub platform_key: PrivateKey,
    /// The APIv3 key: 32 alphanumeric chars.
    pub apiv3_key: String,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The APIv3 key is a secret; keys redact themselves.
        f.debug_struct("KeySet")
            .field("mchid", &self.mchid)
            .field("appid", &self.appid)
            .field("merchant_serial_no", &self.merchant_serial_no)
            .field("public_key_id", &self.public_key_id)
            .field("apiv3_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Clone for KeySet {
    fn clone(&self) -> Self {
        // PrivateKey is not Clone; a PEM round trip is exact.
        Self {
            mchid: self.mchid.clone(),
            appid: self.appid.clone(),
            merchant_serial_no: self.merchant_serial_no.clone(),
            merchant_key: clone_key(&self.merchant_key),
            public_key_id: self.public_key_id.clone(),
            platform_key: clone_key(&self.platform_key),
            apiv3_key: self.apiv3_key.clone(),
        }
    }
}

/// A copy of a private key (through its PKCS#8 PEM).
pub fn clone_key(key: &PrivateKey) -> PrivateKey {
    PrivateKey::from_pem(&key.to_pkcs8_pem()).expect("a PKCS#8 PEM we wrote parses back")
}

/// `sandbox.toml`: everything but the keys, plus where the key files are.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ConfigFile {
    mchid: String,
    appid: String,
    merchant_serial_no: String,
    public_key_id: String,
    apiv3_key: String,
    #[serde(default = "default_merchant_key_file")]
    merchant_private_key_file: String,
    #[serde(default = "default_merchant_cert_file")]
    merchant_certificate_file: String,
    #[serde(default = "default_public_key_file")]
    wechatpay_public_key_file: String,
    #[serde(default = "default_platform_key_file")]
    sandbox_platform_key_file: String,
}

fn default_merchant_key_file() -> String {
    MERCHANT_KEY_FILE.to_owned()
}
fn default_merchant_cert_file() -> String {
    MERCHANT_CERT_FILE.to_owned()
}
fn default_public_key_file() -> String {
    PUBLIC_KEY_FILE.to_owned()
}
fn default_platform_key_file() -> String {
    PLATFORM_KEY_FILE.to_owned()
}

fn random_chars(rng: &mut impl Rng, alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// 40 uppercase hex chars with a non-zero, positive first byte, so that the DER INTEGER keeps
/// all 20 bytes and prints back as the same 40 chars.
pub fn random_serial(rng: &mut impl Rng) -> String {
    let first: u8 = rng.random_range(0x10..=0x7F);
    let mut serial = format!("{first:02X}");
    serial.push_str(&random_chars(rng, b"0123456789ABCDEF", 38));
    serial
}

impl KeySet {
    /// Fresh keys and ids (two RSA-2048 keys: takes a moment).
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        Self {
            mchid: format!("19{}", random_chars(&mut rng, b"0123456789", 8)),
            appid: format!("wx{}", random_chars(&mut rng, b"0123456789abcdef", 16)),
            merchant_serial_no: random_serial(&mut rng),
            merchant_key: PrivateKey::generate(),
            public_key_id: format!("PUB_KEY_ID_{}", random_chars(&mut rng, b"0123456789", 34)),
            platform_key: PrivateKey::generate(),
            apiv3_key: (&mut rng)
                .sample_iter(&Alphanumeric)
                .take(32)
                .map(char::from)
                .collect(),
        }
    }

    /// The WeChat Pay public key (`pub_key.pem`): the public half of the platform key.
    pub fn wechatpay_public_key(&self) -> PublicKey {
        self.platform_key.public_key()
    }

    /// A self-signed merchant certificate whose serial is `merchant_serial_no`.
    pub fn merchant_certificate_pem(&self) -> Result<String> {
        let cert = self_signed(
            &self.merchant_key,
            &self.merchant_serial_no,
            &[
                ("C", "CN"),
                ("O", "WeChat Pay sandbox merchant"),
                ("OU", "chatmall"),
                ("CN", &self.mchid),
            ],
            Utc::now(),
        )?;
        Ok(cert)
    }

    /// What a merchant configures to reach a sandbox at `base_url` with this key set,
    /// written to `dir` by [`KeySet::write_to`]: (setting, value) pairs named as WeChat
    /// Pay's SDKs name them (`appid`, `mchid`, `merchant_serial_no`, `private_key_path`,
    /// `apiv3_key`, `public_key_id`, `public_key_path`, `base_url`).
    pub fn merchant_settings(&self, dir: &Path, base_url: &str) -> Vec<(&'static str, String)> {
        let file = |name: &str| dir.join(name).display().to_string();
        vec![
            ("base_url", base_url.to_owned()),
            ("appid", self.appid.clone()),
            ("mchid", self.mchid.clone()),
            ("merchant_serial_no", self.merchant_serial_no.clone()),
            ("private_key_path", file(MERCHANT_KEY_FILE)),
            ("apiv3_key", self.apiv3_key.clone()),
            ("public_key_id", self.public_key_id.clone()),
            ("public_key_path", file(PUBLIC_KEY_FILE)),
        ]
    }

    /// Writes the key files and `sandbox.toml` into `dir` (created if missing); private
    /// material is written with mode 0600 on unix.
    pub fn write_to(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_file(
            &dir.join(MERCHANT_KEY_FILE),
            &self.merchant_key.to_pkcs8_pem(),
            true,
        )?;
        write_file(
            &dir.join(MERCHANT_CERT_FILE),
            &self.merchant_certificate_pem()?,
            false,
        )?;
        write_file(
            &dir.join(PUBLIC_KEY_FILE),
            &self.wechatpay_public_key().to_pem(),
            false,
        )?;
        write_file(
            &dir.join(PLATFORM_KEY_FILE),
            &self.platform_key.to_pkcs8_pem(),
            true,
        )?;
        let config = ConfigFile {
            mchid: self.mchid.clone(),
            appid: self.appid.clone(),
            merchant_serial_no: self.merchant_serial_no.clone(),
            public_key_id: self.public_key_id.clone(),
            apiv3_key: self.apiv3_key.clone(),
            merchant_private_key_file: MERCHANT_KEY_FILE.to_owned(),
            merchant_certificate_file: MERCHANT_CERT_FILE.to_owned(),
            wechatpay_public_key_file: PUBLIC_KEY_FILE.to_owned(),
            sandbox_platform_key_file: PLATFORM_KEY_FILE.to_owned(),
        };
        let text = format!(
            "# WeChat Pay sandbox merchant. {PLATFORM_KEY_FILE} is WeChat's private key, which\n\
             # only a sandbox has; a real merchant gets {PUBLIC_KEY_FILE} alone.\n{}",
            toml::to_string(&config).context("encoding sandbox.toml")?
        );
        // The APIv3 key is a secret too.
        write_file(&dir.join(CONFIG_FILE), &text, true)
    }

    /// Reads what [`KeySet::write_to`] wrote, checking that `pub_key.pem` matches the
    /// platform key.
    pub fn load_from(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let config: ConfigFile =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let merchant_key = PrivateKey::from_pem_file(dir.join(&config.merchant_private_key_file))?;
        let platform_key = PrivateKey::from_pem_file(dir.join(&config.sandbox_platform_key_file))?;
        let public_key_path = dir.join(&config.wechatpay_public_key_file);
        if public_key_path.exists() {
            let public_key = PublicKey::from_pem_file(&public_key_path)?;
            anyhow::ensure!(
                public_key == platform_key.public_key(),
                "{} is not the public half of {}",
                config.wechatpay_public_key_file,
                config.sandbox_platform_key_file
            );
        }
        anyhow::ensure!(
            config.apiv3_key.len() == 32,
            "apiv3_key must be 32 bytes, got {}",
            config.apiv3_key.len()
        );
        Ok(Self {
            mchid: config.mchid,
            appid: config.appid,
            merchant_serial_no: config.merchant_serial_no.to_ascii_uppercase(),
            merchant_key,
            public_key_id: config.public_key_id,
            platform_key,
            apiv3_key: config.apiv3_key,
        })
    }

    /// The key set kept in `dir`, or a new one written there when `dir` holds no key files
    /// yet; `true` when it was generated. A directory that holds some key files but no
    /// readable, complete set is an error: generating would silently replace the keys a
    /// merchant (or a test) already trusts.
    pub fn load_or_generate(dir: impl AsRef<Path>) -> Result<(Self, bool)> {
        let dir = dir.as_ref();
        let known = [
            CONFIG_FILE,
            MERCHANT_KEY_FILE,
            MERCHANT_CERT_FILE,
            PUBLIC_KEY_FILE,
            PLATFORM_KEY_FILE,
        ];
        let mut present = Vec::new();
        for name in known {
            match std::fs::symlink_metadata(dir.join(name)) {
                Ok(_) => present.push(name),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("inspect {}", dir.join(name).display())));
                }
            }
        }
        if present.is_empty() {
            let keys = Self::generate();
            keys.write_to(dir)?;
            return Ok((keys, true));
        }
        let keys = Self::load_from(dir).with_context(|| {
            format!(
                "{} holds part of a sandbox key set ({}) that cannot be loaded; restore it, \
                 or remove the directory to generate a new one",
                dir.display(),
                present.join(", ")
            )
        })?;
        Ok((keys, false))
    }
}

fn write_file(path: &Path, contents: &str, private: bool) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    // `mode` only applies on creation: tighten a file that already existed.
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = private;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// WeChat's platform certificate for legacy mode (self-signed here; real ones are issued by
/// the Tenpay CA).
#[derive(Debug, Clone)]
pub struct PlatformCertificate {
    /// 40 uppercase hex chars: the `Wechatpay-Serial` in certificate mode.
    pub serial_no: String,
    /// The certificate PEM.
    pub pem: String,
    /// `effective_time`, RFC 3339 +08:00.
    pub effective_time: String,
    /// `expire_time`, RFC 3339 +08:00.
    pub expire_time: String,
}

impl PlatformCertificate {
    /// A certificate for `platform_key` with the given serial, valid from yesterday for 5 years.
    pub fn generate(platform_key: &PrivateKey, serial_no: &str) -> Result<Self> {
        let now = Utc::now();
        let pem = self_signed(
            platform_key,
            serial_no,
            &[
                ("C", "CN"),
                ("O", "Tenpay.com"),
                ("OU", "Tenpay.com CA Center"),
                ("CN", "Tenpay.com sign (sandbox)"),
            ],
            now,
        )?;
        let (from, to) = validity(now);
        Ok(Self {
            serial_no: serial_no.to_owned(),
            pem,
            effective_time: crate::state::rfc3339_cst(from),
            expire_time: crate::state::rfc3339_cst(to),
        })
    }
}

/// Validity: midnight UTC yesterday to the same day five years on (rcgen takes whole days).
fn validity(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let from = (now - ChronoDuration::days(1))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    let to = from
        .with_year(from.year() + 5)
        .unwrap_or(from + ChronoDuration::days(5 * 365));
    (from, to)
}

/// A self-signed SHA256withRSA certificate of `key` with serial `serial_hex` (uppercase hex).
fn self_signed(
    key: &PrivateKey,
    serial_hex: &str,
    subject: &[(&str, &str)],
    now: DateTime<Utc>,
) -> Result<String> {
    let key_pair =
        rcgen::KeyPair::from_pem_and_sign_algo(&key.to_pkcs8_pem(), &rcgen::PKCS_RSA_SHA256)
            .context("loading the RSA key into rcgen")?;
    let mut params = rcgen::CertificateParams::default();
    let (from, to) = validity(now);
    params.not_before = rcgen::date_time_ymd(from.year(), from.month() as u8, from.day() as u8);
    params.not_after = rcgen::date_time_ymd(to.year(), to.month() as u8, to.day() as u8);
    params.serial_number = Some(rcgen::SerialNumber::from_slice(
        &hex::decode(serial_hex).context("the serial is not hex")?,
    ));
    let mut name = rcgen::DistinguishedName::new();
    for (kind, value) in subject {
        let kind = match *kind {
            "C" => rcgen::DnType::CountryName,
            "O" => rcgen::DnType::OrganizationName,
            "OU" => rcgen::DnType::OrganizationalUnitName,
            _ => rcgen::DnType::CommonName,
        };
        name.push(kind, *value);
    }
    params.distinguished_name = name;
    let cert = params
        .self_signed(&key_pair)
        .context("self-signing the certificate")?;
    Ok(cert.pem())
}
