//! Benchmark 4: chat proxy overhead. Time to first byte and total time of a streamed
//! answer through chatmall (in-process app, SQLite and PostgreSQL) vs straight from the same fake
//! OpenAI-compatible upstream, for 1 and 64 concurrent streams.

use crate::fixtures::{Backend, fresh};
use crate::report::Row;
use crate::stats::{Samples, ms};
use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chatmall::config::{ChatUpstreamSettings, Secret, Settings};
use chatmall::startup::Application;
use domain::chat::{Price, Spend};
use domain::ports::ChatAccounts;
use domain::product::ModelType;
use domain::user::UserId;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Target: what chatmall adds to the time to first byte, at p50.
const TARGET_ADDED_TTFB: Duration = Duration::from_millis(2);
/// Content chunks per answer, and the pause between them (a fast model's pace).
const CHUNKS: usize = 20;
const CHUNK_GAP: Duration = Duration::from_millis(1);
const BODY: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"你好"}]}"#;

/// The fake upstream: the first chunk at once, then one every [`CHUNK_GAP`].
async fn answer() -> Response {
    let frames = futures::stream::unfold(0usize, |i| async move {
        if i > CHUNKS {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(CHUNK_GAP).await;
        }
        let frame = if i == CHUNKS {
            "data: [DONE]\n\n".to_owned()
        } else {
            format!(
                "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"w{i} \"}},\"finish_reason\":null}}]}}\n\n"
            )
        };
        Some((Ok::<_, std::convert::Infallible>(frame), i + 1))
    });
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(frames),
    )
        .into_response()
}

/// One streamed call: (time to first body byte, total time).
async fn call(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> anyhow::Result<(Duration, Duration)> {
    let mut request = http
        .post(url)
        .header("Content-Type", "application/json")
        .body(BODY);
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    let t = Instant::now();
    let mut response = request.send().await?;
    anyhow::ensure!(
        response.status().is_success(),
        "chat answered {}",
        response.status()
    );
    let mut ttfb = None;
    let mut text = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        ttfb.get_or_insert_with(|| t.elapsed());
        text.extend_from_slice(&chunk);
    }
    let total = t.elapsed();
    anyhow::ensure!(
        text.windows(6).any(|w| w == b"[DONE]"),
        "the stream did not end with [DONE]: {}",
        String::from_utf8_lossy(&text)
    );
    Ok((ttfb.unwrap_or(total), total))
}

/// `k` concurrent streams, `per` calls each; tokens[i] for stream i (None: direct). Stream
/// i starts `spread × i / k` after the first, so with `spread` = one call's duration the
/// streams are evenly out of phase (a steady load); with zero they start together and,
/// being alike, stay in lock-step (a burst of k calls every round).
async fn drive(
    http: &reqwest::Client,
    url: &str,
    tokens: &[Option<String>],
    k: usize,
    per: usize,
    spread: Duration,
) -> anyhow::Result<(Samples, Samples)> {
    let mut tasks = Vec::new();
    for (i, token) in tokens[..k].iter().enumerate() {
        let (http, url, token) = (http.clone(), url.to_owned(), token.clone());
        let delay = spread.mul_f64(i as f64 / k as f64);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let mut out = Vec::new();
            for _ in 0..per {
                out.push(call(&http, &url, token.as_deref()).await?);
            }
            anyhow::Ok(out)
        }));
    }
    let (mut ttfb, mut total) = (Samples::default(), Samples::default());
    for task in tasks {
        for (a, b) in task.await?? {
            ttfb.push(a);
            total.push(b);
        }
    }
    Ok((ttfb, total))
}

/// How the streams' calls are placed in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Starts spread over one call's duration: k calls in flight at any moment.
    Steady,
    /// All k streams call at the same instant, round after round.
    Burst,
}

impl Phase {
    fn label(self, k: usize) -> &'static str {
        match (self, k) {
            (_, 1) => "",
            (Phase::Steady, _) => " in flight, starts spread",
            (Phase::Burst, _) => " starting together (bursts)",
        }
    }
}

