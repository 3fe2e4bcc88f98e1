//! Opening the database: backend from the URL, per-connection SQLite settings, migrations,
//! and the demo catalog.

use super::checkpoint::{BACKSTOP_AUTOCHECKPOINT_PAGES, Checkpointer};
use super::entities::product;
use super::file::DatabaseFile;
use super::lane::WriteLane;
use super::{SeaStore, millis};
use crate::migration::Migrator;
use anyhow::Context as _;
use chrono::Utc;
use sea_orm::sqlx::ConnectOptions as _;
use sea_orm::sqlx::Connection as _;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ActiveValue::Set, ConnectOptions, Database, EntityTrait, PaginatorTrait};
use sea_orm_migration::MigratorTrait;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::Duration;

/// How long an SQLite connection waits for another's write lock before failing.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// SQLite has one writer at a time. With several writing connections, a writer that finds
/// the lock taken sleeps in SQLite's busy handler (1, 2, 5 … 100 ms steps) even when the lock
/// is freed a microsecond later; one connection makes writers queue on the pool instead and
/// wake as soon as it is free. bench 1 (notify, K = 64) measured 795/s with 8 connections
/// and 1714/s with one, p99 83 → 45 ms.
const SQLITE_WRITE_CONNECTIONS: u32 = 1;

/// A pooled connection to PostgreSQL or MySQL idle this long is pinged before it is handed
/// out (the server, a proxy or a firewall may have dropped it meanwhile); a busier one is
/// not. By default every checkout pings, one more round trip before each statement: under
/// 1,024 open streams (bench 8) each round trip waits for a core. SQLite's connections are
/// to a file, which nobody drops, so they are never pinged.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// How many connections a pool of the store opens: to PostgreSQL or MySQL (once for
/// everything, once more for the chat's writes on the write lane), to SQLite for reads
/// beside the one writer (`query_only`; in WAL mode they never wait for the writer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSize(u32);

impl PoolSize {
    /// `n` connections; 0 means [`PoolSize::for_this_machine`].
    pub fn new(n: u32) -> PoolSize {
        if n == 0 {
            PoolSize::for_this_machine()
        } else {
            PoolSize(n)
        }
    }

    /// 2 × CPU cores + 1, PostgreSQL's rule of thumb. More connections than the cores can
    /// serve only adds contention: bench 4 (64 chat streams on 2 cores, PostgreSQL on the
    /// same machine) measured time to first byte p50 ≈ 4 ms with 4–5 connections and ≈ 11 ms
    /// with 10 (sqlx's default) or 32.
    pub fn for_this_machine() -> PoolSize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        PoolSize(u32::try_from(2 * cores + 1).unwrap_or(u32::MAX))
    }

    /// The number of connections.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for PoolSize {
    fn default() -> Self {
        PoolSize::for_this_machine()
    }
}

/// What opening an SQLite file that does not exist does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMissing {
    /// Create it (and its directory): a new, empty database.
    Create,
    /// Refuse with an error naming the path: a lost database is not a fresh install.
    Refuse,
}

impl SeaStore {
    /// Opens `url` (`sqlite://path`, `postgres://…`) and brings the schema up to date.
    ///
    /// An SQLite file and its directory are created when missing; every SQLite connection
    /// runs in WAL mode with a 5 s busy timeout, `synchronous=NORMAL` and foreign keys on,
    /// and a background task checkpoints the WAL (see [`super::checkpoint`]). Reads on their
    /// own use a pool of read-only connections beside the one writing connection.
    pub async fn connect(url: &str) -> anyhow::Result<SeaStore> {
        SeaStore::connect_with(url, PoolSize::default()).await
    }

    /// [`SeaStore::connect`] with `pool` connections (see [`PoolSize`]).
    pub async fn connect_with(url: &str, pool: PoolSize) -> anyhow::Result<SeaStore> {
        SeaStore::open(url, pool, IfMissing::Create).await
    }

