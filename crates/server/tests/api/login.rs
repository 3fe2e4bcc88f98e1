//! Login through the official account over real HTTP: the portal's server check, signed
//! (plain and safe-mode) messages answered with a code, the code redeemed once for a JWT,
//! forged messages refused, and guessing stopped by the failure limits.

use crate::helpers::{JWT_SECRET, TestApp};
use chatmall::config::OfficialAccountMode;
use chatmall::login_desk::CodeKeys;
use chatmall::officialaccount::simulator::code_in as code_in_text;
use chatmall::officialaccount::xml::{self, Inbound};
use chatmall::officialaccount::{OfficialAccount, crypto, signature};
use domain::login_code::LoginCode;
use domain::ports::CodeVault;
use domain::user::UserId;
use serde_json::Value;

const GH: &str = "gh_test_account";

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Plays WeChat towards a test server, with full control over what is signed.
struct Wechat<'a> {
    app: &'a TestApp,
}

/// A signed request's query, changeable before it is sent.
struct Signed {
    query: Vec<(&'static str, String)>,
    body: String,
}

impl<'a> Wechat<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self { app }
    }

    fn account(&self) -> &OfficialAccount {
        &self.app.state.login.account
    }

    fn portal_url(&self) -> String {
        format!(
            "{}/api/v1/wx/portal/{}",
            self.app.base_url,
            self.account().appid()
        )
    }

    /// A plaintext text message from `from`, signed at `timestamp`.
    fn plain(&self, from: &str, content: &str, timestamp: i64) -> Signed {
        let (ts, nonce) = (timestamp.to_string(), crypto::random_alphanumeric(10));
        Signed {
            query: vec![
                (
                    "signature",
                    signature::sign(&[self.account().token(), &ts, &nonce]),
                ),
                ("timestamp", ts),
                ("nonce", nonce),
            ],
            body: xml::inbound_text(GH, from, timestamp, content, 42),
        }
    }

    /// A safe-mode (encrypted) message whose inner XML is `inner`.
    fn safe_xml(&self, inner: &str, timestamp: i64) -> Signed {
        let account = self.account();
        let (ts, nonce) = (timestamp.to_string(), crypto::random_alphanumeric(10));
        let sealed = crypto::encrypt(account.key(), account.appid(), inner.as_bytes()).unwrap();
        Signed {
            query: vec![
                (
                    "signature",
                    signature::sign(&[account.token(), &ts, &nonce]),
                ),
                ("timestamp", ts.clone()),
                ("nonce", nonce.clone()),
                ("encrypt_type", "aes".into()),
                (
                    "msg_signature",
                    signature::sign(&[account.token(), &ts, &nonce, &sealed]),
                ),
            ],
            body: xml::encrypted_inbound(GH, &sealed),
        }
    }

    fn safe(&self, from: &str, content: &str, timestamp: i64) -> Signed {
        self.safe_xml(
            &xml::inbound_text(GH, from, timestamp, content, 43),
            timestamp,
        )
    }

    async fn post(&self, signed: &Signed) -> (u16, String) {
        let response = self
            .app
            .http
            .post(self.portal_url())
            .query(&signed.query)
            .body(signed.body.clone())
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Opens a safe-mode reply the way WeChat does: signature first, then decryption.
    fn open(&self, reply: &str) -> Inbound {
        let account = self.account();
        let fields = xml::fields(reply).unwrap();
        assert!(
            signature::verify(
                &fields["MsgSignature"],
                &[
                    account.token(),
                    &fields["TimeStamp"],
                    &fields["Nonce"],
                    &fields["Encrypt"]
                ]
            ),
            "the reply's MsgSignature holds"
        );
        let plain = crypto::decrypt(account.key(), account.appid(), &fields["Encrypt"]).unwrap();
        Inbound::parse(std::str::from_utf8(&plain).unwrap()).unwrap()
    }
}

