#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod directory;
pub mod log_format;
pub mod log_writer;
pub mod workers;

use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use invitation_core::{InvitationService, InvitationStore};
use invitation_http::{router, AppState, INVITATIONS_PATH};
use invitation_memory::MemoryStore;
use invitation_postgres::{PgError, PgStore};
use tokio::net::TcpListener;

pub use directory::{Directory, DirectoryFileError, DEFAULT_INSTALL_ID};

/// The environment variable holding the bootstrap admin's token.
pub const BOOTSTRAP_TOKEN_ENV: &str = "INVITATION_BOOTSTRAP_TOKEN";

/// How long in-flight requests may take to finish after SIGINT/SIGTERM
/// before the process exits anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The default `--client-timeout`, in seconds: hyper's default header read
/// timeout.
pub const DEFAULT_CLIENT_TIMEOUT_SECS: u64 = 30;

/// `--client-timeout`: whole seconds from 0 (no limit) to a day.
fn client_timeout(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(n @ 0..=86_400) => Ok(n),
        _ => Err(format!(
            "{text:?} is not a whole number of seconds from 0 (no limit) to 86400"
        )),
    }
}

/// `--database-pool-size`: 1 to 1,024.
fn pool_size(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n @ 1..=1024) => Ok(n),
        _ => Err(format!("{text:?} is not a whole number from 1 to 1024")),
    }
}

/// `--workers`: 1 to 1,024, as `--database-pool-size`.
fn worker_count(text: &str) -> Result<NonZeroUsize, String> {
    let n = pool_size(text)?;
    NonZeroUsize::new(n).ok_or_else(|| format!("{text:?}"))
}

/// The default `--workers`: the CPUs this process may run on.
fn default_workers() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

