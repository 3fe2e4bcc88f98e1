//! The command line: serve (the default), run the sandbox alone, write sandbox keys, mint a
//! development session token.

use crate::config::Settings;
use crate::startup::Application;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

/// chatmall: buy chat quota with WeChat Pay, then chat.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// Configuration file (optional; environment variables CHATMALL__SECTION__KEY override it).
    #[arg(long, global = true, default_value = "chatmall.toml")]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the shop (the default).
    Serve {
        /// Begin with a new, empty database although the data folder holds an earlier
        /// run's secrets (after the database was lost, on purpose).
        #[arg(long)]
        new_database: bool,
    },
    /// The built-in WeChat Pay sandbox.
    Sandbox {
        #[command(subcommand)]
        command: Option<SandboxCommand>,
        /// Port to serve the sandbox on, when run alone.
        #[arg(long, default_value_t = 8090)]
        port: u16,
    },
    /// Print a session token for a user (development: the login flow comes later).
    Token {
        /// The user's openid.
        #[arg(long)]
        user: String,
    },
}

/// Sandbox sub-commands.
#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Write a key set that this shop and any other WeChat Pay SDK can load.
    Keys {
        /// Target directory.
        #[arg(long)]
        dir: PathBuf,
    },
}

/// Parses the command line and runs it.
pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(&cli.config)?;
    crate::telemetry::init(settings.log.format);
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command.unwrap_or(Command::Serve {
        new_database: false,
    }) {
        Command::Serve { new_database } => {
            let mut settings = settings;
            settings.database.create_new |= new_database;
            runtime.block_on(serve(settings))
        }
        Command::Sandbox {
            command: Some(SandboxCommand::Keys { dir }),
            ..
        } => {
            let keys = wechatpay_sandbox::KeySet::generate();
            keys.write_to(&dir)
                .with_context(|| format!("write keys to {}", dir.display()))?;
            println!(
                "wrote a sandbox key set to {} (mchid {}, appid {})",
                dir.display(),
                keys.mchid,
                keys.appid
            );
            Ok(())
        }
        Command::Sandbox {
            command: None,
            port,
        } => runtime.block_on(sandbox_alone(settings, port)),
        Command::Token { user } => {
            let user = domain::user::UserId::parse(&user)?;
            let secret = if settings.auth.jwt_secret.is_empty() {
                crate::secrets::load_or_create(&settings.server.data_dir.join("jwt_secret"))?
            } else {
                settings.auth.jwt_secret.expose().to_owned()
            };
            let sessions = crate::session::Sessions::new(
                secret.as_bytes(),
                chrono::Duration::days(settings.auth.token_ttl_days),
            );
            println!("{}", sessions.issue(&user, chrono::Utc::now()));
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    let stop = CancellationToken::new();
    tokio::spawn(cancel_on_signal(stop.clone()));
    app.run_until_stopped(stop).await
}

async fn sandbox_alone(settings: Settings, port: u16) -> anyhow::Result<()> {
    let dir = settings.sandbox_keys_dir();
    let keys = crate::startup::sandbox_keys(&settings)?;
    let sandbox = wechatpay_sandbox::Sandbox::new(crate::startup::sandbox_config(&settings, keys))?;
    let listener = tokio::net::TcpListener::bind((settings.server.host.as_str(), port)).await?;
    let handle = sandbox.serve(listener);
    tracing::info!(
        url = %handle.base_url(),
        keys = %dir.display(),
        signing = ?settings.sandbox.signing,
        "WeChat Pay sandbox listening"
    );
    let stop = CancellationToken::new();
    cancel_on_signal(stop.clone()).await;
    handle.shutdown().await;
    Ok(())
}

/// Cancels `stop` on Ctrl-C or SIGTERM.
async fn cancel_on_signal(stop: CancellationToken) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("stopping");
    stop.cancel();
}