fn set(signed: &mut Signed, name: &str, value: &str) {
    signed.query.iter_mut().find(|(n, _)| *n == name).unwrap().1 = value.to_owned();
}

fn get(signed: &Signed, name: &str) -> String {
    signed
        .query
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap()
        .1
        .clone()
}

fn code_in(reply: &Inbound) -> String {
    let content = reply.content.as_deref().unwrap_or_default();
    code_in_text(content).unwrap_or_else(|| panic!("no code in {content:?}"))
}

async fn login_with(app: &TestApp, code: &str, forwarded_for: Option<&str>) -> (u16, Value) {
    let mut request = app
        .http
        .post(format!("{}/api/v1/auth/login", app.base_url))
        .form(&[("code", code)]);
    if let Some(ip) = forwarded_for {
        request = request.header("X-Forwarded-For", ip);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Logs in and returns the JWT.
async fn login_ok(app: &TestApp, code: &str) -> String {
    let (status, body) = login_with(app, code, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code"], "0000", "{body}");
    assert_eq!(body["info"], "success");
    body["data"].as_str().unwrap().to_owned()
}

async fn orders_with_token(app: &TestApp, token: &str) -> (u16, Value) {
    let response = app
        .http
        .get(format!("{}/api/v1/sale/query_order_list", app.base_url))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// What the database keeps of `code`: its digest under the test servers' key.
fn digest_of(code: &str) -> String {
    CodeKeys::new(JWT_SECRET.as_bytes())
        .digest(&LoginCode::parse(code).unwrap())
        .as_str()
        .to_owned()
}

/// The user's live code as stored (its digest, never the code), with its expiry (ms).
async fn live_row(app: &TestApp, user: &str) -> Option<(String, i64)> {
    use infra::store::entities::login_code;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let row = login_code::Entity::find()
        .filter(login_code::Column::UserId.eq(user))
        .filter(login_code::Column::UsedAt.is_null())
        .filter(login_code::Column::ExpiresAt.gt(app.state.clock.now().timestamp_millis()))
        .one(app.state.shop.store().db())
        .await
        .unwrap()?;
    Some((row.code_digest, row.expires_at))
}

async fn live_digest(app: &TestApp, user: &str) -> Option<String> {
    live_row(app, user).await.map(|(digest, _)| digest)
}

async fn spawn_in(mode: OfficialAccountMode) -> TestApp {
    TestApp::spawn_with(|s| s.officialaccount.mode = mode).await
}

#[tokio::test]
async fn the_server_check_echoes_only_with_a_good_signature() {
    let app = TestApp::spawn().await;
    let wechat = Wechat::new(&app);
    let (ts, nonce) = (now_secs().to_string(), "n0nce".to_owned());
    let good = signature::sign(&[wechat.account().token(), &ts, &nonce]);
    let check = |url: String, signature: String| {
        let query = [
            ("signature", signature),
            ("timestamp", ts.clone()),
            ("nonce", nonce.clone()),
            ("echostr", "echo-4711".to_owned()),
        ];
        let http = app.http.clone();
        async move {
            let response = http.get(url).query(&query).send().await.unwrap();
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            (
                response.status().as_u16(),
                content_type,
                response.text().await.unwrap(),
            )
        }
    };
    let (status, content_type, body) = check(wechat.portal_url(), good.clone()).await;
    assert_eq!((status, body.as_str()), (200, "echo-4711"));
    assert!(content_type.starts_with("text/plain"), "{content_type}");

    let bad = signature::sign(&["wrong-token", &ts, &nonce]);
    let (status, _, body) = check(wechat.portal_url(), bad).await;
    assert_eq!(status, 401);
    assert!(!body.contains("echo-4711"), "{body}");

    let other = format!("{}/api/v1/wx/portal/wx_someone_else", app.base_url);
    assert_eq!(check(other, good).await.0, 404);

    let missing = app.http.get(wechat.portal_url()).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 400);
}

#[tokio::test]
async fn plain_mode_a_text_message_gets_a_code_that_logs_in() {
    let app = spawn_in(OfficialAccountMode::Plain).await;
    let wechat = Wechat::new(&app);
    let user = "oPlainUser0001";
    let (status, reply) = wechat.post(&wechat.plain(user, "登录", now_secs())).await;
    assert_eq!(status, 200, "{reply}");
    let reply = Inbound::parse(&reply).unwrap();
    assert_eq!(
        (reply.to_user.as_str(), reply.from_user.as_str()),
        (user, GH)
    );
    assert_eq!(reply.msg_type, "text");
    let content = reply.content.clone().unwrap();
    assert!(
        content.contains("登录验证码") && content.contains("3 分钟内有效"),
        "{content}"
    );
    let code = code_in(&reply);
    assert_eq!(live_digest(&app, user).await, Some(digest_of(&code)));

    // Asking again re-uses the live code.
    let (_, again) = wechat.post(&wechat.plain(user, "again", now_secs())).await;
    assert_eq!(code_in(&Inbound::parse(&again).unwrap()), code);

    let token = login_ok(&app, &code).await;
    assert_eq!(
        app.state
            .sessions
            .verify(&token, app.state.clock.now())
            .unwrap()
            .as_str(),
        user,
        "the JWT's subject is the openid"
    );
    let (status, orders) = orders_with_token(&app, &token).await;
    assert_eq!(status, 200, "{orders}");
    assert_eq!(orders["code"], "0000");

    // Plain mode refuses encrypted messages.
    let (status, _) = wechat.post(&wechat.safe(user, "x", now_secs())).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn safe_mode_messages_and_replies_are_encrypted_and_log_in() {
    let app = TestApp::spawn().await; // safe mode is the default
    let wechat = Wechat::new(&app);
    let user = "oSafeUser0001";
    let (status, body) = wechat.post(&wechat.safe(user, "login", now_secs())).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("验证码"), "the reply is encrypted: {body}");
    let reply = wechat.open(&body);
    assert_eq!(
        (reply.to_user.as_str(), reply.from_user.as_str()),
        (user, GH)
    );
    let token = login_ok(&app, &code_in(&reply)).await;
    assert_eq!(orders_with_token(&app, &token).await.0, 200);

    // Safe mode refuses plaintext messages, even correctly signed ones.
    let (status, _) = wechat
        .post(&wechat.plain("oPlainInSafe", "x", now_secs()))
        .await;
    assert_eq!(status, 400);
    assert_eq!(live_digest(&app, "oPlainInSafe").await, None);

    // A message encrypted for another appid is refused after its signature holds.
    let account = wechat.account();
    let ts = now_secs();
    let sealed = crypto::encrypt(
        account.key(),
        "wx_other_app",
        xml::inbound_text(GH, "oOtherApp", ts, "x", 1).as_bytes(),
    )
    .unwrap();
    let mut signed = wechat.safe("oOtherApp", "x", ts);
    signed.body = xml::encrypted_inbound(GH, &sealed);
    let ts = ts.to_string();
    let nonce = get(&signed, "nonce");
    set(
        &mut signed,
        "msg_signature",
        &signature::sign(&[account.token(), &ts, &nonce, &sealed]),
    );
    assert_eq!(wechat.post(&signed).await.0, 400);
    assert_eq!(live_digest(&app, "oOtherApp").await, None);
}

#[tokio::test]
async fn compatible_mode_takes_both() {
    let app = spawn_in(OfficialAccountMode::Compatible).await;
    let wechat = Wechat::new(&app);
    let (status, plain) = wechat
        .post(&wechat.plain("oCompatA", "hi", now_secs()))
        .await;
    assert_eq!(status, 200);
    login_ok(&app, &code_in(&Inbound::parse(&plain).unwrap())).await;
    let (status, safe) = wechat
        .post(&wechat.safe("oCompatB", "hi", now_secs()))
        .await;
    assert_eq!(status, 200);
    login_ok(&app, &code_in(&wechat.open(&safe))).await;
}

#[tokio::test]
async fn forged_stale_or_tampered_messages_are_refused_and_issue_nothing() {
    let app = spawn_in(OfficialAccountMode::Compatible).await;
    let wechat = Wechat::new(&app);
    let victim = "oVictim0001";

    let mut forged = wechat.plain(victim, "login", now_secs());
    set(&mut forged, "signature", &"0".repeat(40));
    assert_eq!(wechat.post(&forged).await.0, 401);

    let mut unsigned = wechat.plain(victim, "login", now_secs());
    unsigned.query.retain(|(n, _)| *n != "signature");
    assert_eq!(wechat.post(&unsigned).await.0, 400);

    // Correctly signed, but six minutes old (a captured request replayed later).
    let stale = wechat.plain(victim, "login", now_secs() - 360);
    assert_eq!(wechat.post(&stale).await.0, 401);

    // Safe mode: a good `signature` but the body swapped under `msg_signature`.
    let mut swapped = wechat.safe(victim, "login", now_secs());
    let other = wechat.safe("oSomeoneElse", "login", now_secs());
    swapped.body = other.body;
    assert_eq!(wechat.post(&swapped).await.0, 401);
    let mut no_msg_signature = wechat.safe(victim, "login", now_secs());
    no_msg_signature
        .query
        .retain(|(n, _)| *n != "msg_signature");
    assert_eq!(wechat.post(&no_msg_signature).await.0, 400);

    // Malformed XML under a good signature.
    let mut garbage = wechat.plain(victim, "login", now_secs());
    garbage.body = "<xml><FromUserName>oVictim0001".into();
    assert_eq!(wechat.post(&garbage).await.0, 400);

    assert_eq!(live_digest(&app, victim).await, None, "no code was issued");
    assert_eq!(live_digest(&app, "oSomeoneElse").await, None);
}

#[tokio::test]
async fn the_openid_comes_from_the_signed_message_not_the_query() {
    let app = spawn_in(OfficialAccountMode::Plain).await;
    let wechat = Wechat::new(&app);
    let mut signed = wechat.plain("oRealSender", "login", now_secs());
    signed.query.push(("openid", "oVictim0002".into()));
    let (status, reply) = wechat.post(&signed).await;
    assert_eq!(status, 200, "{reply}");
    let code = code_in(&Inbound::parse(&reply).unwrap());
    assert_eq!(live_digest(&app, "oVictim0002").await, None);
    let token = login_ok(&app, &code).await;
    assert_eq!(
        app.state
            .sessions
            .verify(&token, app.state.clock.now())
            .unwrap()
            .as_str(),
        "oRealSender"
    );
}

#[tokio::test]
async fn a_captured_plain_signature_cannot_carry_another_senders_message() {
    let app = spawn_in(OfficialAccountMode::Plain).await;
    let wechat = Wechat::new(&app);
    let mut signed = wechat.plain("oObserved", "login", now_secs());
    let (status, first) = wechat.post(&signed).await;
    assert_eq!(status, 200, "{first}");
    // WeChat's retry of the same message passes and gets the same code.
    let (status, retry) = wechat.post(&signed).await;
    assert_eq!(status, 200);
    assert_eq!(
        code_in(&Inbound::parse(&retry).unwrap()),
        code_in(&Inbound::parse(&first).unwrap())
    );
    // The same signed query with a body "from" someone else is refused.
    signed.body = xml::inbound_text(GH, "oVictim0003", now_secs(), "login", 7);
    assert_eq!(wechat.post(&signed).await.0, 401);
    assert_eq!(live_digest(&app, "oVictim0003").await, None);
}

#[tokio::test]
async fn events_get_instructions_and_no_code() {
    let app = spawn_in(OfficialAccountMode::Plain).await;
    let wechat = Wechat::new(&app);
    let mut subscribe = wechat.plain("oNewFollower", "", now_secs());
    subscribe.body = format!(
        "<xml><ToUserName><![CDATA[{GH}]]></ToUserName><FromUserName><![CDATA[oNewFollower]]>\
         </FromUserName><CreateTime>{}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
         <Event><![CDATA[subscribe]]></Event></xml>",
        now_secs()
    );
    let (status, reply) = wechat.post(&subscribe).await;
    assert_eq!(status, 200, "{reply}");
    let reply = Inbound::parse(&reply).unwrap();
    let content = reply.content.unwrap();
    assert!(
        content.contains("验证码") && code_in_text(&content).is_none(),
        "{content}"
    );
    assert_eq!(live_digest(&app, "oNewFollower").await, None);
}

#[tokio::test]
async fn a_code_is_single_use_and_expires() {
    let app = TestApp::spawn_with(|s| {
        s.officialaccount.mode = OfficialAccountMode::Plain;
        s.login.code_ttl_secs = 30;
    })
    .await;
    let wechat = Wechat::new(&app);
    let (_, reply) = wechat
        .post(&wechat.plain("oOnce", "login", now_secs()))
        .await;
    let reply = Inbound::parse(&reply).unwrap();
    assert!(reply.content.as_deref().unwrap().contains("秒内有效"));
    let code = code_in(&reply);
    login_ok(&app, &code).await;
    let (status, body) = login_with(&app, &code, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "0003", "the original's answer to a used code");
    assert!(
        body["info"]
            .as_str()
            .unwrap()
            .contains("wrong, used or expired"),
        "{body}"
    );
    assert!(body["data"].is_null());

    let (_, reply) = wechat
        .post(&wechat.plain("oLate", "login", now_secs()))
        .await;
    let code = code_in(&Inbound::parse(&reply).unwrap());
    assert!(live_row(&app, "oLate").await.is_some(), "a live code");
    // Its lifetime passes on the server's clock: no waiting.
    app.clock.advance(chrono::Duration::seconds(30));
    assert!(live_row(&app, "oLate").await.is_none(), "expired");
    let (status, body) = login_with(&app, &code, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("0003")),
        "{body}"
    );

    // A malformed code is no code of ours either; a missing one is a bad parameter.
    for bad in ["12345", "abcdef"] {
        let (status, body) = login_with(&app, bad, None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("0003")),
            "{bad:?}: {body}"
        );
    }
    let (status, body) = login_with(&app, "", None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("0002")),
        "{body}"
    );
    // The code may also travel in the query string.
    let (_, reply) = wechat
        .post(&wechat.plain("oQuery", "login", now_secs()))
        .await;
    let code = code_in(&Inbound::parse(&reply).unwrap());
    let response = app
        .http
        .post(format!("{}/api/v1/auth/login?code={code}", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

/// A client whose connections come from `ip` (any 127/8 address is this host's loopback),
/// so a test can attack from many address blocks for real.
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(std::net::IpAddr::from(ip))
        .build()
        .unwrap()
}

async fn login_from(app: &TestApp, client: &reqwest::Client, code: &str) -> (u16, Value) {
    let response = client
        .post(format!("{}/api/v1/auth/login", app.base_url))
        .form(&[("code", code)])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// A text message from `user` through the portal; the code in the reply.
async fn ask_for_code(app: &TestApp, user: &str) -> String {
    let wechat = Wechat::new(app);
    let (status, reply) = wechat.post(&wechat.plain(user, "login", now_secs())).await;
    assert_eq!(status, 200, "{reply}");
    code_in(&Inbound::parse(&reply).unwrap())
}

#[tokio::test]
async fn guessing_is_stopped_per_address_block_even_for_the_right_code() {
    let app = TestApp::spawn_with(|s| {
        s.officialaccount.mode = OfficialAccountMode::Plain;
        s.login.max_failures_per_prefix = 3;
    })
    .await;
    let code = ask_for_code(&app, "oTarget").await;
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let neighbour = client_from([127, 0, 0, 77]);
    for _ in 0..3 {
        let (status, body) = login_with(&app, wrong, None).await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, body) = login_with(&app, &code, None).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "0001");
    assert!(
        body["info"]
            .as_str()
            .unwrap()
            .contains("too many failed logins"),
        "{body}"
    );
    // The whole /24 is one block; the unsigned X-Forwarded-For is ignored by default.
    assert_eq!(login_from(&app, &neighbour, &code).await.0, 429);
    assert_eq!(login_with(&app, &code, Some("203.0.113.9")).await.0, 429);
    // The refused attempts did not use the code up: from another block it logs in.
    assert_eq!(live_digest(&app, "oTarget").await, Some(digest_of(&code)));
    let elsewhere = client_from([127, 0, 1, 1]);
    let (status, body) = login_from(&app, &elsewhere, &code).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn forwarded_for_names_the_block_when_trusted() {
    let app = TestApp::spawn_with(|s| {
        s.officialaccount.mode = OfficialAccountMode::Plain;
        s.login.max_failures_per_prefix = 2;
        s.login.trust_forwarded_for = true;
    })
    .await;
    let code = ask_for_code(&app, "oForwarded").await;
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..2 {
        assert_eq!(login_with(&app, wrong, Some("198.51.100.1")).await.0, 401);
    }
    assert_eq!(login_with(&app, wrong, Some("198.51.100.1")).await.0, 429);
    // Its whole /24 is limited with it; the proxy appends the real peer last, so a
    // spoofed first entry does not matter.
    assert_eq!(login_with(&app, &code, Some("198.51.100.200")).await.0, 429);
    assert_eq!(
        login_with(&app, wrong, Some("198.51.100.1, 198.51.101.2"))
            .await
            .0,
        401
    );
    let (status, body) = login_with(&app, &code, Some("198.51.102.9")).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_distributed_guessing_attack_cannot_pause_login_nor_find_a_code() {
    let app = spawn_in(OfficialAccountMode::Plain).await;
    // A user asked for a code just before the attack began.
    let victims_code = ask_for_code(&app, "oVictimBefore").await;
    assert_eq!(LoginCode::parse(&victims_code).unwrap().as_str().len(), 6);

    // 40 address blocks guess six-digit codes, 50 each: 2,000 wrong codes.
    let blocks: Vec<[u8; 4]> = (0..40).map(|n| [127, 0, 10 + n, 1]).collect();
    let attacks = blocks.iter().enumerate().map(|(b, ip)| {
        let client = client_from(*ip);
        let app = &app;
        async move {
            let mut statuses = Vec::new();
            for guess in 0..50 {
                let code = format!("{:06}", (b * 50 + guess) * 7 % 1_000_000);
                statuses.push(login_from(app, &client, &code).await.0);
            }
            statuses
        }
    });
    let statuses: Vec<u16> = futures::future::join_all(attacks)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(statuses.len(), 2_000);
    // 401: a code we do not know; 400: six digits while codes are long; 429: limited.
    assert!(
        statuses.iter().all(|s| matches!(s, 400 | 401 | 429)),
        "no guess got in: {statuses:?}"
    );
    // Each block got its 10 tries, then only refusals.
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 40 * 40);

    // Even the victim's right six digits are not looked up any more…
    let (status, body) = login_from(&app, &client_from([127, 0, 99, 1]), &victims_code).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["info"].as_str().unwrap().contains("longer"), "{body}");
    // …and an honest user who asks the official account now gets a long code, which logs
    // in at the first try through the same endpoint.
    let code = ask_for_code(&app, "oHonestDuring").await;
    assert_eq!(
        LoginCode::parse(&code).unwrap().as_str().len(),
        12,
        "a long code: {code}"
    );
    assert!(code.contains('-'), "shown in groups: {code}");
    let (status, body) = login_from(&app, &client_from([127, 0, 100, 1]), &code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        app.state
            .sessions
            .verify(body["data"].as_str().unwrap(), app.state.clock.now())
            .unwrap()
            .as_str(),
        "oHonestDuring"
    );
}

#[tokio::test]
async fn instances_sharing_a_database_share_the_limits() {
    let first = TestApp::spawn_with(|s| {
        s.officialaccount.mode = OfficialAccountMode::Plain;
        s.login.max_failures_per_prefix = 3;
    })
    .await;
    let url = first.database_url.clone();
    let second = TestApp::spawn_with(move |s| {
        s.officialaccount.mode = OfficialAccountMode::Plain;
        s.login.max_failures_per_prefix = 3;
        s.database.url = chatmall::config::Secret::from(url);
    })
    .await;
    let attacker = client_from([127, 0, 5, 5]);
    for _ in 0..3 {
        assert_eq!(login_from(&first, &attacker, "000000").await.0, 401);
    }
    // The same block, on the other instance, is limited by what the first one counted.
    assert_eq!(login_from(&second, &attacker, "000000").await.0, 429);
    // A code issued through one instance logs in through the other.
    let code = ask_for_code(&first, "oTwoInstances").await;
    let (status, body) = login_from(&second, &client_from([127, 0, 6, 6]), &code).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn tampered_or_expired_tokens_are_token_errors() {
    let app = TestApp::spawn().await;
    let user = UserId::parse("oTokenUser").unwrap();
    let token = app.state.sessions.issue(&user, chrono::Utc::now());
    assert_eq!(orders_with_token(&app, &token).await.0, 200);

    let mut tampered = token.into_bytes();
    let i = tampered.len() - 5;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let (status, body) = orders_with_token(&app, std::str::from_utf8(&tampered).unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("0003")),
        "{body}"
    );

    let expired = app
        .state
        .sessions
        .issue(&user, chrono::Utc::now() - chrono::Duration::days(30));
    let (status, body) = orders_with_token(&app, &expired).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("0003")),
        "{body}"
    );
    assert!(body["info"].as_str().unwrap().contains("expired"), "{body}");
}

