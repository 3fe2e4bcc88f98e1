//! Starting, killing and restarting server processes, and the simulated users.

use chatmall::config::{ENV_PREFIX, env_key};
use chatmall::session::Sessions;
use domain::user::UserId;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;
use wechatpay_sandbox::{Faults, KeySet, Sandbox, SandboxConfig, SandboxHandle, TimeoutMode};

const JWT_SECRET: &str = "chaos-test-secret-0123456789abcdef";
/// The operators' token of the run (refunds are asked for with it).
const ADMIN_TOKEN: &str = "chaos-operator-token";
/// How long an order may be paid in this run.
pub const ORDER_TTL: Duration = Duration::from_secs(8);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The knobs of a run.
#[derive(Debug, Clone)]
pub struct Params {
    pub users: usize,
    pub seed: u64,
    pub kills: usize,
    pub drop: f64,
    pub duplicate: f64,
    pub prepay_timeout: f64,
    pub query_error: f64,
    pub pay: f64,
    pub late: f64,
    /// The share of paid orders an operator refunds once delivered (half of them in full,
    /// half in part).
    pub refund: f64,
}

impl Params {
    /// Reads the parameters, with `users_var` naming the user count.
    pub fn from_env(users_var: &str, users: usize) -> Self {
        Self {
            users: env_or(users_var, users),
            seed: env_or("CHATMALL_CHAOS_SEED", 1),
            kills: env_or("CHATMALL_CHAOS_KILLS", 3),
            drop: env_or("CHATMALL_CHAOS_DROP", 0.3),
            duplicate: env_or("CHATMALL_CHAOS_DUPLICATE", 0.2),
            prepay_timeout: env_or("CHATMALL_CHAOS_PREPAY_TIMEOUT", 0.1),
            query_error: env_or("CHATMALL_CHAOS_QUERY_ERROR", 0.1),
            pay: env_or("CHATMALL_CHAOS_PAY", 0.8),
            late: env_or("CHATMALL_CHAOS_LATE", 0.05),
            refund: env_or("CHATMALL_CHAOS_REFUND", 0.2),
        }
    }
}

/// One server process, restartable on the same port and database.
pub struct Server {
    pub node: u16,
    pub port: u16,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
    pub starts: usize,
}

