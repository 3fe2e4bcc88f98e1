//! What the benchmarks share: keys, signed callbacks, fresh databases, bulk-inserted orders.

use anyhow::Context as _;
use infra::testing::TestDb;
use sea_orm::ConnectionTrait;
use std::path::Path;
use wechatpay::aead::ApiV3Key;
use wechatpay::model::{
    EncryptedResource, NotificationEnvelope, Payer, TradeState, Transaction, TransactionAmount,
};
use wechatpay::verify::{SignatureHeaders, Verifier};
use wechatpay_sandbox::{KeySet, Sandbox, SandboxConfig};

/// Amount of every benchmark order, in fen.
pub const AMOUNT_FEN: i64 = 990;

/// A merchant's and WeChat's keys on disk, and a sandbox holding WeChat's side.
pub struct World {
    /// The key set.
    pub keys: KeySet,
    /// A sandbox over the same keys (builds and signs callbacks).
    pub sandbox: Sandbox,
    /// Where the PEM files are.
    pub keys_dir: std::path::PathBuf,
}

impl World {
    /// Generates keys and writes them under `dir/keys`.
    pub fn new(dir: &Path) -> anyhow::Result<Self> {
        let keys = KeySet::generate();
        let keys_dir = dir.join("keys");
        keys.write_to(&keys_dir)?;
        let mut config = SandboxConfig::new(keys.clone());
        config.seed = 7;
        let sandbox = Sandbox::new(config)?;
        Ok(Self {
            keys,
            sandbox,
            keys_dir,
        })
    }

    /// A paid transaction for order `out_trade_no`.
    pub fn transaction(&self, out_trade_no: &str, seq: u64) -> Transaction {
        Transaction {
            appid: self.keys.appid.clone(),
            mchid: self.keys.mchid.clone(),
            out_trade_no: out_trade_no.to_owned(),
            transaction_id: Some(format!("42{seq:026}")),
            trade_type: Some("NATIVE".into()),
            trade_state: TradeState::Success,
            trade_state_desc: "支付成功".into(),
            bank_type: Some("OTHERS".into()),
            attach: None,
            success_time: Some(chrono::Utc::now().to_rfc3339()),
            payer: Some(Payer {
                openid: Some("oBenchPayer000000000000000001".into()),
            }),
            amount: Some(TransactionAmount {
                total: Some(AMOUNT_FEN),
                payer_total: Some(AMOUNT_FEN),
                currency: Some("CNY".into()),
                payer_currency: Some("CNY".into()),
            }),
            other: Default::default(),
        }
    }

    /// A signed, encrypted TRANSACTION.SUCCESS callback for `out_trade_no`, signed now.
    pub fn notification(&self, out_trade_no: &str, seq: u64) -> (Vec<(String, String)>, String) {
        self.sandbox
            .build_notification(&self.transaction(out_trade_no, seq))
    }

    /// The merchant-side verifier (public-key mode).
    pub fn verifier(&self) -> Verifier {
        Verifier::with_public_key(
            self.keys.public_key_id.clone(),
            self.keys.platform_key.public_key(),
        )
    }

    /// The APIv3 key.
    pub fn apiv3(&self) -> ApiV3Key {
        ApiV3Key::new(&self.keys.apiv3_key).expect("the sandbox's APIv3 key is 32 bytes")
    }

    /// One callback, with everything the crypto and peer benchmarks need.
    pub fn notice(&self) -> anyhow::Result<Notice> {
        let (headers, body) = self.notification("BENCHNOTICE000001", 1);
        let envelope: NotificationEnvelope = serde_json::from_str(&body)?;
        let pem = pem::parse(self.keys.platform_key.to_pkcs8_pem())?;
        let pair = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(pem.contents())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let spki_der = {
            use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
            use aws_lc_rs::signature::KeyPair;
            let der: PublicKeyX509Der<'static> = pair.public_key().as_der()?;
            der.as_ref().to_vec()
        };
        Ok(Notice {
            verifier: self.verifier(),
            spki_der,
            headers: signature_headers(&headers)?,
            raw_headers: headers,
            body,
            apiv3: self.apiv3(),
            apiv3_raw: self.keys.apiv3_key.clone(),
            resource: envelope.resource,
        })
    }
}

/// One signed callback and its keys.
pub struct Notice {
    /// The merchant's verifier.
    pub verifier: Verifier,
    /// WeChat's public key, X.509 SubjectPublicKeyInfo DER.
    pub spki_der: Vec<u8>,
    /// The signature headers, parsed.
    pub headers: SignatureHeaders,
    /// The headers as sent.
    pub raw_headers: Vec<(String, String)>,
    /// The body as sent.
    pub body: String,
    /// The APIv3 key.
    pub apiv3: ApiV3Key,
    /// The APIv3 key as configured.
    pub apiv3_raw: String,
    /// The encrypted resource.
    pub resource: EncryptedResource,
}