#[tokio::test]
async fn the_simulator_logs_a_user_in_over_real_http() {
    for mode in [OfficialAccountMode::Safe, OfficialAccountMode::Plain] {
        let app = spawn_in(mode).await;
        let page = app
            .http
            .get(format!("{}/simulator/official-account", app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("openid") && !html.contains("://"), "no CDN");

        let send = |body: Value| {
            let request = app
                .http
                .post(format!(
                    "{}/simulator/official-account/message",
                    app.base_url
                ))
                .json(&body);
            async move {
                let response = request.send().await.unwrap();
                (
                    response.status().as_u16(),
                    response.json::<Value>().await.unwrap(),
                )
            }
        };
        let (status, reply) =
            send(serde_json::json!({"openid": "oSimUser", "content": "login"})).await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["encrypted"], mode != OfficialAccountMode::Plain);
        let code = reply["code"].as_str().unwrap().to_owned();
        assert!(reply["reply"].as_str().unwrap().contains(&code));
        let token = login_ok(&app, &code).await;
        assert_eq!(
            app.state
                .sessions
                .verify(&token, app.state.clock.now())
                .unwrap()
                .as_str(),
            "oSimUser"
        );

        let (status, error) = send(serde_json::json!({"openid": "not an openid"})).await;
        assert_eq!(status, 400, "{error}");
        assert!(error["error"].as_str().unwrap().contains("openid"));
    }
}

#[tokio::test]
async fn the_simulator_is_off_when_switched_off() {
    let app = TestApp::spawn_with(|s| s.officialaccount.simulator = Some(false)).await;
    let response = app
        .http
        .get(format!("{}/simulator/official-account", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
}