    /// [`SeaStore::connect_with`], saying what a missing SQLite file means. Only this first
    /// open may create the file: the pools never do, so a file removed under a running
    /// server is not silently replaced by an empty one.
    pub async fn open(
        url: &str,
        pool: PoolSize,
        if_missing: IfMissing,
    ) -> anyhow::Result<SeaStore> {
        if let Some(path) = sqlite_path(url)
            && !Path::new(path).exists()
        {
            if if_missing == IfMissing::Refuse {
                anyhow::bail!("there is no database at {path}");
            }
            create_parent_dir(url)?;
            let created = SqliteConnectOptions::from_str(url)
                .with_context(|| format!("parse {}", redact(url)))?
                .create_if_missing(true)
                .connect()
                .await
                .with_context(|| format!("create the database {path}"))?;
            created.close().await.ok();
        }
        let db = Database::connect(pool_options(url, pool))
            .await
            .with_context(|| format!("connect to {}", redact(url)))?;
        if is_mysql(url) {
            // Text compares byte for byte on every backend: openids, model names and
            // codes are case-sensitive, and MySQL's default collation is not. Tables are
            // created by the migrations below, so they take this default.
            use sea_orm::ConnectionTrait as _;
            db.execute_unprepared("ALTER DATABASE CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
                .await
                .context("make the MySQL database compare text exactly (utf8mb4_bin)")?;
        }
        Migrator::up(&db, None)
            .await
            .context("run database migrations")?;
        let (reads, checkpointer, file, lane) = match sqlite_path(url) {
            Some(path) => {
                let mut options = ConnectOptions::new(url.to_owned());
                options
                    .sqlx_logging(false)
                    .test_before_acquire(false)
                    .max_connections(pool.get())
                    .map_sqlx_sqlite_opts(|o| sqlite_options(o).pragma("query_only", "ON"));
                let reads = Database::connect(options)
                    .await
                    .with_context(|| format!("open read connections to {}", redact(url)))?;
                let options = SqliteConnectOptions::from_str(url)
                    .with_context(|| format!("parse {}", redact(url)))?;
                let checkpointer = Checkpointer::start(sqlite_options(options)).await?;
                let file = DatabaseFile::open(PathBuf::from(path))?;
                let lane = WriteLane::with_connection(db.clone())
                    .context("start the SQLite write lane")?;
                (
                    reads,
                    Some(checkpointer),
                    Some(std::sync::Arc::new(file)),
                    Some(lane),
                )
            }
            // An in-memory SQLite database exists only on its one connection.
            None if is_sqlite(url) => (db.clone(), None, None, None),
            // PostgreSQL's and MySQL's pool serves reads and writes alike; the chat's writes
            // have a pool of their own on the lane.
            None => {
                let lane = WriteLane::with_pool(pool_options(url, pool))
                    .await
                    .with_context(|| format!("open the write lane's pool to {}", redact(url)))?;
                (db.clone(), None, None, Some(lane))
            }
        };
        Ok(SeaStore {
            db,
            reads,
            _checkpointer: checkpointer,
            file,
            lane,
        })
    }

    /// Fills an empty catalog with four demo packages; true if it did.
    pub async fn seed_demo_products_if_empty(&self) -> anyhow::Result<bool> {
        let count = product::Entity::find()
            .count(&self.db)
            .await
            .context("count products")?;
        if count > 0 {
            return Ok(false);
        }
        let now = millis(Utc::now());
        // The original's model names (its front-end's default is chatglm_turbo) beside
        // today's, so the original front-end works on a fresh start; `[chat.models]` maps
        // the old names to current models.
        let base = "chatglm_turbo,gpt-3.5-turbo,gpt-3.5-turbo-16k,gpt-4o-mini";
        let plus = format!("{base},chatglm_pro,chatglm_std,dall-e-3,gpt-4,gpt-4o");
        let pro = format!("{plus},dall-e-2,gpt-4-32k,o3-mini");
        let demo = [
            (
                1001,
                "体验包 Trial",
                "10 次对话，先试试看",
                10,
                base.to_owned(),
                99,
            ),
            (
                1002,
                "标准包 Standard",
                "100 次对话，日常够用",
                100,
                format!("{base},chatglm_std"),
                990,
            ),
            (
                1003,
                "进阶包 Plus",
                "500 次对话，含 gpt-4 / gpt-4o 与绘图 dall-e-3",
                500,
                plus,
                3900,
            ),
            (
                1004,
                "专业包 Pro",
                "2000 次对话，含 gpt-4o、o3-mini 与绘图",
                2000,
                pro,
                12900,
            ),
        ];
        let rows = demo.into_iter().zip(1..).map(
            |((id, name, description, quota, models, price), sort)| product::ActiveModel {
                id: Set(id),
                name: Set(name.to_owned()),
                description: Set(description.to_owned()),
                quota: Set(quota),
                model_types: Set(models.to_owned()),
                price: Set(price),
                sort: Set(sort),
                enabled: Set(true),
                created_at: Set(now),
                updated_at: Set(now),
            },
        );
        // Another instance seeding at the same moment is harmless: existing ids are skipped.
        product::Entity::insert_many(rows)
            .on_conflict_do_nothing()
            .exec_without_returning(&self.db)
            .await
            .context("seed demo products")?;
        Ok(true)
    }
}

/// The pool's settings for `url`: `pool` connections (SQLite: the one writer), and what
/// each connection is set to when it opens.
fn pool_options(url: &str, pool: PoolSize) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_owned());
    // Statement logging at INFO would drown the service's own logs.
    options.sqlx_logging(false);
    if is_sqlite(url) {
        options.test_before_acquire(false);
    } else {
        options.test_before_acquire_if_idle_for(PING_IF_IDLE_FOR);
    }
    if is_mysql(url) {
        options.max_connections(pool.get());
        // PostgreSQL's isolation: a plain read in a transaction sees what committed
        // before it (REPEATABLE READ, MySQL's default, would read a snapshot from the
        // transaction's first read and miss an account a concurrent delivery created).
        options.map_sqlx_mysql_opts(|o| o.charset("utf8mb4").collation("utf8mb4_bin"));
        options.map_sqlx_mysql_pool_opts(|pool| {
            pool.after_connect(|connection, _| {
                Box::pin(async move {
                    use sea_orm::sqlx::Executor as _;
                    connection
                        .execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                        .await?;
                    Ok(())
                })
            })
        });
    } else if is_sqlite(url) {
        options.max_connections(SQLITE_WRITE_CONNECTIONS);
        // Pragmas are per connection, so they go in the connect options, not one query.
        options.map_sqlx_sqlite_opts(sqlite_options);
    } else {
        options.max_connections(pool.get());
    }
    options
}