/// Parses `Wechatpay-*` headers from a name/value list.
pub fn signature_headers(headers: &[(String, String)]) -> anyhow::Result<SignatureHeaders> {
    let mut map = reqwest::header::HeaderMap::new();
    for (k, v) in headers {
        map.insert(
            reqwest::header::HeaderName::from_bytes(k.as_bytes())?,
            v.parse()?,
        );
    }
    SignatureHeaders::from_headers(&map).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Which database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A file in a temporary directory.
    Sqlite,
    /// A fresh database on the local server.
    Postgres,
}

impl Backend {
    /// Its name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }
}

/// A fresh, migrated database of `backend`.
pub async fn fresh(backend: Backend) -> anyhow::Result<TestDb> {
    match backend {
        Backend::Sqlite => infra::testing::fresh_sqlite().await,
        Backend::Postgres => infra::testing::fresh_postgres()
            .await?
            .context("PostgreSQL is not configured"),
    }
}

/// How to make the rows of a bulk insert.
#[derive(Debug, Clone)]
pub struct Rows {
    /// Order numbers are `prefix` + 10 digits (from `first`).
    pub prefix: String,
    /// First sequence number.
    pub first: u64,
    /// How many rows.
    pub count: u64,
    /// Status: a fixed one, or `None` for history (4 DELIVERED : 1 CLOSED).
    pub status: Option<&'static str>,
    /// created_at of the newest row, unix ms (rows go back one minute each... within a year).
    pub created_at: i64,
    /// expire_at − created_at, ms.
    pub ttl_ms: i64,
    /// paid_at for PAID rows (and DELIVERED history), relative to created_at, ms.
    pub paid_after_ms: i64,
    /// next_check_at, unix ms.
    pub next_check_at: i64,
    /// prepay_attempts.
    pub prepay_attempts: i32,
}

/// Inserts `rows` in one statement generated by the database itself (a recursive CTE on
/// SQLite, `generate_series` on PostgreSQL): for 10⁶ rows this is seconds, where one
/// INSERT per row would be minutes.
pub async fn insert_orders(db: &TestDb, rows: &Rows) -> anyhow::Result<()> {
    let Rows {
        prefix,
        first,
        count,
        status,
        created_at,
        ttl_ms,
        paid_after_ms,
        next_check_at,
        prepay_attempts,
    } = rows.clone();
    let last = first + count - 1;
    // History spreads back over about a year; fixed-status rows share one instant.
    let (status_sql, created_sql) = match status {
        Some(s) => (format!("'{s}'"), format!("{created_at}")),
        None => (
            "CASE WHEN i % 5 = 0 THEN 'CLOSED' ELSE 'DELIVERED' END".to_owned(),
            format!("({created_at} - (i % 525600) * 60000)"),
        ),
    };
    let (series, no, user, txid) = match db.backend {
        "sqlite" => (
            format!(
                "WITH RECURSIVE s(i) AS (SELECT {first} UNION ALL SELECT i + 1 FROM s WHERE i < {last})"
            ),
            format!("printf('{prefix}%010d', i)"),
            "printf('oBenchUser%05d', i % 10000)".to_owned(),
            "printf('4200%024d', i)".to_owned(),
        ),
        _ => (
            format!("WITH s(i) AS (SELECT generate_series({first}::bigint, {last}::bigint))"),
            format!("'{prefix}' || lpad(i::text, 10, '0')"),
            "'oBenchUser' || lpad((i % 10000)::text, 5, '0')".to_owned(),
            "'4200' || lpad(i::text, 24, '0')".to_owned(),
        ),
    };
    let paid = format!(
        "CASE WHEN {status_sql} IN ('PAID', 'DELIVERED') THEN {created_sql} + {paid_after_ms} END"
    );
    let sql = format!(
        "INSERT INTO orders (order_no, user_id, product_id, product_name, quota, model_types, amount, \
         status, code_url, prepay_attempts, created_at, expire_at, paid_at, transaction_id, \
         delivered_at, closed_at, review_reason, updated_at, next_check_at, lease_until, \
         check_attempts, last_error) \
         {series} SELECT {no}, {user}, 1001, 'bench package', 100, 'gpt-4o-mini', {AMOUNT_FEN}, \
         {status_sql}, 'weixin://wxpay/bizpayurl?pr=bench', {prepay_attempts}, {created_sql}, \
         {created_sql} + {ttl_ms}, {paid}, \
         CASE WHEN {status_sql} IN ('PAID', 'DELIVERED') THEN {txid} END, \
         CASE WHEN {status_sql} = 'DELIVERED' THEN {created_sql} + {paid_after_ms} END, \
         CASE WHEN {status_sql} = 'CLOSED' THEN {created_sql} + {ttl_ms} END, \
         NULL, {created_sql}, {next_check_at}, NULL, 0, NULL FROM s"
    );
    db.store
        .db()
        .execute_unprepared(&sql)
        .await
        .with_context(|| format!("bulk insert of {count} orders on {}", db.backend))?;
    Ok(())
}

/// Refreshes the planner's statistics, as a live database's autovacuum/ANALYZE would.
pub async fn analyze(db: &TestDb) -> anyhow::Result<()> {
    db.store.db().execute_unprepared("ANALYZE").await?;
    Ok(())
}
