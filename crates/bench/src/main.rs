//! chatmall's benchmark suite. `cargo run --release -p chatmall-bench [-- --quick]` prints
//! a table and writes it, with the machine it ran on, to `bench/RESULTS.md`.
//!
//! Every figure is paired with a baseline measured in the same run, so ratios stay
//! meaningful on a small, noisy machine where absolute numbers drift.

mod chat;
mod checkout;
mod crypto;
mod fixtures;
mod gateway;
mod jobs;
mod machine;
mod notify;
mod peer;
mod report;
mod server;
mod stats;
mod venv;

use fixtures::{Backend, World};
use report::Report;
use std::time::Instant;

/// The session secret the benchmark's servers share.
pub const JWT_SECRET: &str = "chatmall-bench-secret-0123456789abcdef";
/// PostgreSQL for the PostgreSQL runs, unless CHATMALL_TEST_POSTGRES_URL says otherwise.
const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let no_postgres = args.iter().any(|a| a == "--no-postgres");
    let only: Vec<String> = args
        .iter()
        .filter_map(|a| a.strip_prefix("--only="))
        .flat_map(|s| s.split(',').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let gateway = gateway::Options::from_args(&args)?;
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "chatmall-bench [--quick] [--no-postgres] [--only=crypto,peer,notify,checkout,jobs,chat,gateway]\n\
             \x20              [--streams=64,256,1024] [--billing=call|token] [--no-litellm]\n\
             The full run writes bench/RESULTS.md; --quick, --only or a gateway option write bench/out/ instead."
        );
        return Ok(());
    }
    if std::env::var(infra::testing::POSTGRES_URL_VAR).is_err() && !no_postgres {
        // SAFETY: still single-threaded; no runtime or other thread exists yet.
        unsafe { std::env::set_var(infra::testing::POSTGRES_URL_VAR, DEFAULT_POSTGRES) };
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(quick, no_postgres, &only, &gateway))
}

async fn run(
    quick: bool,
    no_postgres: bool,
    only: &[String],
    gateway: &gateway::Options,
) -> anyhow::Result<()> {
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    // Built (or found fresh) before the clock starts: a build is not part of the run.
    let bin = if wanted("notify") || wanted("gateway") {
        Some(server::binary()?)
    } else {
        None
    };
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    let world = World::new(dir.path())?;
    let notice = world.notice()?;
    let mut backends = vec![Backend::Sqlite];
    if !no_postgres {
        backends.push(Backend::Postgres);
    }
    let mut report = Report::default();
    println!("chatmall-bench{}", if quick { " --quick" } else { "" });

    if wanted("crypto") {
        println!("5 crypto ({:.0} s in)", started.elapsed().as_secs_f64());
        report.add(crypto::run(&world, &notice, quick));
    }
    if wanted("peer") {
        println!("6 peer ({:.0} s in)", started.elapsed().as_secs_f64());
        match peer::run(&notice, &world.keys_dir, quick) {
            Ok(rows) => report.add(rows),
            Err(e) => report.note(format!("6 peer not measured: {e:#}")),
        }
    }
    if wanted("notify") {
        println!(
            "1 notify, 7 memory ({:.0} s in)",
            started.elapsed().as_secs_f64()
        );
        for &backend in &backends {
            let bin = bin.as_deref().expect("built above when notify is wanted");
            let rows = notify::run(bin, dir.path(), &world, backend, quick).await?;
            report.add(rows);
        }
    }
    if wanted("checkout") {
        println!("2 checkout ({:.0} s in)", started.elapsed().as_secs_f64());
        report.add(checkout::run(dir.path(), &world, quick).await?);
    }
    if wanted("jobs") {
        println!("3 jobs ({:.0} s in)", started.elapsed().as_secs_f64());
        let (small, big, reps) = if quick {
            (10_000, 100_000, 2)
        } else {
            (10_000, 1_000_000, 5)
        };
        for &backend in &backends {
            report.add(jobs::run(&world, backend, small, big, reps).await?);
        }
    }
    if wanted("chat") {
        println!("4 chat ({:.0} s in)", started.elapsed().as_secs_f64());
        for &backend in &backends {
            report.add(chat::run(dir.path(), &world, backend, quick).await?);
        }
    }
    if wanted("gateway") {
        println!(
            "8 gateway vs LiteLLM ({:.0} s in)",
            started.elapsed().as_secs_f64()
        );
        let bin = bin.as_deref().expect("built above when gateway is wanted");
        let (rows, notes) =
            gateway::run(bin, dir.path(), &world, &backends, quick, gateway).await?;
        report.add(rows);
        for note in notes {
            report.note(note);
        }
    }
    let elapsed = started.elapsed();
    write_results(
        &report,
        quick,
        !only.is_empty() || gateway.narrowed(),
        elapsed,
    )?;
    println!("done in {:.0} s", elapsed.as_secs_f64());
    Ok(())
}

/// Writes the report: the full run to `bench/RESULTS.md` (committed), a quick or partial
/// run to `bench/out/` (ignored), so a smoke or debugging run never replaces the results.
fn write_results(
    report: &Report,
    quick: bool,
    partial: bool,
    elapsed: std::time::Duration,
) -> anyhow::Result<()> {
    let bench = peer::repo_root().join("bench");
    let path = match (quick, partial) {
        (false, false) => bench.join("RESULTS.md"),
        (true, _) => bench.join("out/RESULTS-quick.md"),
        (false, true) => bench.join("out/RESULTS-partial.md"),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut text = format!(
        "# chatmall benchmark results{}\n\nWritten by `cargo run --release -p chatmall-bench{}` in {:.0} s. \
         Each figure is paired with a baseline measured in the same run; the ratio is ours ÷ baseline.\n\n\
         ## Machine\n\n{}\n## Results\n\n{}\n",
        if quick { " (quick smoke run)" } else { "" },
        if quick { " -- --quick" } else { "" },
        elapsed.as_secs_f64(),
        machine::describe(),
        report.table(),
    );
    text.push_str(
        &std::fs::read_to_string(peer::repo_root().join("bench/NOTES.md")).unwrap_or_default(),
    );
    if !report.notes.is_empty() {
        text.push_str("\n## Notes from this run\n\n");
        for note in &report.notes {
            text.push_str(&format!("- {note}\n"));
        }
    }
    std::fs::write(&path, text)?;
    println!("wrote {}", path.canonicalize().unwrap_or(path).display());
    Ok(())
}
