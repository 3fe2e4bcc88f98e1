//! Benchmark 8: chatmall as an AI gateway under streams paced like a real model (a chunk of
//! 3 tokens every 20–50 ms, 100 chunks: 300 tokens in about 3.5 s), against LiteLLM's proxy
//! in front of the same fake upstream. 64, 256 and 1,024 streams stay open at once (each
//! stream calls again when its answer ends; the streams start spread over one answer's
//! length). chatmall is the release binary as a child process, per-call and per-token
//! billing, on SQLite and PostgreSQL; LiteLLM is `litellm[proxy]` from PyPI, one worker,
//! no database. Measured for each: the time to the first body byte over the direct call's,
//! completed streams/s over direct, the gateway's peak RSS, and the CPU each side used
//! (client, upstream and gateway share the machine's cores).

use crate::fixtures::{Backend, World, fresh};
use crate::report::Row;
use crate::server::{ServerProcess, memory_kib};
use crate::stats::{Samples, ms};
use anyhow::{Context as _, bail};
use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use domain::product::ModelType;
use domain::user::UserId;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BENCH: &str = "8 gateway";
const MODEL: &str = "gpt-4o-mini";
/// Chunks per answer, each [`CHUNK_TOKENS`] tokens.
const CHUNKS: usize = 100;
const CHUNK_TOKENS: usize = 3;
const PROMPT_TOKENS: usize = 12;
/// What the load asks; the same body for every gateway.
const BODY: &str = r#"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"写一首关于秋天的诗"}]}"#;
/// LiteLLM's master key (its proxy's bearer key).
const MASTER_KEY: &str = "sk-bench-litellm-master";
/// Targets: chatmall's added TTFB at most this share of LiteLLM's at every level, and on
/// its own at 1,024 streams under 2 ms at p50 with ≥ 0.9 of direct's streams/s.
const SHARE_OF_LITELLM: f64 = 0.1;
const ADDED_TTFB: Duration = Duration::from_millis(2);
const STREAMS_SHARE: f64 = 0.9;

/// The pause before chunk `i` of answer `seed`: 20–50 ms, spread like a model's pace.
fn gap(seed: u64, i: usize) -> Duration {
    Duration::from_millis(20 + (seed.wrapping_mul(7_919) + i as u64 * 104_729) % 31)
}

/// The paced upstream's answer: OpenAI's chunks, the usage chunk when asked.
async fn answer(
    axum::extract::State(seeds): axum::extract::State<Arc<AtomicU64>>,
    body: axum::body::Bytes,
) -> Response {
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let usage = request["stream_options"]["include_usage"] == true;
    let seed = seeds.fetch_add(1, Ordering::Relaxed);
    let chunk = |content: &str, finish: &str| {
        format!(
            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"{MODEL}\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}},\"finish_reason\":{finish}}}]}}\n\n"
        )
    };
    let frames = futures::stream::unfold(0usize, move |i| async move {
        if i > CHUNKS {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(gap(seed, i)).await;
        }
        let frame = if i < CHUNKS {
            chunk(&format!("w{i} x{i} y{i} "), "null")
        } else {
            let mut end = chunk("", "\"stop\"");
            if usage {
                end.push_str(&format!(
                    "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"{MODEL}\",\"choices\":[],\"usage\":{{\"prompt_tokens\":{PROMPT_TOKENS},\"completion_tokens\":{},\"total_tokens\":{}}}}}\n\n",
                    CHUNKS * CHUNK_TOKENS,
                    PROMPT_TOKENS + CHUNKS * CHUNK_TOKENS
                ));
            }
            end.push_str("data: [DONE]\n\n");
            end
        };
        Some((Ok::<_, std::convert::Infallible>(frame), i + 1))
    });
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(frames),
    )
        .into_response()
}

/// The upstream on a runtime of its own, whose threads are named so their CPU is counted
/// apart from the client's; `(base URL, runtime)`.
fn spawn_upstream() -> anyhow::Result<(String, tokio::runtime::Runtime)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(UPSTREAM_THREADS)
        .enable_all()
        .build()?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let url = format!("http://{}/v1", listener.local_addr()?);
    let router = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(answer))
        .with_state(Arc::new(AtomicU64::new(0)));
    runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
        axum::serve(listener, router).await
    });
    Ok((url, runtime))
}

