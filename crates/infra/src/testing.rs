//! Fresh, isolated databases for tests (this crate's and the server's).
//!
//! SQLite runs always, on a temporary file (not `:memory:`, so WAL and several connections
//! behave as in production). PostgreSQL runs when [`POSTGRES_URL_VAR`] names a server, MySQL
//! (or MariaDB) when [`MYSQL_URL_VAR`] does: each [`TestDb`] gets its own newly created
//! database, dropped again when the `TestDb` is.

use crate::store::SeaStore;
use anyhow::Context as _;
use sea_orm::{ConnectionTrait, Database};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The environment variable naming a PostgreSQL server for tests, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub const POSTGRES_URL_VAR: &str = "CHATMALL_TEST_POSTGRES_URL";

/// The environment variable naming a MySQL or MariaDB server for tests, e.g.
/// `mysql://root@127.0.0.1:3306/test`.
pub const MYSQL_URL_VAR: &str = "CHATMALL_TEST_MYSQL_URL";

/// A migrated, empty database for one test; cleaned up on drop.
pub struct TestDb {
    /// The store over it.
    pub store: SeaStore,
    /// Its URL, for code that opens the database itself.
    pub url: String,
    /// `sqlite`, `postgres` or `mysql`, for assertion messages.
    pub backend: &'static str,
    // Dropped after `store`, so the database goes once nothing uses it.
    _guard: Guard,
}

/// What a [`TestDb`] cleans up; held only to be dropped.
#[allow(dead_code, reason = "the fields are held for their Drop")]
enum Guard {
    Sqlite(tempfile::TempDir),
    Server(DropDatabase),
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb")
            .field("backend", &self.backend)
            .field("url", &self.url)
            .finish()
    }
}

/// A fresh SQLite database in a temporary directory.
pub async fn fresh_sqlite() -> anyhow::Result<TestDb> {
    let dir = tempfile::tempdir().context("create a temporary directory")?;
    let url = format!("sqlite://{}", dir.path().join("chatmall.db").display());
    let store = SeaStore::connect(&url).await?;
    Ok(TestDb {
        store,
        url,
        backend: "sqlite",
        _guard: Guard::Sqlite(dir),
    })
}

/// A fresh PostgreSQL database on the server [`POSTGRES_URL_VAR`] names, or `None` (saying
/// so on stderr, once per test binary) when it is unset.
pub async fn fresh_postgres() -> anyhow::Result<Option<TestDb>> {
    fresh_on_server(Server::Postgres).await
}

/// A fresh MySQL database on the server [`MYSQL_URL_VAR`] names, or `None` (saying so on
/// stderr, once per test binary) when it is unset.
pub async fn fresh_mysql() -> anyhow::Result<Option<TestDb>> {
    fresh_on_server(Server::Mysql).await
}

/// A database server tests create their databases on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Postgres,
    Mysql,
}

impl Server {
    fn var(self) -> &'static str {
        match self {
            Server::Postgres => POSTGRES_URL_VAR,
            Server::Mysql => MYSQL_URL_VAR,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Server::Postgres => "postgres",
            Server::Mysql => "mysql",
        }
    }

    /// `name` quoted as an identifier of this server's SQL.
    fn quote(self, name: &str) -> String {
        match self {
            Server::Postgres => format!("\"{name}\""),
            Server::Mysql => format!("`{name}`"),
        }
    }

    fn drop_statement(self, name: &str) -> String {
        match self {
            // FORCE ends the test's pooled connections still open to it.
            Server::Postgres => {
                format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.quote(name))
            }
            Server::Mysql => format!("DROP DATABASE IF EXISTS {}", self.quote(name)),
        }
    }
}

async fn fresh_on_server(server: Server) -> anyhow::Result<Option<TestDb>> {
    let Ok(admin_url) = std::env::var(server.var()) else {
        static SAID_POSTGRES: std::sync::Once = std::sync::Once::new();
        static SAID_MYSQL: std::sync::Once = std::sync::Once::new();
        let said = match server {
            Server::Postgres => &SAID_POSTGRES,
            Server::Mysql => &SAID_MYSQL,
        };
        // Straight to stderr, past the test harness's capture (which hides println! of a
        // passing test), so a skip is never silent; CI must not skip.
        said.call_once(|| {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {} runs: {} is not set (SQLite ran)",
                server.name(),
                server.var()
            );
        });
        anyhow::ensure!(
            std::env::var_os("CI").is_none(),
            "CI must run the {} tests: set {}",
            server.name(),
            server.var()
        );
        return Ok(None);
    };
    let name = unique_name();
    let admin = Database::connect(admin_url.as_str())
        .await
        .with_context(|| format!("connect to the test {} server", server.name()))?;
    // CREATE DATABASE has no query-builder form; the name is ours and quoted.
    admin
        .execute_unprepared(&format!("CREATE DATABASE {}", server.quote(&name)))
        .await
        .with_context(|| format!("create test database {name}"))?;
    admin.close().await.ok();
    let guard = DropDatabase {
        admin_url: admin_url.clone(),
        name: name.clone(),
        server,
    };
    let url = with_database(&admin_url, &name);
    let store = SeaStore::connect(&url).await?;
    Ok(Some(TestDb {
        store,
        url,
        backend: server.name(),
        _guard: Guard::Server(guard),
    }))
}

/// Every backend available: SQLite always, PostgreSQL and MySQL when configured.
pub async fn backends() -> anyhow::Result<Vec<TestDb>> {
    let mut all = vec![fresh_sqlite().await?];
    all.extend(fresh_postgres().await?);
    all.extend(fresh_mysql().await?);
    Ok(all)
}

/// A database name no other test (or test process) uses.
fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("chatmall_test_{}_{nanos}_{n}", std::process::id())
}

/// `url` with its database path replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// Drops a test database, best-effort, when the test is done with it.
struct DropDatabase {
    admin_url: String,
    name: String,
    server: Server,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let (admin_url, name, server) = (self.admin_url.clone(), self.name.clone(), self.server);
        let statement = server.drop_statement(&name);
        // Drop cannot await, and may run inside a runtime: use a thread with its own.
        let dropped = std::thread::spawn(move || -> anyhow::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let admin = Database::connect(admin_url.as_str()).await?;
                if server == Server::Mysql {
                    // MySQL has no DROP … FORCE: end the test's pooled connections first,
                    // or one holding a transaction blocks the drop on its metadata lock.
                    let sessions = admin
                        .query_all_raw(sea_orm::Statement::from_sql_and_values(
                            sea_orm::DbBackend::MySql,
                            "SELECT id FROM information_schema.processlist WHERE db = ?",
                            [name.clone().into()],
                        ))
                        .await?;
                    for session in sessions {
                        let id: u64 = session.try_get_by_index(0)?;
                        admin.execute_unprepared(&format!("KILL {id}")).await.ok();
                    }
                }
                admin.execute_unprepared(&statement).await?;
                admin.close().await?;
                anyhow::Ok(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop test database {}: {e:#}", self.name);
        }
    }
}

/// Runs `test` on a fresh store of every available backend, naming the backend on failure.
pub async fn on_every_backend<F, Fut>(test: F) -> anyhow::Result<()>
where
    F: Fn(SeaStore) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    use anyhow::Context as _;
    for db in backends().await? {
        test(db.store.clone())
            .await
            .with_context(|| format!("on {}", db.backend))?;
    }
    Ok(())
}

/// A fixed instant with whole milliseconds (what the store keeps) and nothing finer, so
/// values round-trip exactly.
pub fn t0() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(1_800_000_000_123).expect("a valid instant")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_swapped_in_the_url() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h:5432", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