/// Command-line flags; each also reads an environment variable.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "invitation-server",
    version,
    about = "Serves authentik's invitation API (/api/v3/stages/invitation/invitations/).",
    after_help = "Environment only: INVITATION_BOOTSTRAP_TOKEN=<token> adds user akadmin (pk 1) \
                  holding every invitation permission with that API token. With neither a \
                  directory nor a bootstrap token, a token is generated and printed once.\n\
                  Logs go to standard error; RUST_LOG filters them (default: info)."
)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "INVITATION_LISTEN", default_value = "127.0.0.1:9000")]
    pub listen: String,
    /// PostgreSQL URL (postgres://user:password@host/db); the migrations run
    /// at start. Without it, invitations live in memory.
    #[arg(long, env = "INVITATION_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// PostgreSQL schema holding the tables (default: invitation).
    #[arg(long, env = "INVITATION_DATABASE_SCHEMA", requires = "database_url")]
    pub database_schema: Option<String>,
    /// Most PostgreSQL connections the server holds open at once.
    #[arg(
        long,
        env = "INVITATION_DATABASE_POOL_SIZE",
        requires = "database_url",
        default_value_t = invitation_postgres::DEFAULT_POOL_SIZE,
        value_parser = pool_size
    )]
    pub database_pool_size: usize,
    /// TOML file of users (with tokens and permissions) and flows.
    #[arg(long, env = "INVITATION_DIRECTORY")]
    pub directory: Option<PathBuf>,
    /// Install id that users' `uid`s are derived from (sha256 of
    /// `<install id>-<pk>`, as authentik does).
    #[arg(long, env = "INVITATION_INSTALL_ID", default_value = DEFAULT_INSTALL_ID)]
    pub install_id: String,
    /// Worker threads serving connections, each with its own
    /// single-threaded runtime (default: the number of CPUs available).
    #[arg(long, env = "INVITATION_WORKERS", value_parser = worker_count)]
    pub workers: Option<NonZeroUsize>,
    /// Seconds a connection may keep the server waiting before it is
    /// closed: for a request's head to be complete (including an idle
    /// kept-alive connection), for more of a body its handler reads, or
    /// for its answer to be taken; 0 for no limit. A handler that runs
    /// long is never cut off by it.
    #[arg(
        long,
        env = "INVITATION_CLIENT_TIMEOUT",
        default_value_t = DEFAULT_CLIENT_TIMEOUT_SECS,
        value_parser = client_timeout
    )]
    pub client_timeout: u64,
    /// Log format.
    #[arg(long, env = "INVITATION_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The directory file was refused.
    #[error(transparent)]
    Directory(#[from] DirectoryFileError),
    /// `INVITATION_BOOTSTRAP_TOKEN` cannot be used.
    #[error("{0}")]
    Bootstrap(String),
    /// PostgreSQL could not be set up.
    #[error("cannot set up PostgreSQL storage")]
    Database(#[source] PgError),
    /// The listen address cannot be bound.
    #[error("cannot listen on {address}")]
    Bind {
        /// The address.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("serving failed")]
    Serve(#[source] std::io::Error),
}

/// Everything needed to serve, before a port is bound.
#[derive(Debug)]
pub struct Server {
    /// One router per store, and one per worker on the memory store (so
    /// that the reference counts a request touches are its worker's own);
    /// worker `i` serves `apps[i % apps.len()]`.
    apps: Vec<axum::Router>,
    listen: String,
    workers: NonZeroUsize,
    timeouts: workers::Timeouts,
    generated_token: Option<String>,
}

impl Server {
    /// Reads the directory, applies the bootstrap token (generating one
    /// when there is neither a directory nor a bootstrap token), connects
    /// and migrates PostgreSQL when a URL is given, and builds the router.
    ///
    /// # Errors
    /// See [`ServerError`].
    pub async fn build(args: &Args, bootstrap_token: Option<&str>) -> Result<Self, ServerError> {
        let mut directory = match &args.directory {
            Some(path) => Directory::load(path, &args.install_id)?,
            None => Directory::new(&args.install_id),
        };
        let mut generated_token = None;
        match bootstrap_token {
            Some(token) => directory
                .add_bootstrap_admin(token)
                .map_err(ServerError::Bootstrap)?,
            None if args.directory.is_none() => {
                let token = generate_token();
                directory
                    .add_bootstrap_admin(&token)
                    .map_err(ServerError::Bootstrap)?;
                generated_token = Some(token);
            }
            None => {}
        }
        if directory.token_count() == 0 {
            tracing::warn!("no API token is configured: every invitation request will be refused");
        }
        let workers = args.workers.unwrap_or_else(default_workers);
        let stores: Vec<Arc<dyn InvitationStore>> = match &args.database_url {
            Some(url) => {
                let stores = pg_stores(url, args, workers).await?;
                stores
                    .into_iter()
                    .map(|s| Arc::new(s) as Arc<dyn InvitationStore>)
                    .collect()
            }
            None => {
                tracing::info!("in-memory storage: invitations are lost when the process stops");
                let store: Arc<dyn InvitationStore> = Arc::new(MemoryStore::new());
                vec![store; workers.get()]
            }
        };
        tracing::info!(
            users = directory.user_count(),
            flows = directory.flow_count(),
            "directory loaded"
        );
        let directory = Arc::new(directory.into_memory());
        let apps = stores
            .into_iter()
            .map(|store| {
                let service = InvitationService::new(
                    store,
                    directory.clone(),
                    directory.clone(),
                    directory.clone(),
                );
                router(AppState::new(service, directory.clone()))
            })
            .collect();
        Ok(Self {
            apps,
            listen: args.listen.clone(),
            workers,
            timeouts: workers::Timeouts {
                grace: SHUTDOWN_GRACE,
                client_timeout: (args.client_timeout > 0)
                    .then(|| Duration::from_secs(args.client_timeout)),
            },
            generated_token,
        })
    }

    /// The token generated because there was neither a directory nor a
    /// bootstrap token.
    pub fn generated_token(&self) -> Option<&str> {
        self.generated_token.as_deref()
    }

    /// Binds the listen address.
    ///
    /// # Errors
    /// [`ServerError::Bind`].
    pub async fn bind(self) -> Result<Bound, ServerError> {
        let listener =
            TcpListener::bind(&self.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    address: self.listen.clone(),
                    source,
                })?;
        let address = listener.local_addr().map_err(|source| ServerError::Bind {
            address: self.listen.clone(),
            source,
        })?;
        Ok(Bound {
            server: self,
            listener,
            address,
        })
    }
}

/// A server with its port bound, ready to serve.
#[derive(Debug)]
pub struct Bound {
    server: Server,
    listener: TcpListener,
    address: SocketAddr,
}

impl Bound {
    /// The address bound (with the real port when `:0` was asked).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The base URL a client on this machine uses.
    pub fn url(&self) -> String {
        let mut address = self.address;
        if address.ip().is_unspecified() {
            address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{address}")
    }

    /// What to print at start: where it listens, and the generated token
    /// with a curl example when there is one.
    pub fn banner(&self) -> String {
        let url = self.url();
        let mut text = format!("invitation-server listening on {url}\n");
        if let Some(token) = self.server.generated_token() {
            text.push_str(&format!(
                "\nNo --directory and no {BOOTSTRAP_TOKEN_ENV}: generated an API token for user \
                 akadmin (every invitation permission). It is shown only this once:\n\n    \
                 {token}\n\nTry it:\n\n    curl -H 'Authorization: Bearer {token}' \
                 -H 'Content-Type: application/json' \\\n         -d '{{\"name\": \"welcome\"}}' \
                 {url}{INVITATIONS_PATH}\n\n"
            ));
        }
        text
    }

    /// Serves until `shutdown` completes, then lets in-flight requests
    /// finish (for at most [`SHUTDOWN_GRACE`]). Connections are served by
    /// `--workers` threads, each with a single-threaded runtime of its own
    /// ([`workers::serve`]); this future accepts them and hands them out.
    /// Connections that keep the server waiting longer than
    /// `--client-timeout` are closed ([`workers::Timeouts`]).
    ///
    /// # Errors
    /// [`ServerError::Serve`].
    pub async fn serve_until<F>(self, shutdown: F) -> Result<(), ServerError>
    where
        F: Future<Output = ()> + Send,
    {
        let apps = self.server.apps;
        workers::serve(
            self.listener,
            |worker| apps[worker % apps.len()].clone(),
            self.server.workers,
            shutdown,
            self.server.timeouts,
        )
        .await
        .map_err(ServerError::Serve)
    }
}

/// Migrates the database, then makes the PostgreSQL stores the workers use:
/// one pool per worker (fewer when `--database-pool-size` is smaller than
/// `--workers`), the pool size split between them. A pooled connection is
/// then driven by the runtime of the worker that opened it and uses it, so
/// an answer from PostgreSQL wakes no other thread. The migration runs on a
/// connection of its own, closed before serving starts.
async fn pg_stores(
    url: &str,
    args: &Args,
    workers: NonZeroUsize,
) -> Result<Vec<PgStore>, ServerError> {
    let store = |size: usize| -> Result<PgStore, ServerError> {
        let size = NonZeroUsize::new(size).unwrap_or(NonZeroUsize::MIN);
        let mut store = PgStore::connect_with_max_size(url, size).map_err(ServerError::Database)?;
        if let Some(schema) = &args.database_schema {
            store = PgStore::with_schema(store.pool().clone(), schema)
                .map_err(ServerError::Database)?;
        }
        Ok(store)
    };
    let migrator = store(1)?;
    migrator.migrate().await.map_err(ServerError::Database)?;
    migrator.pool().close();
    tracing::info!(schema = migrator.schema(), "PostgreSQL storage ready");
    pool_sizes(args.database_pool_size, workers)
        .into_iter()
        .map(store)
        .collect()
}

/// `total` connections split over one pool per worker, as evenly as they
/// go; fewer pools (of one connection each) when there are fewer
/// connections than workers. The sizes add up to `total`.
fn pool_sizes(total: usize, workers: NonZeroUsize) -> Vec<usize> {
    let pools = workers.get().min(total).max(1);
    (0..pools)
        .map(|i| total / pools + usize::from(i < total % pools))
        .collect()
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// A fresh API token: 64 hex digits from two random (v4) UUIDs, 244 random
/// bits.
pub fn generate_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workers(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap()
    }

    #[test]
    fn the_pool_size_is_split_over_the_workers_and_adds_up() {
        assert_eq!(pool_sizes(16, workers(2)), [8, 8]);
        assert_eq!(pool_sizes(5, workers(2)), [3, 2]);
        assert_eq!(pool_sizes(16, workers(1)), [16]);
        assert_eq!(pool_sizes(7, workers(3)), [3, 2, 2]);
    }

    #[test]
    fn fewer_connections_than_workers_give_fewer_pools_of_one() {
        assert_eq!(pool_sizes(1, workers(4)), [1]);
        assert_eq!(pool_sizes(3, workers(8)), [1, 1, 1]);
    }

    #[test]
    fn the_workers_flag_takes_1_to_1024() {
        assert_eq!(worker_count("1"), Ok(workers(1)));
        assert_eq!(worker_count(" 1024 "), Ok(workers(1024)));
        for bad in ["0", "1025", "-1", "two", ""] {
            let e = worker_count(bad).unwrap_err();
            assert!(e.contains("from 1 to 1024"), "{bad}: {e}");
        }
        let args = Args::try_parse_from(["invitation-server", "--workers", "3"]).unwrap();
        assert_eq!(args.workers, Some(workers(3)));
        assert!(Args::try_parse_from(["invitation-server", "--workers", "0"]).is_err());
    }

    #[test]
    fn the_client_timeout_flag_takes_0_to_a_day_and_defaults_to_30_seconds() {
        assert_eq!(client_timeout("0"), Ok(0));
        assert_eq!(client_timeout(" 86400 "), Ok(86_400));
        for bad in ["86401", "-1", "1.5", "30s", ""] {
            let e = client_timeout(bad).unwrap_err();
            assert!(e.contains("from 0 (no limit) to 86400"), "{bad}: {e}");
        }
        let args = Args::try_parse_from(["invitation-server"]).unwrap();
        assert_eq!(args.client_timeout, 30);
        let args = Args::try_parse_from(["invitation-server", "--client-timeout", "5"]).unwrap();
        assert_eq!(args.client_timeout, 5);
        assert!(Args::try_parse_from(["invitation-server", "--client-timeout", "x"]).is_err());
    }
}