/// Runs benchmark 4 with the server's database on `backend`.
pub async fn run(
    dir: &Path,
    world: &crate::fixtures::World,
    backend: Backend,
    quick: bool,
) -> anyhow::Result<Vec<Row>> {
    let (seq, per, bursts) = if quick { (30, 3, 2) } else { (200, 20, 6) };
    let db = fresh(backend).await?;
    let router = axum::Router::new().route("/v1/chat/completions", axum::routing::post(answer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let upstream = format!("http://{}/v1", listener.local_addr()?);
    let upstream_task = tokio::spawn(async move { axum::serve(listener, router).await });

    let mut settings = Settings::default();
    settings.server.port = 0;
    settings.server.data_dir = dir.join(format!("chat-{}", backend.name()));
    settings.database.url = Secret::from(db.url.clone());
    // The world's keys: generating RSA keys for the built-in sandbox takes seconds.
    settings.sandbox.keys_dir = world.keys_dir.clone();
    settings.auth.jwt_secret = Secret::from(crate::JWT_SECRET.to_owned());
    settings.chat.upstreams = vec![ChatUpstreamSettings {
        prefix: String::new(),
        base_url: upstream.clone(),
        api_key: Secret::from("sk-bench".to_owned()),
        ..ChatUpstreamSettings::default()
    }];
    let app = Application::build(settings).await?;
    let base_url = app.base_url().to_owned();
    let state = app.state().clone();
    let stop = CancellationToken::new();
    let app_task = tokio::spawn(app.run_until_stopped(stop.clone()));

    let models = ModelType::parse_list("gpt-4o-mini")?;
    let mut tokens = Vec::new();
    for i in 0..64 {
        let user = UserId::parse(&format!("oChatBench{i:03}"))?;
        state
            .shop
            .store()
            .grant_quota(
                &user,
                1_000_000,
                &models,
                "bench_grant",
                user.as_str(),
                chrono::Utc::now(),
            )
            .await?;
        tokens.push(Some(state.sessions.issue(&user, chrono::Utc::now())));
    }
    let direct_tokens = vec![None; 64];
    let http = reqwest::Client::builder().no_proxy().build()?;
    // Our pages' route: SSE like the direct path, so both are read the same way.
    let via = format!("{base_url}/api/v1/chat/completions");
    let direct = format!("{upstream}/chat/completions");
    // Warm both paths at the widest concurrency measured, as a running service is: the
    // client's and the proxy's HTTP connections, the database pool and its statement caches.
    // (Cold, the 64-stream figures measured PostgreSQL opening pool connections.)
    drive(&http, &via, &tokens, 64, 2, Duration::ZERO).await?;
    drive(&http, &direct, &direct_tokens, 64, 2, Duration::ZERO).await?;

    let mut rows = Vec::new();
    let mut added_one = Duration::ZERO;
    // One call's duration, to spread the 64 streams' starts over.
    let mut call_time = Duration::ZERO;
    let phases = [
        (1, seq, Phase::Steady),
        (64, per, Phase::Steady),
        (64, bursts, Phase::Burst),
    ];
    for (k, per, phase) in phases {
        let spread = match phase {
            Phase::Steady => call_time,
            Phase::Burst => Duration::ZERO,
        };
        let (v_ttfb, v_total) = drive(&http, &via, &tokens, k, per, spread).await?;
        let (d_ttfb, d_total) = drive(&http, &direct, &direct_tokens, k, per, spread).await?;
        let added = v_ttfb.p50().saturating_sub(d_ttfb.p50());
        if k == 1 {
            added_one = added;
            call_time = d_total.p50();
        }
        let ttfb = Row::info(
            "4 chat",
            format!(
                "{}, {k} stream(s){}: time to first byte p50 / p99 ({} calls)",
                backend.name(),
                phase.label(k),
                v_ttfb.len()
            ),
            format!("{} / {}", ms(v_ttfb.p50()), ms(v_ttfb.p99())),
        )
        .vs(
            format!("direct {} / {}", ms(d_ttfb.p50()), ms(d_ttfb.p99())),
            v_ttfb.p50().as_secs_f64() / d_ttfb.p50().as_secs_f64(),
        );
        // The target is for streams in flight; a burst shows queueing, for information.
        rows.push(match phase {
            Phase::Steady => ttfb.target(
                format!("added p50 {} < {}", ms(added), ms(TARGET_ADDED_TTFB)),
                added < TARGET_ADDED_TTFB,
            ),
            Phase::Burst => ttfb,
        });
        if phase == Phase::Burst {
            continue;
        }
        rows.push(
            Row::info(
                "4 chat",
                format!(
                    "{}, {k} stream(s): total time p50 / p99 ({CHUNKS} chunks, {} ms apart)",
                    backend.name(),
                    CHUNK_GAP.as_millis()
                ),
                format!("{} / {}", ms(v_total.p50()), ms(v_total.p99())),
            )
            .vs(
                format!("direct {} / {}", ms(d_total.p50()), ms(d_total.p99())),
                v_total.p50().as_secs_f64() / d_total.p50().as_secs_f64(),
            ),
        );
    }
    // Why the first byte waits: the quota is spent (one committed transaction) before the
    // upstream is called. Timed alone, sequentially, on the same database.
    let user = UserId::parse("oChatBench000")?;
    let model = &models[0];
    let mut spends = Vec::new();
    for _ in 0..seq {
        let t = Instant::now();
        let spent = state
            .shop
            .store()
            .spend(&user, model, Price::ONE, None, chrono::Utc::now())
            .await?;
        spends.push(t.elapsed());
        anyhow::ensure!(matches!(spent, Spend::Spent(_)), "spend: {spent:?}");
    }
    let spend = crate::stats::median(&spends);
    rows.push(
        Row::info(
            "4 chat",
            format!(
                "{}: (why) the quota spend before the upstream call, alone, p50",
                backend.name()
            ),
            ms(spend),
        )
        .vs(
            format!("1-stream added TTFB {}", ms(added_one)),
            spend.as_secs_f64() / added_one.as_secs_f64().max(1e-9),
        ),
    );
    stop.cancel();
    let _ = app_task.await;
    upstream_task.abort();
    Ok(rows)
}
