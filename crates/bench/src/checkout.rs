//! Benchmark 2: checkout (`create_pay_order`) through the in-process application, against
//! the built-in sandbox (merged into the app's router) and against a sandbox served over
//! loopback whose own handling time is recorded per request, so what checkout itself adds
//! can be told apart. RSA signing is timed separately.

use crate::fixtures::World;
use crate::report::Row;
use crate::stats::{Samples, fmt_duration, ms, per_op_interleaved};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use chatmall::config::{Secret, Settings, WechatPayMode};
use chatmall::startup::Application;
use domain::user::UserId;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Target: checkout's own time (end to end minus the sandbox's) at p99.
const TARGET_P99: Duration = Duration::from_millis(5);

/// Handling times the sandbox recorded (prepay calls only).
type Recorded = Arc<Mutex<Vec<Duration>>>;

async fn timer(State(recorded): State<Recorded>, request: Request, next: Next) -> Response {
    let prepay = request
        .uri()
        .path()
        .starts_with("/v3/pay/transactions/native");
    let t = Instant::now();
    let response = next.run(request).await;
    if prepay {
        recorded.lock().expect("not poisoned").push(t.elapsed());
    }
    response
}

/// A running application and how to reach it.
struct App {
    base_url: String,
    sessions: Arc<chatmall::session::Sessions>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start(dir: &Path, adjust: impl FnOnce(&mut Settings)) -> anyhow::Result<App> {
    let mut settings = Settings::default();
    settings.server.port = 0;
    settings.server.data_dir = dir.to_path_buf();
    settings.auth.jwt_secret = Secret::from(crate::JWT_SECRET.to_owned());
    // The compensation jobs must not query the benchmark's open orders meanwhile.
    settings.jobs.missed_payment_delay_secs = 86_400;
    adjust(&mut settings);
    let app = Application::build(settings).await?;
    let base_url = app.base_url().to_owned();
    let sessions = app.state().sessions.clone();
    let stop = CancellationToken::new();
    let task = tokio::spawn(app.run_until_stopped(stop.clone()));
    Ok(App {
        base_url,
        sessions,
        stop,
        task,
    })
}

impl App {
    async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// One checkout by a user who has no open order; its latency.
async fn checkout(
    http: &reqwest::Client,
    base_url: &str,
    sessions: &chatmall::session::Sessions,
    user: &str,
) -> anyhow::Result<Duration> {
    let token = sessions.issue(&UserId::parse(user)?, chrono::Utc::now());
    let request = http
        .post(format!("{base_url}/api/v1/sale/create_pay_order"))
        .header("Authorization", token)
        .form(&[("productId", "1002")]);
    let t = Instant::now();
    let response = request.send().await?;
    let status = response.status();
    let body = response.text().await?;
    let took = t.elapsed();
    anyhow::ensure!(
        status.is_success() && body.contains("weixin://"),
        "checkout: {status} {body}"
    );
    Ok(took)
}

/// Sequential checkouts (latency), then `k` concurrent senders (throughput).
async fn drive(
    app: &App,
    tag: &str,
    n: usize,
    k: usize,
    recorded: Option<&Recorded>,
) -> anyhow::Result<(Samples, Samples, f64)> {
    let http = reqwest::Client::builder().no_proxy().build()?;
    for i in 0..10 {
        checkout(
            &http,
            &app.base_url,
            &app.sessions,
            &format!("oWarm{tag}{i:05}"),
        )
        .await?;
    }
    if let Some(r) = recorded {
        r.lock().expect("not poisoned").clear();
    }
    let (mut e2e, mut own) = (Samples::default(), Samples::default());
    for i in 0..n {
        let took = checkout(
            &http,
            &app.base_url,
            &app.sessions,
            &format!("oSeq{tag}{i:05}"),
        )
        .await?;
        e2e.push(took);
        if let Some(r) = recorded {
            let sandbox: Duration = r.lock().expect("not poisoned").drain(..).sum();
            own.push(took.saturating_sub(sandbox));
        }
    }
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..k {
        let (http, next, tag) = (http.clone(), next.clone(), tag.to_owned());
        let (base_url, sessions) = (app.base_url.clone(), app.sessions.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                checkout(&http, &base_url, &sessions, &format!("oPar{tag}{i:06}")).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let per_sec = n as f64 / started.elapsed().as_secs_f64();
    Ok((e2e, own, per_sec))
}

/// Runs benchmark 2.
pub async fn run(dir: &Path, world: &World, quick: bool) -> anyhow::Result<Vec<Row>> {
    let (n, k) = if quick { (50, 8) } else { (300, 16) };
    let mut rows = Vec::new();

    // Over loopback: the sandbox in this process on its own port, its time recorded.
    let recorded: Recorded = Arc::default();
    let router = world
        .sandbox
        .router()
        .layer(axum::middleware::from_fn_with_state(
            recorded.clone(),
            timer,
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sandbox_url = format!("http://{}", listener.local_addr()?);
    let sandbox_task = tokio::spawn(async move { axum::serve(listener, router).await });
    let keys = &world.keys;
    let key = |f: &str| world.keys_dir.join(f);
    let live = start(&dir.join("live"), |s| {
        let w = &mut s.wechatpay;
        w.mode = WechatPayMode::Live;
        w.base_url = sandbox_url.clone();
        w.appid = keys.appid.clone();
        w.mchid = keys.mchid.clone();
        w.merchant_serial_no = keys.merchant_serial_no.clone();
        w.private_key_path = key("apiclient_key.pem");
        w.apiv3_key = Secret::from(keys.apiv3_key.clone());
        w.public_key_id = keys.public_key_id.clone();
        w.public_key_path = key("pub_key.pem");
    })
    .await?;
    let (e2e, own, per_sec) = drive(&live, "L", n, k, Some(&recorded)).await?;
    live.stop().await;
    sandbox_task.abort();
    let sandbox_p50 = e2e.p50().saturating_sub(own.p50());
    rows.push(
        Row::info(
            "2 checkout",
            format!("loopback sandbox: create_pay_order latency (p50, p99), {n} sequential"),
            format!("{} / {}", ms(e2e.p50()), ms(e2e.p99())),
        )
        .vs(
            format!("sandbox's own time p50 {}", ms(sandbox_p50)),
            e2e.p50().as_secs_f64() / sandbox_p50.as_secs_f64().max(1e-9),
        ),
    );
    rows.push(
        Row::info(
            "2 checkout",
            "loopback sandbox: checkout overhead = end-to-end − sandbox time (p50 / p99)",
            format!("{} / {}", ms(own.p50()), ms(own.p99())),
        )
        .target(format!("p99 < {}", ms(TARGET_P99)), own.p99() < TARGET_P99),
    );
    rows.push(Row::info(
        "2 checkout",
        format!("loopback sandbox: orders/s with {k} concurrent users"),
        format!("{per_sec:.0}/s"),
    ));

    // The built-in sandbox: merged into the app's own router, as `cargo run -p chatmall` does.
    let builtin = start(&dir.join("builtin"), |s| {
        s.wechatpay.mode = WechatPayMode::Sandbox;
        // The world's keys: generating RSA keys for the built-in sandbox takes seconds.
        s.sandbox.keys_dir = world.keys_dir.clone();
    })
    .await?;
    let (b_e2e, _, b_per_sec) = drive(&builtin, "B", n, k, None).await?;
    builtin.stop().await;
    rows.push(
        Row::info(
            "2 checkout",
            format!("built-in sandbox: latency (p50, p99); orders/s with {k} concurrent"),
            format!(
                "{} / {}; {b_per_sec:.0}/s",
                ms(b_e2e.p50()),
                ms(b_e2e.p99())
            ),
        )
        .vs(
            format!(
                "loopback sandbox {} / {}; {per_sec:.0}/s",
                ms(e2e.p50()),
                ms(e2e.p99())
            ),
            b_e2e.p50().as_secs_f64() / e2e.p50().as_secs_f64(),
        ),
    );

    // RSA signing of a prepay-sized request, alone.
    let signer = world.sandbox.merchant_signer();
    let body = vec![b'x'; 380];
    let mut sign = || {
        std::hint::black_box(signer.authorization("POST", "/v3/pay/transactions/native", &body));
    };
    let per_sign = per_op_interleaved(50, 5, &mut [&mut sign])[0];
    rows.push(
        Row::info(
            "2 checkout",
            "merchant RSA signing per checkout (1 signature), share of p50 latency",
            fmt_duration(per_sign),
        )
        .vs(
            format!("checkout p50 {}", ms(e2e.p50())),
            per_sign.as_secs_f64() / e2e.p50().as_secs_f64(),
        ),
    );
    Ok(rows)
}
