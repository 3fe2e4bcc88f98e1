//! `TestApp`: the real application on port 0, and helpers that read like a user's actions.

use chatmall::config::{Secret, Settings};
use chatmall::startup::Application;
use chatmall::state::AppState;
use domain::clock::ShiftedClock;
use domain::order::{Order, OrderNo, OrderStatus};
use domain::ports::Clock;
use domain::ports::{AccountRepository, OrderRepository};
use domain::user::UserId;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use wechatpay_sandbox::Sandbox;

/// A running server.
pub struct TestApp {
    pub base_url: String,
    /// `/metrics` when it is served apart from the shop (`metrics.listen`).
    pub metrics_url: Option<String>,
    /// The server's clock: the wall clock, moved forward by tests instead of waiting.
    pub clock: Arc<ShiftedClock>,
    /// The database it runs on (another server may share it).
    pub database_url: String,
    pub http: reqwest::Client,
    pub sandbox: Sandbox,
    pub state: AppState,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// A sandbox served on its own port, for live-mode servers.
    _served: Option<wechatpay_sandbox::SandboxHandle>,
    /// A PostgreSQL or MySQL database made for this server (dropped with it).
    _database: Option<infra::testing::TestDb>,
    _dir: tempfile::TempDir,
}

/// Which database the API tests run on: `CHATMALL_TEST_API_DATABASE` = `sqlite` (the
/// default), `postgres` or `mysql` (the server named by `CHATMALL_TEST_POSTGRES_URL` or
/// `CHATMALL_TEST_MYSQL_URL`). CI runs the suite on each.
pub const API_DATABASE_VAR: &str = "CHATMALL_TEST_API_DATABASE";

async fn fresh_server_database() -> Option<infra::testing::TestDb> {
    match std::env::var(API_DATABASE_VAR).as_deref() {
        Err(_) | Ok("sqlite") => None,
        Ok("postgres") => Some(
            infra::testing::fresh_postgres()
                .await
                .unwrap()
                .expect("CHATMALL_TEST_POSTGRES_URL for the API tests on PostgreSQL"),
        ),
        Ok("mysql") => Some(
            infra::testing::fresh_mysql()
                .await
                .unwrap()
                .expect("CHATMALL_TEST_MYSQL_URL for the API tests on MySQL"),
        ),
        Ok(other) => panic!("{API_DATABASE_VAR}={other}: sqlite, postgres or mysql"),
    }
}

/// The session secret every test server uses.
pub const JWT_SECRET: &str = "integration-test-secret-0123456789";

/// How long a test waits for something that happens in the background.
pub const DEADLINE: Duration = Duration::from_secs(20);