const UPSTREAM_THREADS: &str = "paced-upstream";

/// CPU time of process `pid` and its children (utime + stime), from /proc.
fn tree_cpu(pid: u32) -> Duration {
    children(pid)
        .into_iter()
        .fold(own_cpu(pid), |cpu, child| cpu + own_cpu(child))
}

/// CPU time of process `pid` alone.
fn own_cpu(pid: u32) -> Duration {
    // USER_HZ is 100 on Linux.
    Duration::from_millis(stat_ticks(&format!("/proc/{pid}/stat")) * 10)
}

/// CPU time of this process's threads whose name starts with `prefix`.
fn threads_cpu(prefix: &str) -> Duration {
    let mut ticks = 0;
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.starts_with(prefix) {
            ticks += stat_ticks(&task.path().join("stat").display().to_string());
        }
    }
    Duration::from_millis(ticks * 10)
}

/// utime + stime of a `stat` file (fields 14 and 15, after the parenthesised name).
fn stat_ticks(path: &str) -> u64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the name, state is field 3: utime (14) and stime (15) are at 11 and 12.
    field(11) + field(12)
}

/// The direct children of `pid`.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Resident memory of `pid` and its children, in KiB.
fn rss_kib(pid: u32) -> u64 {
    memory_kib(pid).0
        + children(pid)
            .into_iter()
            .map(|c| memory_kib(c).0)
            .sum::<u64>()
}

/// Which gateway it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Direct,
    Chatmall,
    LiteLlm,
}

/// A gateway under test.
struct Gateway {
    kind: Kind,
    name: String,
    /// `…/v1/chat/completions`.
    url: String,
    /// The bearer key of each stream (none: direct).
    keys: Vec<Option<String>>,
    /// The process, to watch (none: direct).
    pid: Option<u32>,
    _process: Option<Process>,
}

/// A gateway's process, stopped on drop.
enum Process {
    Chatmall { _server: ServerProcess },
    LiteLlm(Child),
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Self::LiteLlm(child) = self {
            // Only the child this benchmark started, by its own handle.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What one load did.
struct Load {
    ttfb: Samples,
    completed: usize,
    failed: usize,
    first_error: Option<String>,
    wall: Duration,
    peak_rss_kib: u64,
    gateway_cpu: Duration,
    upstream_cpu: Duration,
    client_cpu: Duration,
}

impl Load {
    fn streams_per_sec(&self) -> f64 {
        self.completed as f64 / self.wall.as_secs_f64()
    }
}

/// One streamed call: the time to its first body byte, once it ended well.
async fn call(http: &reqwest::Client, url: &str, key: Option<&str>) -> anyhow::Result<Duration> {
    let mut request = http
        .post(url)
        .header("Content-Type", "application/json")
        .body(BODY);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let started = Instant::now();
    let mut response = request.send().await?;
    if !response.status().is_success() {
        bail!(
            "HTTP {}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
    }
    let mut ttfb = None;
    let mut tail = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        ttfb.get_or_insert_with(|| started.elapsed());
        tail.extend_from_slice(&chunk);
        if tail.len() > 64 {
            tail.drain(..tail.len() - 64);
        }
    }
    if !tail.windows(6).any(|w| w == b"[DONE]") {
        bail!("the stream did not end with [DONE]");
    }
    Ok(ttfb.unwrap_or_else(|| started.elapsed()))
}

/// `k` streams open at once, `per` answers each, their starts spread over `spread`.
async fn load(
    http: &reqwest::Client,
    gateway: &Gateway,
    k: usize,
    per: usize,
    spread: Duration,
) -> anyhow::Result<Load> {
    let watching = Arc::new(AtomicBool::new(true));
    let sampler = gateway.pid.map(|pid| {
        let watching = watching.clone();
        tokio::spawn(async move {
            let mut peak = 0;
            while watching.load(Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        })
    });
    // The bench process alone: the gateways are its children.
    let cpu_before = (
        gateway.pid.map_or(Duration::ZERO, tree_cpu),
        threads_cpu(UPSTREAM_THREADS),
        own_cpu(std::process::id()),
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, key) in gateway.keys[..k].iter().enumerate() {
        let (http, url, key) = (http.clone(), gateway.url.clone(), key.clone());
        let delay = spread.mul_f64(i as f64 / k as f64);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let mut out = Vec::new();
            for _ in 0..per {
                out.push(call(&http, &url, key.as_deref()).await);
            }
            out
        }));
    }
    let mut result = Load {
        ttfb: Samples::default(),
        completed: 0,
        failed: 0,
        first_error: None,
        wall: Duration::ZERO,
        peak_rss_kib: 0,
        gateway_cpu: Duration::ZERO,
        upstream_cpu: Duration::ZERO,
        client_cpu: Duration::ZERO,
    };
    for task in tasks {
        for outcome in task.await? {
            match outcome {
                Ok(ttfb) => {
                    result.ttfb.push(ttfb);
                    result.completed += 1;
                }
                Err(e) => {
                    result.failed += 1;
                    result.first_error.get_or_insert_with(|| format!("{e:#}"));
                }
            }
        }
    }
    result.wall = started.elapsed();
    watching.store(false, Ordering::Relaxed);
    if let Some(sampler) = sampler {
        result.peak_rss_kib = sampler.await?;
    }
    result.gateway_cpu = gateway.pid.map_or(Duration::ZERO, tree_cpu) - cpu_before.0;
    result.upstream_cpu = threads_cpu(UPSTREAM_THREADS) - cpu_before.1;
    let bench_cpu = own_cpu(std::process::id()) - cpu_before.2;
    result.client_cpu = bench_cpu.saturating_sub(result.upstream_cpu);
    Ok(result)
}