impl Server {
    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_chatmall"))
            .args(["--config", "/nonexistent/chatmall.toml", "serve"])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "info,sqlx=warn,sea_orm=warn,tower_http=warn")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the chatmall binary");
        self.child = Some(child);
        self.starts += 1;
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("{}/health", self.base_url())).send().await
                && r.status().is_success()
            {
                return;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                panic!(
                    "server {} did not come up; its log ends:\n{}",
                    self.node,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown code runs.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM, then the process must exit cleanly within the deadline.
    fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let status = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            loop {
                if let Some(exit) = child.try_wait().unwrap() {
                    assert!(
                        exit.success(),
                        "server {} exited with {exit} on SIGTERM",
                        self.node
                    );
                    return;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "server {} ignored SIGTERM",
                    self.node
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A whole run: the sandbox in this process, the servers as children.
pub struct Run {
    pub params: Params,
    pub sandbox: Sandbox,
    _sandbox_handle: SandboxHandle,
    pub servers: Vec<Arc<Mutex<Server>>>,
    pub db_url: String,
    sessions: Sessions,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Run {
    /// Starts the sandbox and `processes` servers sharing `db_url`.
    pub async fn start(params: Params, dir: &Path, db_url: &str, processes: u16) -> Self {
        let keys_dir = dir.join("keys");
        let keys = KeySet::generate();
        keys.write_to(&keys_dir).unwrap();
        let mut config = SandboxConfig::new(keys.clone());
        config.seed = params.seed;
        config.time_scale = 0.01;
        config.notify_timeout = Duration::from_secs(2);
        config.faults = Faults {
            drop_notification: params.drop,
            duplicate_notification: params.duplicate,
            notification_delay_ms: (0, 300),
            prepay_timeout: params.prepay_timeout,
            prepay_timeout_mode: TimeoutMode::AfterCreate,
            prepay_timeout_ms: 1_500,
            prepay_error: 0.0,
            query_error: params.query_error,
            ..Faults::default()
        };
        let sandbox = Sandbox::new(config).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let handle = sandbox.serve(listener);

        let mut servers = Vec::new();
        for node in 1..=processes {
            let port = free_port();
            let data_dir = dir.join(format!("node{node}"));
            let env: Vec<(String, String)> = [
                ("SERVER__PORT", port.to_string()),
                ("SERVER__NODE_ID", node.to_string()),
                ("SERVER__DATA_DIR", data_dir.display().to_string()),
                ("DATABASE__URL", db_url.to_owned()),
                ("AUTH__JWT_SECRET", JWT_SECRET.to_owned()),
                ("ORDER__TTL_SECS", ORDER_TTL.as_secs().to_string()),
                ("WECHATPAY__TIMEOUT_MS", "600".to_owned()),
                ("JOBS__DELIVERY_POLL_MS", "500".to_owned()),
                ("JOBS__MISSED_PAYMENT_INTERVAL_MS", "500".to_owned()),
                ("JOBS__MISSED_PAYMENT_DELAY_SECS", "1".to_owned()),
                ("JOBS__EXPIRY_INTERVAL_MS", "500".to_owned()),
                ("JOBS__REDELIVERY_INTERVAL_MS", "1000".to_owned()),
                ("JOBS__REDELIVERY_DELAY_SECS", "2".to_owned()),
                ("JOBS__LEASE_SECS", "5".to_owned()),
                ("JOBS__REFUND_CHECK_INTERVAL_MS", "500".to_owned()),
                ("JOBS__REFUND_CHECK_DELAY_SECS", "1".to_owned()),
                ("ADMIN__TOKEN", ADMIN_TOKEN.to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (format!("{ENV_PREFIX}{k}"), v))
            .chain([(env_key("wechatpay", "mode"), "live".to_owned())])
            .chain(
                keys.merchant_settings(&keys_dir, &handle.base_url())
                    .into_iter()
                    .map(|(key, value)| (env_key("wechatpay", key), value)),
            )
            .collect();
            let mut server = Server {
                node,
                port,
                env,
                log: dir.join(format!("node{node}.log")),
                child: None,
                starts: 0,
            };
            server.start().await;
            servers.push(Arc::new(Mutex::new(server)));
        }
        Self {
            params,
            sandbox,
            _sandbox_handle: handle,
            servers,
            db_url: db_url.to_owned(),
            sessions: Sessions::new(JWT_SECRET.as_bytes(), chrono::Duration::days(1)),
        }
    }

    /// Runs the users and the killer, then checks the invariants.
    pub async fn drive_and_check(&self) {
        let started = Instant::now();
        let started_at = chrono::Utc::now();
        let killer = self.killer();
        let users = self.users();
        let ((paid_attempts, refunds_asked), _) = tokio::join!(users, killer);
        println!(
            "chaos: users done in {:?}; {} payments attempted, {} refunds asked for",
            started.elapsed(),
            paid_attempts,
            refunds_asked
        );
        let counts = crate::invariants::wait_until_settled(self).await;
        let books = self.reconcile_days(started_at).await;
        let mut starts = Vec::new();
        for server in &self.servers {
            starts.push(server.lock().await.starts);
        }
        assert_eq!(
            starts.iter().sum::<usize>(),
            self.servers.len() + self.params.kills,
            "every kill was followed by a restart"
        );
        let mut outcomes: std::collections::BTreeMap<String, usize> =
            std::collections::BTreeMap::new();
        for record in self.sandbox.notifications() {
            let kind = format!("{:?}", record.outcome);
            let kind = kind
                .split([' ', '{', '('])
                .next()
                .unwrap_or_default()
                .to_owned();
            *outcomes.entry(kind).or_default() += 1;
        }
        println!(
            "chaos: seed {} users {} kills {} (starts per process {:?}) | orders {} delivered {} closed {} review {} | refunds {} ({} fen, {} quota back) orders refunded in part {} in full {} | codes redeemed {} | sandbox paid {} closed {} never-reached {} | notification sends {:?} | quota {} | reconciliation {} | {:?}",
            self.params.seed,
            self.params.users,
            self.params.kills,
            starts,
            counts.orders,
            counts.delivered,
            counts.closed,
            counts.review,
            counts.refunds,
            counts.refunded_fen,
            counts.quota_back,
            counts.partly_refunded,
            counts.refunded,
            counts.codes_redeemed,
            counts.sandbox_paid,
            counts.sandbox_closed,
            counts.never_reached_wechat,
            outcomes,
            counts.quota,
            books,
            started.elapsed(),
        );
        // A clean stop on SIGTERM, for every process.
        for server in &self.servers {
            server.lock().await.terminate();
        }
    }

    /// Reconciles every Beijing-time day the run touched, through the first process, once
    /// everything settled: the jobs did their work, so the bill must show exactly our books
    /// (no payment left for it to confirm, no difference). What it found, for the log.
    async fn reconcile_days(&self, started_at: chrono::DateTime<chrono::Utc>) -> String {
        let port = self.servers[0].lock().await.port;
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let first = domain::reconciliation::beijing_date(started_at);
        let last = domain::reconciliation::beijing_date(chrono::Utc::now());
        let mut found = Vec::new();
        for date in first.iter_days().take_while(|d| *d <= last) {
            let answer = http
                .post(format!(
                    "http://127.0.0.1:{port}/api/v1/admin/reconciliations"
                ))
                .bearer_auth(ADMIN_TOKEN)
                .json(&serde_json::json!({ "date": date.to_string() }))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200, "reconcile {date}");
            let report: serde_json::Value = answer.json().await.unwrap();
            let report = &report["data"];
            assert_eq!(
                report["differences"],
                serde_json::json!([]),
                "{date}: {report}"
            );
            assert_eq!(
                report["confirmed"], 0,
                "{date}: the jobs left a payment for the bill to find"
            );
            assert_eq!(report["billPaidFen"], report["ourPaidFen"]);
            assert_eq!(report["billRefundedFen"], report["ourRefundedFen"]);
            found.push(format!(
                "{date}: bill {} payments {} fen, {} refunds {} fen, 0 differences",
                report["billPayments"],
                report["billPaidFen"],
                report["billRefunds"],
                report["billRefundedFen"]
            ));
        }
        found.join("; ")
    }

    /// Kills a random server at random moments, then restarts it.
    async fn killer(&self) {
        let mut rng = StdRng::seed_from_u64(self.params.seed ^ 0x5eed);
        for _ in 0..self.params.kills {
            tokio::time::sleep(Duration::from_millis(rng.random_range(800..2_500))).await;
            let server = &self.servers[rng.random_range(0..self.servers.len())];
            let mut server = server.lock().await;
            server.kill();
            tokio::time::sleep(Duration::from_millis(rng.random_range(100..800))).await;
            server.start().await;
            drop(server);
            // Alternate between "the prepay never reached WeChat" and "the answer was lost".
            let mut faults = self.sandbox.faults();
            faults.prepay_timeout_mode = match faults.prepay_timeout_mode {
                TimeoutMode::AfterCreate => TimeoutMode::BeforeCreate,
                TimeoutMode::BeforeCreate => TimeoutMode::AfterCreate,
            };
            self.sandbox.set_faults(faults);
        }
    }

    /// Every user checks out once and (mostly) pays, and an operator refunds some of the
    /// paid orders once delivered; returns how many tried to pay, and how many refunds
    /// were asked for.
    async fn users(&self) -> (usize, usize) {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let gate = Arc::new(tokio::sync::Semaphore::new(64));
        let mut tasks = Vec::new();
        let mut rng = StdRng::seed_from_u64(self.params.seed);
        // One redemption code per ten users, each raced for by two of them.
        let codes = Arc::new(
            self.issue_codes(&http, self.params.users.div_ceil(10))
                .await,
        );
        for i in 0..self.params.users {
            let user = format!("oChaos{i:05}");
            let token = self
                .sessions
                .issue(&UserId::parse(&user).unwrap(), chrono::Utc::now());
            let product = 1001 + (i % 4) as i64;
            let roll: f64 = rng.random();
            let plan = if roll < self.params.late {
                Plan::PayLate
            } else if roll < self.params.late + self.params.pay {
                let refund = (rng.random::<f64>() < self.params.refund).then(|| {
                    if rng.random::<bool>() {
                        Refund::Full
                    } else {
                        Refund::Half
                    }
                });
                Plan::Pay(Duration::from_millis(rng.random_range(0..1_500)), refund)
            } else {
                Plan::Abandon
            };
            let port = self.servers[i % self.servers.len()].lock().await.port;
            let (http, gate, sandbox) = (http.clone(), gate.clone(), self.sandbox.clone());
            let code = (i % 10 < 2).then(|| codes[i / 10].clone());
            let says_paid = i % 3 == 0;
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire_owned().await.unwrap();
                if let Some(code) = &code {
                    redeem(&http, port, &token, code).await;
                }
                let Some(order_no) = checkout(&http, port, &token, product).await else {
                    return (false, false);
                };
                match plan {
                    Plan::Abandon => (false, false),
                    Plan::Pay(after, refund) => {
                        tokio::time::sleep(after).await;
                        let paid = sandbox.pay(&order_no, None).is_ok();
                        if paid && says_paid {
                            // "I have paid", racing the notification and the jobs.
                            let _ = http
                                .post(format!("http://127.0.0.1:{port}/api/v1/sale/check_payment"))
                                .header("Authorization", &token)
                                .form(&[("orderId", order_no.as_str())])
                                .send()
                                .await;
                        }
                        let asked = match refund {
                            Some(refund) if paid => {
                                ask_refund(&http, port, &token, &order_no, refund).await
                            }
                            _ => false,
                        };
                        (paid, asked)
                    }
                    Plan::PayLate => {
                        // The QR page is gone: WeChat refuses after time_expire.
                        tokio::time::sleep(ORDER_TTL + Duration::from_secs(1)).await;
                        assert!(
                            sandbox.pay(&order_no, None).is_err(),
                            "a payment after time_expire was accepted"
                        );
                        (false, false)
                    }
                }
            }));
        }
        let (mut paid, mut refunds) = (0, 0);
        for task in tasks {
            let (did_pay, did_refund) = task.await.unwrap();
            paid += usize::from(did_pay);
            refunds += usize::from(did_refund);
        }
        (paid, refunds)
    }
}

impl Run {
    /// An operator's batch of `count` redemption codes worth [`CODE_QUOTA`] each, asked for
    /// until a process answers.
    async fn issue_codes(&self, http: &reqwest::Client, count: usize) -> Vec<String> {
        let port = self.servers[0].lock().await.port;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let answer = http
                .post(format!(
                    "http://127.0.0.1:{port}/api/v1/admin/redemption_batches"
                ))
                .bearer_auth(ADMIN_TOKEN)
                .json(&serde_json::json!({
                    "count": count,
                    "quota": CODE_QUOTA,
                    "modelTypes": ["gpt-4o-mini"],
                    "expiresAt": (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339(),
                }))
                .send()
                .await;
            if let Ok(answer) = answer
                && answer.status().is_success()
                && let Ok(body) = answer.json::<serde_json::Value>().await
            {
                return body["data"]["codes"]
                    .as_array()
                    .expect("codes")
                    .iter()
                    .map(|c| c.as_str().expect("a code").to_owned())
                    .collect();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("no process issued the redemption codes");
    }
}

/// What each redemption code is worth.
pub const CODE_QUOTA: i64 = 7;

/// Redeems `code` until a process answers (a lost answer may have redeemed it: the retry
/// is then refused as used, and the books say which one won).
async fn redeem(http: &reqwest::Client, port: u16, token: &str, code: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let answer = http
            .post(format!("http://127.0.0.1:{port}/api/v1/account/redeem"))
            .header("Authorization", token)
            .form(&[("code", code)])
            .send()
            .await;
        if let Ok(answer) = answer
            && matches!(answer.status().as_u16(), 200 | 422)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

enum Plan {
    /// Pay after a pause; then maybe have the order refunded.
    Pay(Duration, Option<Refund>),
    PayLate,
    Abandon,
}

#[derive(Clone, Copy)]
enum Refund {
    Full,
    Half,
}

/// Once the order is delivered (as its buyer sees it), an operator asks for its refund,
/// through whichever process is up; a refund asked for twice (an answer lost to a kill) is
/// refused as more than is left, or pays back the other half: either is a refund the books
/// must account for. Whether a refund was asked for.
async fn ask_refund(
    http: &reqwest::Client,
    port: u16,
    token: &str,
    order_no: &str,
    refund: Refund,
) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let mut amount = None;
    while Instant::now() < deadline {
        let order = http
            .get(format!("{base}/sale/query_order?orderId={order_no}"))
            .header("Authorization", token)
            .send()
            .await;
        if let Ok(order) = order
            && let Ok(body) = order.json::<serde_json::Value>().await
            && body["data"]["status"] == "DELIVERED"
        {
            amount = body["data"]["amountFen"].as_u64();
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let Some(price) = amount else {
        return false;
    };
    let fen = match refund {
        Refund::Full => price,
        Refund::Half => price / 2,
    };
    while Instant::now() < deadline {
        let answer = http
            .post(format!("{base}/admin/orders/{order_no}/refunds"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&serde_json::json!({"amountFen": fen, "reason": "chaos: 用户申请退款"}))
            .send()
            .await;
        match answer.map(|a| a.status().as_u16()) {
            Ok(200) => return true,
            Ok(422) => return true, // an earlier try (its answer lost) took it
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    false
}

/// Checks out until it gets a QR code (the server may be down, or WeChat slow): retries
/// reuse the leftover order. Gives up after 30 s.
async fn checkout(http: &reqwest::Client, port: u16, token: &str, product: i64) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let response = http
            .post(format!("http://127.0.0.1:{port}/api/v1/sale/place_order"))
            .header("Authorization", token)
            .form(&[("productId", product.to_string())])
            .send()
            .await;
        if let Ok(response) = response
            && response.status().is_success()
            && let Ok(body) = response.json::<serde_json::Value>().await
        {
            return body["data"]["orderId"].as_str().map(str::to_owned);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}