/// The per-connection SQLite settings.
fn sqlite_options(options: SqliteConnectOptions) -> SqliteConnectOptions {
    options
        .create_if_missing(false)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .pragma(
            "wal_autocheckpoint",
            BACKSTOP_AUTOCHECKPOINT_PAGES.to_string(),
        )
}

fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

fn is_mysql(url: &str) -> bool {
    url.starts_with("mysql:") || url.starts_with("mariadb:")
}

/// The file an SQLite URL names, if it names one (not for in-memory or other databases).
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    sqlite_path(url).map(PathBuf::from)
}

/// The file path of an SQLite URL, if it names a file.
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// SQLite creates a missing file but not a missing directory.
fn create_parent_dir(url: &str) -> anyhow::Result<()> {
    if let Some(parent) = sqlite_path(url).and_then(|path| Path::new(path).parent())
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("create directory {}", parent.display()))?;
    }
    Ok(())
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_and_redaction() {
        assert_eq!(
            sqlite_path("sqlite://data/shop.db?mode=rwc"),
            Some("data/shop.db")
        );
        assert_eq!(sqlite_path("sqlite:///tmp/x.db"), Some("/tmp/x.db"));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x"), None);
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[tokio::test]
    async fn sqlite_reads_use_query_only_connections_beside_the_writer() -> anyhow::Result<()> {
        use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
        async fn query_only(db: &DatabaseConnection) -> anyhow::Result<i64> {
            let row = db
                .query_one_raw(Statement::from_string(
                    DbBackend::Sqlite,
                    "PRAGMA query_only",
                ))
                .await?
                .context("a pragma row")?;
            Ok(row.try_get_by_index::<i64>(0)?)
        }
        let dir = tempfile::tempdir()?;
        let store =
            SeaStore::connect(&format!("sqlite://{}/shop.db", dir.path().display())).await?;
        assert_eq!(query_only(&store.db).await?, 0);
        assert_eq!(query_only(&store.reads).await?, 1);
        // A committed write is visible to the next read on the other pool.
        assert!(store.seed_demo_products_if_empty().await?);
        let seen = product::Entity::find().count(&store.reads).await?;
        assert_eq!(seen, 4);
        Ok(())
    }
}