/// How chatmall charges in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Billing {
    PerCall,
    PerToken,
}

/// What every gateway of a run is started with.
struct Setup<'a> {
    bin: &'a Path,
    dir: &'a Path,
    world: &'a World,
    /// The sandbox, for the chatmall servers' jobs (no payment is taken meanwhile).
    wechatpay: String,
    /// The paced upstream's API root.
    upstream: String,
    /// How many streams, each its own user, the widest level opens.
    users: usize,
}

/// A chatmall server on `backend` with `billing`, in front of the upstream, with one
/// funded user per stream; its gateway and its database.
async fn chatmall(
    setup: &Setup<'_>,
    backend: Backend,
    billing: Billing,
) -> anyhow::Result<(Gateway, infra::testing::TestDb)> {
    let (users, upstream) = (setup.users, &setup.upstream);
    let db = fresh(backend).await?;
    let models = ModelType::parse_list(MODEL)?;
    let sessions =
        chatmall::session::Sessions::new(crate::JWT_SECRET.as_bytes(), chrono::Duration::hours(24));
    let mut keys = Vec::with_capacity(users);
    for i in 0..users {
        let user = UserId::parse(&format!("oGateway{i:04}"))?;
        db.store
            .grant_quota(
                &user,
                10_000_000,
                &models,
                "bench_grant",
                user.as_str(),
                chrono::Utc::now(),
            )
            .await?;
        keys.push(Some(sessions.issue(&user, chrono::Utc::now())));
    }
    let name = format!(
        "chatmall {} {}",
        backend.name(),
        match billing {
            Billing::PerCall => "per call",
            Billing::PerToken => "per token",
        }
    );
    let here = setup.dir.join(name.replace(' ', "-"));
    std::fs::create_dir_all(&here)?;
    let mut config = format!(
        "[chat]\noffline_model = false\n\n[[chat.upstreams]]\nbase_url = \"{upstream}\"\napi_key = \"sk-bench\"\n"
    );
    if billing == Billing::PerToken {
        config.push_str(&format!(
            "\n[chat.models.\"{MODEL}\"]\nbilling = \"tokens\"\nprompt_price = 0.15\ncompletion_price = 0.6\n"
        ));
    }
    let config_path = here.join("chatmall.toml");
    std::fs::write(&config_path, config)?;
    let server = ServerProcess::start(
        setup.bin,
        &here,
        setup.world,
        &db.url,
        &setup.wechatpay,
        Some(&config_path),
        &[],
    )
    .await?;
    let gateway = Gateway {
        kind: Kind::Chatmall,
        name,
        url: format!("{}/v1/chat/completions", server.base_url),
        keys,
        pid: Some(server.pid()),
        _process: Some(Process::Chatmall { _server: server }),
    };
    Ok((gateway, db))
}

