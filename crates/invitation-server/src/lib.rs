#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod directory;
pub mod log_format;
pub mod log_writer;

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
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

/// `--database-pool-size`: 1 to 1,024.
fn pool_size(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n @ 1..=1024) => Ok(n),
        _ => Err(format!("{text:?} is not a whole number from 1 to 1024")),
    }
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
    app: axum::Router,
    listen: String,
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
        let store: Arc<dyn InvitationStore> = match &args.database_url {
            Some(url) => {
                let mut store = PgStore::connect(url).map_err(ServerError::Database)?;
                if let Some(schema) = &args.database_schema {
                    store = PgStore::with_schema(store.pool().clone(), schema)
                        .map_err(ServerError::Database)?;
                }
                store.pool().resize(args.database_pool_size);
                store.migrate().await.map_err(ServerError::Database)?;
                tracing::info!(schema = store.schema(), "PostgreSQL storage ready");
                Arc::new(store)
            }
            None => {
                tracing::info!("in-memory storage: invitations are lost when the process stops");
                Arc::new(MemoryStore::new())
            }
        };
        tracing::info!(
            users = directory.user_count(),
            flows = directory.flow_count(),
            "directory loaded"
        );
        let directory = Arc::new(directory.into_memory());
        let service = InvitationService::new(
            store,
            directory.clone(),
            directory.clone(),
            directory.clone(),
        );
        Ok(Self {
            app: router(AppState::new(service, directory)),
            listen: args.listen.clone(),
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
    /// finish (for at most [`SHUTDOWN_GRACE`]).
    ///
    /// # Errors
    /// [`ServerError::Serve`].
    pub async fn serve_until<F>(self, shutdown: F) -> Result<(), ServerError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
        let serve = axum::serve(self.listener, self.server.app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                tracing::info!("shutting down: finishing in-flight requests");
                let _ = stopping_tx.send(true);
            })
            .into_future();
        let grace = async move {
            if stopping_rx.wait_for(|stopping| *stopping).await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        tokio::select! {
            result = serve => result.map_err(ServerError::Serve),
            () = grace => {
                tracing::warn!(grace_secs = SHUTDOWN_GRACE.as_secs(), "requests still running after the grace period; exiting");
                Ok(())
            }
        }
    }
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
