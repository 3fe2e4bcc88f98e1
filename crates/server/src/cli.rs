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
    /// Operator accounts for the console at `/admin`.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Print a session token for a user (development: the login flow comes later).
    Token {
        /// The user's openid.
        #[arg(long)]
        user: String,
    },
}

/// Operator sub-commands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an operator account (asks for the password; or reads it from standard input
    /// when that is not a terminal).
    Create {
        /// The login name (a-z, 0-9, '.', '_', '-').
        #[arg(long)]
        user: String,
        /// `admin` acts; `viewer` only sees.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Give an existing account this password and role (ending its sessions).
        #[arg(long)]
        reset: bool,
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
        Command::Admin {
            command: AdminCommand::Create { user, role, reset },
        } => runtime.block_on(create_operator(settings, &user, &role, reset)),
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

async fn create_operator(
    settings: Settings,
    user: &str,
    role: &str,
    reset: bool,
) -> anyhow::Result<()> {
    use domain::operator::{OperatorName, Password, Role};
    let name = OperatorName::parse(user)?;
    let role = Role::parse(role)?;
    let password = Password::new(read_password()?)?;
    let clock: std::sync::Arc<dyn domain::ports::Clock> =
        std::sync::Arc::new(domain::clock::SystemClock);
    let parsed = settings.parse(None)?;
    let store =
        std::sync::Arc::new(crate::startup::open_database(&settings, clock.as_ref()).await?);
    let console = crate::startup::console(&store, &parsed, &clock);
    let saved = console.save_operator(&name, role, &password, reset).await?;
    let done = match saved {
        domain::service::Saved::Created => "created",
        domain::service::Saved::Reset => "reset (its sessions ended)",
    };
    println!("operator {name} ({}) {done}", role.as_str());
    Ok(())
}

/// The new password: typed twice at a terminal, or the first line of standard input.
fn read_password() -> anyhow::Result<String> {
    use std::io::{BufRead as _, IsTerminal as _};
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("password (12 or more characters): ")?;
        let again = rpassword::prompt_password("again: ")?;
        anyhow::ensure!(first == again, "the two passwords differ");
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
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