/// LiteLLM's proxy in front of `upstream` (from `bench/.venv-litellm`, made on first use),
/// once it answers; with its version.
async fn litellm(dir: &Path, upstream: &str, users: usize) -> anyhow::Result<(Gateway, String)> {
    let bin = crate::venv::bin_dir(
        ".venv-litellm",
        &["litellm[proxy]"],
        "import litellm.proxy.proxy_server",
    )?;
    let version = Command::new(bin.join("python"))
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('litellm'))",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let here = dir.join("litellm");
    std::fs::create_dir_all(&here)?;
    let config = format!(
        "model_list:\n  - model_name: {MODEL}\n    litellm_params:\n      model: openai/{MODEL}\n      api_base: {upstream}\n      api_key: sk-bench\ngeneral_settings:\n  master_key: {MASTER_KEY}\n"
    );
    std::fs::write(here.join("config.yaml"), config)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let log = std::fs::File::create(here.join("litellm.log"))?;
    let child = Command::new(bin.join("litellm"))
        .arg("--config")
        .arg(here.join("config.yaml"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("LITELLM_LOG", "ERROR")
        .env("NO_PROXY", "127.0.0.1")
        .current_dir(&here)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("start litellm")?;
    let pid = child.id();
    let process = Process::LiteLlm(child);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder().no_proxy().build()?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = http.get(format!("{base}/health/liveliness")).send().await
            && r.status().is_success()
        {
            break;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(here.join("litellm.log")).unwrap_or_default();
            bail!("LiteLLM did not come up; its log:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let gateway = Gateway {
        kind: Kind::LiteLlm,
        name: format!("LiteLLM {version}"),
        url: format!("{base}/v1/chat/completions"),
        keys: vec![Some(MASTER_KEY.to_owned()); users],
        pid: Some(pid),
        _process: Some(process),
    };
    Ok((gateway, version))
}

/// What part of benchmark 8 to run (the full run: everything).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--streams=64,256,1024`: the levels, instead of the run's own.
    levels: Option<Vec<usize>>,
    /// `--billing=call|token`: only chatmall with this billing.
    billing: Option<Billing>,
    /// `--no-litellm`: chatmall against direct only.
    no_litellm: bool,
}

impl Options {
    /// Reads the benchmark's own options from the command line.
    pub fn from_args(args: &[String]) -> anyhow::Result<Self> {
        let mut options = Self::default();
        for arg in args {
            if let Some(levels) = arg.strip_prefix("--streams=") {
                let levels = levels
                    .split(',')
                    .map(|n| {
                        n.parse::<usize>()
                            .with_context(|| format!("--streams={levels}"))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                anyhow::ensure!(levels.iter().all(|&n| n > 0), "--streams: at least 1");
                options.levels = Some(levels);
            } else if let Some(billing) = arg.strip_prefix("--billing=") {
                options.billing = Some(match billing {
                    "call" => Billing::PerCall,
                    "token" => Billing::PerToken,
                    other => bail!("--billing=call or --billing=token, not {other:?}"),
                });
            } else if arg == "--no-litellm" {
                options.no_litellm = true;
            }
        }
        Ok(options)
    }

    /// Whether the run leaves something out (its results are then not the full table).
    pub fn narrowed(&self) -> bool {
        self.levels.is_some() || self.billing.is_some() || self.no_litellm
    }
}

/// One gateway's figures at one level, beside direct's.
struct Measured<'a> {
    gateway: &'a Gateway,
    load: Load,
    /// Its RSS after the warm-up, with nothing open.
    warm_rss_kib: u64,
}

/// Runs benchmark 8.
pub async fn run(
    bin: &Path,
    dir: &Path,
    world: &World,
    backends: &[Backend],
    quick: bool,
    options: &Options,
) -> anyhow::Result<(Vec<Row>, Vec<String>)> {
    let levels: &[usize] = match &options.levels {
        Some(levels) => levels,
        None if quick => &[64, 256],
        None => &[64, 256, 1_024],
    };
    let per = if quick { 1 } else { 3 };
    let most = *levels.iter().max().expect("levels");
    let mut notes = Vec::new();
    let (upstream, upstream_runtime) = spawn_upstream()?;
    let direct = Gateway {
        kind: Kind::Direct,
        name: "direct".into(),
        url: format!("{upstream}/chat/completions"),
        keys: vec![None; most],
        pid: None,
        _process: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sandbox = world.sandbox.serve(listener);
    let setup = Setup {
        bin,
        dir,
        world,
        wechatpay: sandbox.base_url(),
        upstream: upstream.clone(),
        users: most,
    };
    let mut gateways = Vec::new();
    let mut databases = Vec::new();
    for &backend in backends {
        for billing in [Billing::PerCall, Billing::PerToken] {
            if options.billing.is_some_and(|only| only != billing) {
                continue;
            }
            let (gateway, db) = chatmall(&setup, backend, billing).await?;
            gateways.push(gateway);
            databases.push(db);
        }
    }
    let litellm = match options.no_litellm {
        true => None,
        false => match litellm(dir, &upstream, most).await {
            Ok((gateway, _)) => Some(gateway),
            Err(e) => {
                notes.push(format!("8 gateway: LiteLLM not measured: {e:#}"));
                None
            }
        },
    };
    let rss_now = |gateways: &[&Gateway]| -> Vec<u64> {
        gateways.iter().map(|g| g.pid.map_or(0, rss_kib)).collect()
    };
    let all: Vec<&Gateway> = gateways.iter().chain(litellm.iter()).collect();
    let idle = rss_now(&all);
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(2 * most)
        .timeout(Duration::from_secs(300))
        .build()?;
    // One answer's length, to spread the starts over: CHUNKS gaps of 35 ms on average.
    let answer_time = Duration::from_millis(35 * CHUNKS as u64);
    // Warm every path (connections, pools, statement caches, the tokenizer) once.
    for gateway in std::iter::once(&direct)
        .chain(&gateways)
        .chain(litellm.iter())
    {
        load(&http, gateway, 64.min(most), 1, Duration::ZERO).await?;
    }
    // What each holds with nothing open: the base its open streams add to.
    let warm = rss_now(&all);

    let mut rows = Vec::new();
    for &k in levels {
        println!("    {k} streams");
        let base = load(&http, &direct, k, per, answer_time).await?;
        let mut measured = Vec::new();
        for (i, gateway) in all.iter().enumerate() {
            // LiteLLM serves a few answers a second whatever k is: one answer per stream
            // is enough to measure it, and keeps the 1,024 level within minutes.
            let per = if gateway.kind == Kind::LiteLlm {
                1
            } else {
                per
            };
            let load = load(&http, gateway, k, per, answer_time).await?;
            if load.failed > 0 {
                notes.push(format!(
                    "8 gateway: {} at {k} streams: {} of {} calls failed, the first with: {}",
                    gateway.name,
                    load.failed,
                    load.failed + load.completed,
                    load.first_error.as_deref().unwrap_or("?")
                ));
            }
            measured.push(Measured {
                gateway,
                load,
                warm_rss_kib: warm[i],
            });
        }
        rows.extend(level_rows(k, &base, &measured));
    }
    for (i, gateway) in all.iter().enumerate() {
        rows.push(Row::info(
            BENCH,
            format!("{}: RSS idle at start / after warming", gateway.name),
            format!(
                "{:.1} MiB / {:.1} MiB",
                idle[i] as f64 / 1024.0,
                warm[i] as f64 / 1024.0
            ),
        ));
    }
    upstream_runtime.shutdown_background();
    drop(databases);
    Ok((rows, notes))
}

/// The rows of one level: each gateway's added TTFB, streams/s, peak RSS and CPU.
fn level_rows(k: usize, base: &Load, measured: &[Measured]) -> Vec<Row> {
    let added = |load: &Load, q: f64| load.ttfb.quantile(q).saturating_sub(base.ttfb.quantile(q));
    let litellm = measured.iter().find(|m| m.gateway.kind == Kind::LiteLlm);
    let mut rows = Vec::new();
    for m in measured {
        let (name, load) = (&m.gateway.name, &m.load);
        let is_chatmall = m.gateway.kind == Kind::Chatmall;
        let mut ttfb = Row::info(
            BENCH,
            format!(
                "{name}, {k} streams: added TTFB p50 / p99 ({} calls)",
                load.ttfb.len()
            ),
            format!("{} / {}", ms(added(load, 0.5)), ms(added(load, 0.99))),
        );
        match litellm.filter(|_| is_chatmall) {
            Some(l) => {
                let theirs = added(&l.load, 0.5);
                ttfb = ttfb
                    .vs(
                        format!("LiteLLM {} / {}", ms(theirs), ms(added(&l.load, 0.99))),
                        added(load, 0.5).as_secs_f64() / theirs.as_secs_f64().max(1e-9),
                    )
                    .target(
                        format!("p50 ≤ {SHARE_OF_LITELLM} × LiteLLM's"),
                        added(load, 0.5).as_secs_f64() <= SHARE_OF_LITELLM * theirs.as_secs_f64(),
                    );
            }
            None => {
                ttfb = ttfb.vs(
                    format!("direct TTFB p50 {}", ms(base.ttfb.p50())),
                    load.ttfb.p50().as_secs_f64() / base.ttfb.p50().as_secs_f64().max(1e-9),
                );
            }
        }
        rows.push(ttfb);
        if is_chatmall && k == 1_024 {
            rows.push(
                Row::info(
                    BENCH,
                    format!("{name}, 1024 streams: added TTFB p50 on its own"),
                    ms(added(load, 0.5)),
                )
                .target(
                    format!("< {}", ms(ADDED_TTFB)),
                    added(load, 0.5) < ADDED_TTFB,
                ),
            );
        }
        let share = load.streams_per_sec() / base.streams_per_sec();
        let mut streams = Row::info(
            BENCH,
            format!("{name}, {k} streams: completed streams/s"),
            format!("{:.1}", load.streams_per_sec()),
        )
        .vs(format!("direct {:.1}", base.streams_per_sec()), share);
        if is_chatmall && k == 1_024 {
            streams = streams.target(
                format!("≥ {STREAMS_SHARE} × direct"),
                share >= STREAMS_SHARE,
            );
        }
        rows.push(streams);
        let added_kib = load.peak_rss_kib.saturating_sub(m.warm_rss_kib);
        let mut memory = Row::info(
            BENCH,
            format!("{name}, {k} streams: peak RSS, ÷ {k}, and (peak − warm idle) ÷ {k}"),
            format!(
                "{:.1} MiB, {:.1} KiB, {:.1} KiB per open stream",
                load.peak_rss_kib as f64 / 1024.0,
                load.peak_rss_kib as f64 / k as f64,
                added_kib as f64 / k as f64
            ),
        );
        if let Some(l) = litellm.filter(|_| is_chatmall) {
            memory = memory.vs(
                format!("LiteLLM {:.1} MiB", l.load.peak_rss_kib as f64 / 1024.0),
                load.peak_rss_kib as f64 / (l.load.peak_rss_kib as f64).max(1.0),
            );
        }
        rows.push(memory);
        let per_thousand =
            |cpu: Duration| cpu.as_secs_f64() * 1_000.0 / load.completed.max(1) as f64;
        rows.push(Row::info(
            BENCH,
            format!("{name}, {k} streams: CPU s per 1,000 streams: gateway / upstream / client"),
            format!(
                "{:.2} / {:.2} / {:.2} (gateway {:.0}% of a core)",
                per_thousand(load.gateway_cpu),
                per_thousand(load.upstream_cpu),
                per_thousand(load.client_cpu),
                100.0 * load.gateway_cpu.as_secs_f64() / load.wall.as_secs_f64()
            ),
        ));
    }
    rows
}