impl TestApp {
    /// A server on SQLite with default test settings.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A server whose settings `adjust` changes first.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        Self::start(dir, None, adjust).await
    }

    /// A live-mode server pointed at a sandbox on its own port that signs as `mode` says;
    /// the server trusts only what its settings (`adjust`) tell it to.
    pub async fn spawn_live(
        mode: wechatpay_sandbox::SignatureMode,
        adjust: impl FnOnce(&mut Settings),
    ) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let keys = wechatpay_sandbox::KeySet::generate();
        let keys_dir = dir.path().join("wechatpay");
        keys.write_to(&keys_dir).expect("write the key set");
        let mut config = wechatpay_sandbox::SandboxConfig::new(keys.clone());
        config.mode = mode;
        config.time_scale = 0.001;
        let sandbox = Sandbox::new(config).expect("a sandbox");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let served = sandbox.serve(listener);
        let base_url = served.base_url();
        Self::start(dir, Some(served), |s| {
            let ws = &mut s.wechatpay;
            ws.mode = chatmall::config::WechatPayMode::Live;
            ws.base_url = base_url;
            ws.appid = keys.appid.clone();
            ws.mchid = keys.mchid.clone();
            ws.merchant_serial_no = keys.merchant_serial_no.clone();
            ws.private_key_path = keys_dir.join("apiclient_key.pem");
            ws.apiv3_key = Secret::from(keys.apiv3_key.clone());
            ws.public_key_id = keys.public_key_id.clone();
            ws.public_key_path = keys_dir.join("pub_key.pem");
            adjust(s);
        })
        .await
    }

    async fn start(
        dir: tempfile::TempDir,
        served: Option<wechatpay_sandbox::SandboxHandle>,
        adjust: impl FnOnce(&mut Settings),
    ) -> Self {
        chatmall::telemetry::init_for_tests();
        let mut settings = Settings::default();
        settings.server.port = 0;
        settings.server.data_dir = dir.path().to_path_buf();
        settings.auth.jwt_secret = Secret::from(JWT_SECRET.to_owned());
        settings.sandbox.time_scale = 0.001;
        settings.wechatpay.timeout_ms = 2_000;
        settings.jobs.delivery_poll_ms = 200;
        let database = fresh_server_database().await;
        if let Some(db) = &database {
            settings.database.url = Secret::from(db.url.clone());
        }
        adjust(&mut settings);
        let database_url = settings.database_url();
        let clock = Arc::new(ShiftedClock::default());
        let app = Application::build_with_clock(settings, clock.clone())
            .await
            .expect("the application builds");
        let base_url = app.base_url().to_owned();
        let metrics_url = app
            .metrics_port()
            .map(|port| format!("http://127.0.0.1:{port}/metrics"));
        let sandbox = match &served {
            Some(served) => served.sandbox().clone(),
            None => app.sandbox().expect("sandbox mode").clone(),
        };
        let state = app.state().clone();
        let stop = CancellationToken::new();
        let task = tokio::spawn(app.run_until_stopped(stop.clone()));
        Self {
            base_url,
            metrics_url,
            clock,
            database_url,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            sandbox,
            state,
            stop,
            task: Some(task),
            _served: served,
            _database: database,
            _dir: dir,
        }
    }

    /// Moves the server's clock past every order deadline of `fast_jobs` (600 s).
    pub fn pass_the_deadline(&self) {
        self.clock.advance(chrono::Duration::seconds(601));
    }

    /// A session token for `user`.
    pub fn token_for(&self, user: &str) -> String {
        self.state
            .sessions
            .issue(&UserId::parse(user).unwrap(), self.clock.now())
    }

    /// Sends a request and reads the JSON answer; (status, body).
    pub async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// POSTs a form to an API path with `user`'s token; (status, JSON body, Retry-After).
    pub async fn post_form(
        &self,
        user: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value, Option<String>) {
        let response = self
            .http
            .post(format!("{}/api/v1{path}", self.base_url))
            .bearer_auth(self.token_for(user))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, response.json().await.unwrap(), retry_after)
    }

    /// GET an API path with `user`'s token; (status, JSON body).
    pub async fn get(&self, user: &str, path: &str) -> (u16, Value) {
        let request = self.http.get(format!("{}/api/v1{path}", self.base_url));
        Self::send(request.bearer_auth(self.token_for(user))).await
    }

    /// The user checks out a product through the original contract's `create_pay_order`,
    /// with the raw token (no `Bearer`), as the original front-end sends it.
    pub async fn create_pay_order(&self, user: &str, product_id: &str) -> (u16, Value) {
        let request = self
            .http
            .post(format!("{}/api/v1/sale/create_pay_order", self.base_url));
        Self::send(
            request
                .header("Authorization", self.token_for(user))
                .form(&[("productId", product_id)]),
        )
        .await
    }

    /// The user checks out a product through `place_order` (the whole pay order back).
    pub async fn place_order(&self, user: &str, product_id: &str) -> (u16, Value) {
        let request = self
            .http
            .post(format!("{}/api/v1/sale/place_order", self.base_url));
        Self::send(
            request
                .bearer_auth(self.token_for(user))
                .form(&[("productId", product_id)]),
        )
        .await
    }

    /// An order of product 1002 for `user` under REVIEW: paid at the sandbox, and its
    /// notification (sent by the test, validly signed) altered by `tamper`.
    pub async fn under_review(
        &self,
        user: &str,
        tamper: fn(&mut wechatpay::model::Transaction),
    ) -> String {
        self.sandbox.set_faults(wechatpay_sandbox::Faults {
            drop_notification: 1.0,
            ..wechatpay_sandbox::Faults::default()
        });
        let order_no = self.place_order_ok(user, "1002").await;
        let mut paid = self.sandbox.pay(&order_no, None).unwrap();
        self.sandbox
            .set_faults(wechatpay_sandbox::Faults::default());
        tamper(&mut paid);
        let (headers, body) = self.sandbox.build_notification(&paid);
        assert_eq!(self.post_notification(&headers, &body).await, 204);
        assert_eq!(self.order(&order_no).await.status, OrderStatus::Review);
        order_no
    }

    /// Checks out and expects a live order; returns its number.
    pub async fn place_order_ok(&self, user: &str, product_id: &str) -> String {
        let (status, body) = self.place_order(user, product_id).await;
        assert_eq!(status, 200, "{body}");
        body["data"]["orderId"].as_str().unwrap().to_owned()
    }

    /// Posts a notification as WeChat would.
    pub async fn post_notification(&self, headers: &[(String, String)], body: &str) -> u16 {
        let mut request = self
            .http
            .post(format!("{}/api/v1/sale/pay_notify", self.base_url))
            .header("Content-Type", "application/json")
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send().await.unwrap().status().as_u16()
    }

    /// The order as stored.
    pub async fn order(&self, order_no: &str) -> Order {
        self.state
            .shop
            .store()
            .order(&OrderNo::parse(order_no).unwrap())
            .await
            .unwrap()
            .expect("the order exists")
    }

    /// Waits (with a deadline) until the order reaches `status`.
    pub async fn wait_for_status(&self, order_no: &str, status: OrderStatus) -> Order {
        let started = tokio::time::Instant::now();
        loop {
            let order = self.order(order_no).await;
            if order.status == status {
                return order;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "order {order_no} is {} after {DEADLINE:?}, expected {status}",
                order.status
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The user's quota: (total, surplus); (0, 0) without an account.
    pub async fn quota(&self, user: &str) -> (i64, i64) {
        let account = self
            .state
            .shop
            .store()
            .account(&UserId::parse(user).unwrap())
            .await
            .unwrap();
        account.map_or((0, 0), |a| (a.total_quota, a.surplus_quota))
    }

    /// How many ledger rows credit this order.
    pub async fn ledger_rows(&self, order_no: &str) -> u64 {
        self.state
            .shop
            .store()
            .quota_ledger_rows(order_no)
            .await
            .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
