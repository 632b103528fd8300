#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod directory;
pub mod hyper_answers;
pub mod logging;
pub mod mail;
pub mod serve;

use std::ffi::OsString;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser};
use invitation_core::{InvitationService, InvitationStore, MailOutbox, RetryPolicy, Site};
use invitation_http::{router, AppState, INVITATIONS_PATH};
use invitation_memory::MemoryStore;
use invitation_postgres::{PgError, PgOptions, PgStore};
use invitation_sqlx::{SqliteStore, SqlxError};
use tokio::net::TcpListener;

pub use directory::{Directory, DirectoryFileError, DEFAULT_INSTALL_ID};
pub use logging::LogFormat;
pub use mail::MailSetupError;
pub use serve::{serve, ServeOptions};

/// The environment variable holding the bootstrap admin's token.
pub const BOOTSTRAP_TOKEN_ENV: &str = "INVITATION_BOOTSTRAP_TOKEN";

/// How long in-flight requests may take to finish after SIGINT/SIGTERM
/// before the process exits anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The default `--client-timeout`, in seconds: hyper's default header read
/// timeout.
pub const DEFAULT_CLIENT_TIMEOUT_SECS: u64 = 30;

/// The default `--request-timeout`, in seconds.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 30;

/// The default `--max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// `--client-timeout`, `--request-timeout`: whole seconds from 0 (no
/// limit) to a day.
fn seconds(text: &str) -> Result<u64, String> {
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

/// `--max-connections`: 1 to 65,536.
fn max_connections(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n @ 1..=65_536) => Ok(n),
        _ => Err(format!("{text:?} is not a whole number from 1 to 65536")),
    }
}

/// `--mail-retry-first`: 1 to 3,600 seconds.
fn retry_seconds(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(n @ 1..=3600) => Ok(n),
        _ => Err(format!(
            "{text:?} is not a whole number of seconds from 1 to 3600"
        )),
    }
}

/// `--log-format`.
fn log_format(text: &str) -> Result<LogFormat, String> {
    match text {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!("{text:?} is neither text nor json")),
    }
}

/// `0` seconds as no limit.
fn limit(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// A PostgreSQL connection string (a `postgres://` URL or `key=value`
/// pairs). Its `Debug` shows it with the password replaced by `***`, so
/// that [`Args`] can be logged; [`DatabaseUrl::expose`] gives it whole.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The connection string, password included.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for DatabaseUrl {
    fn from(url: String) -> Self {
        Self(url)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&redact_password(&self.0))
            .finish()
    }
}

/// `url` with its password replaced by `***`: the one of a URL's user
/// information (`postgres://user:password@host`), and the value of every
/// `password=` parameter (`?password=…` in a URL, `password=…` among
/// `key=value` pairs, quoted or not).
fn redact_password(url: &str) -> String {
    let mut text = url.to_owned();
    if let Some(scheme_end) = text.find("://") {
        let rest = scheme_end + 3;
        let authority_end = text[rest..]
            .find(['/', '?', '#'])
            .map_or(text.len(), |i| rest + i);
        if let Some(at) = text[rest..authority_end].rfind('@') {
            let userinfo = &text[rest..rest + at];
            if let Some(colon) = userinfo.find(':') {
                text.replace_range(rest + colon + 1..rest + at, "***");
            }
        }
    }
    let url_form = text.contains("://");
    let mut from = 0;
    while let Some(found) = text[from..].to_ascii_lowercase().find("password=") {
        let start = from + found + "password=".len();
        let end = if text[start..].starts_with('\'') {
            // A quoted value ends at the next quote not escaped.
            let mut end = text.len();
            let mut escaped = false;
            for (i, c) in text[start + 1..].char_indices() {
                match c {
                    '\\' if !escaped => escaped = true,
                    '\'' if !escaped => {
                        end = start + 1 + i + 1;
                        break;
                    }
                    _ => escaped = false,
                }
            }
            end
        } else if url_form {
            text[start..]
                .find(['&', '#'])
                .map_or(text.len(), |i| start + i)
        } else {
            text[start..]
                .find(char::is_whitespace)
                .map_or(text.len(), |i| start + i)
        };
        text.replace_range(start..end, "***");
        from = start + 3;
    }
    text
}

/// The database file the server keeps invitations in when neither
/// `--database-url` nor `--memory` says otherwise (relative to the working
/// directory).
pub const DEFAULT_SQLITE_FILE: &str = "invitations.db";

/// Where the server keeps invitations and queued mail: `--memory` and
/// `--database-url`, resolved by [`Args::storage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// In memory, lost when the process stops (`--memory`,
    /// `--database-url memory:`).
    Memory,
    /// An SQLite file, created if missing (`--database-url sqlite://PATH`
    /// or `sqlite:PATH`; [`DEFAULT_SQLITE_FILE`] without a URL).
    Sqlite(PathBuf),
    /// PostgreSQL (any other `--database-url`).
    Postgres(DatabaseUrl),
}

/// `text` without its first `prefix.len()` bytes when it starts with
/// `prefix`, ASCII case ignored.
fn strip_scheme<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// The scheme `text` starts with (`mysql` of `mysql://…`), if it starts
/// with one: a letter, then letters, digits, `+`, `-` or `.`, then `:`.
fn scheme_of(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// The storage a `--database-url` names: `memory:`, `sqlite://PATH` or
/// `sqlite:PATH` (the path as written, relative to the working directory
/// unless it starts with `/`), a `postgres://` or `postgresql://` URL, or
/// PostgreSQL's `key=value` pairs. Anything else is refused here, naming
/// only its scheme (the rest may hold a password).
fn storage_of(url: &DatabaseUrl) -> Result<Storage, String> {
    let text = url.expose();
    if text.eq_ignore_ascii_case("memory:") {
        return Ok(Storage::Memory);
    }
    let Some(rest) = strip_scheme(text, "sqlite:") else {
        return match scheme_of(text) {
            Some(scheme)
                if scheme.eq_ignore_ascii_case("postgres")
                    || scheme.eq_ignore_ascii_case("postgresql") =>
            {
                Ok(Storage::Postgres(url.clone()))
            }
            Some(scheme) => Err(format!(
                "--database-url: the scheme {scheme:?} is not a store of this server; \
                 use sqlite://PATH, postgres://…, PostgreSQL's key=value pairs or memory:"
            )),
            None if text.contains('=') => Ok(Storage::Postgres(url.clone())),
            None => Err(
                "--database-url is neither a URL nor PostgreSQL's key=value pairs; \
                 an SQLite file is sqlite://PATH"
                    .to_owned(),
            ),
        };
    };
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path.is_empty() {
        return Err(format!("--database-url {text:?} names no file"));
    }
    if path.starts_with(":memory:") {
        return Err(format!(
            "--database-url {text:?}: for a store in memory use --memory (or memory:)"
        ));
    }
    if path.contains('?') {
        return Err(format!(
            "--database-url {text:?}: a sqlite: URL takes a file path and no ?parameters"
        ));
    }
    Ok(Storage::Sqlite(PathBuf::from(path)))
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
    /// Where invitations and queued mail are kept: `sqlite://PATH` (or
    /// `sqlite:PATH`) an SQLite file, created if missing; a PostgreSQL URL
    /// (postgres://user:password@host/db) or key=value pairs; `memory:`
    /// in memory. The migrations run at start. Default: sqlite://./invitations.db.
    #[arg(long, env = "INVITATION_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<DatabaseUrl>,
    /// Keep invitations and queued mail in memory, lost when the process
    /// stops (for tests and demos); the same as `--database-url memory:`.
    #[arg(long, conflicts_with = "database_url")]
    pub memory: bool,
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
    /// Seconds one PostgreSQL statement may run before the database cancels
    /// it (its request answers 503 with Retry-After); 0 for no limit.
    #[arg(
        long,
        env = "INVITATION_DATABASE_STATEMENT_TIMEOUT",
        requires = "database_url",
        default_value_t = invitation_postgres::DEFAULT_STATEMENT_TIMEOUT.as_secs(),
        value_parser = seconds
    )]
    pub database_statement_timeout: u64,
    /// TOML file of users (with tokens and permissions) and flows.
    #[arg(long, env = "INVITATION_DIRECTORY")]
    pub directory: Option<PathBuf>,
    /// Install id that users' `uid`s are derived from (sha256 of
    /// `<install id>-<pk>`, as authentik does).
    #[arg(long, env = "INVITATION_INSTALL_ID", default_value = DEFAULT_INSTALL_ID)]
    pub install_id: String,
    /// Seconds a connection may keep the server waiting before it is
    /// closed: for a request's head to be complete (including an idle
    /// kept-alive connection), for the next part of a body its handler
    /// reads, or for its answer to be taken; 0 for no limit.
    #[arg(
        long,
        env = "INVITATION_CLIENT_TIMEOUT",
        default_value_t = DEFAULT_CLIENT_TIMEOUT_SECS,
        value_parser = seconds
    )]
    pub client_timeout: u64,
    /// Seconds a request's handler may run before it is stopped and
    /// answered 503 (code `timeout`); 0 for no limit.
    #[arg(
        long,
        env = "INVITATION_REQUEST_TIMEOUT",
        default_value_t = DEFAULT_REQUEST_TIMEOUT_SECS,
        value_parser = seconds
    )]
    pub request_timeout: u64,
    /// Most connections served at once; more wait to be accepted.
    #[arg(
        long,
        env = "INVITATION_MAX_CONNECTIONS",
        default_value_t = DEFAULT_MAX_CONNECTIONS,
        value_parser = max_connections
    )]
    pub max_connections: usize,
    /// Log format: text or json.
    #[arg(
        long,
        env = "INVITATION_LOG_FORMAT",
        default_value = "text",
        value_parser = log_format
    )]
    pub log_format: LogFormat,
    /// The SMTP server invitation mail goes through:
    /// `smtp://[user:pass@]host[:port][?tls=none|starttls|tls]` (default
    /// `starttls`). Without it mail is off and `send_email` answers 503.
    #[arg(long, env = "INVITATION_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<SmtpUrlText>,
    /// The `From` of invitation mail.
    #[arg(
        long,
        env = "INVITATION_MAIL_FROM",
        default_value = "invitations@localhost"
    )]
    pub mail_from: String,
    /// A folder of the host's own mail templates (`template` names a file
    /// in it); the built-in `email/invitation.html` otherwise.
    #[arg(long, env = "INVITATION_EMAIL_TEMPLATES")]
    pub email_templates: Option<PathBuf>,
    /// The site invitation links open (`https://id.example.org`); without
    /// it, the site each `send_email` request was sent to.
    #[arg(long, env = "INVITATION_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Seconds the dispatcher waits before trying a failed mail again the
    /// first time; each later wait is twice the one before, up to an hour.
    #[arg(
        long,
        env = "INVITATION_MAIL_RETRY_FIRST",
        default_value_t = RetryPolicy::default().first_retry.as_secs(),
        value_parser = retry_seconds
    )]
    pub mail_retry_first: u64,
}

impl Args {
    /// Where invitations and queued mail are kept, from `--memory` and
    /// `--database-url`: an SQLite file ([`DEFAULT_SQLITE_FILE`]) when
    /// neither is given.
    ///
    /// # Errors
    /// A usage message: a `sqlite:` URL without a usable path, or
    /// `--database-schema` for a store other than PostgreSQL.
    pub fn storage(&self) -> Result<Storage, String> {
        let storage = match (&self.database_url, self.memory) {
            (_, true) => Storage::Memory,
            (Some(url), false) => storage_of(url)?,
            (None, false) => Storage::Sqlite(PathBuf::from(DEFAULT_SQLITE_FILE)),
        };
        if self.database_schema.is_some() {
            match storage {
                Storage::Postgres(_) => {}
                Storage::Sqlite(_) => {
                    return Err("--database-schema applies to PostgreSQL only (an SQLite \
                                file's tables are named invitation_*)"
                        .to_owned())
                }
                Storage::Memory => {
                    return Err("--database-schema applies to PostgreSQL only".to_owned())
                }
            }
        }
        Ok(storage)
    }

    /// The process's arguments, as [`Args::try_parse_checked_from`]; on a
    /// usage error prints it and exits with code 2, as clap does.
    pub fn parse_checked() -> Self {
        Self::try_parse_checked_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// Parses `args` as clap does, then refuses what clap alone cannot
    /// see: [`Args::storage`]'s errors, and `--database-pool-size` or
    /// `--database-statement-timeout` given for a store other than
    /// PostgreSQL.
    ///
    /// # Errors
    /// A clap usage error.
    pub fn try_parse_checked_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut command = Self::command();
        let matches = command.try_get_matches_from_mut(args)?;
        let parsed = Self::from_arg_matches(&matches)?;
        let storage = parsed
            .storage()
            .map_err(|message| command.error(ErrorKind::ArgumentConflict, message))?;
        if !matches!(storage, Storage::Postgres(_)) {
            for (id, flag) in [
                ("database_pool_size", "--database-pool-size"),
                ("database_statement_timeout", "--database-statement-timeout"),
            ] {
                if matches!(
                    matches.value_source(id),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                ) {
                    return Err(command.error(
                        ErrorKind::ArgumentConflict,
                        format!("{flag} applies to PostgreSQL only"),
                    ));
                }
            }
        }
        Ok(parsed)
    }
}

/// `--smtp-url`'s text, which may hold a password: shown redacted.
#[derive(Clone)]
pub struct SmtpUrlText(String);

impl From<String> for SmtpUrlText {
    fn from(url: String) -> Self {
        Self(url)
    }
}

impl fmt::Debug for SmtpUrlText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_password(&self.0))
    }
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
    /// The flags name no usable store (see [`Args::storage`]).
    #[error("{0}")]
    Usage(String),
    /// PostgreSQL could not be set up.
    #[error("cannot set up PostgreSQL storage")]
    Database(#[source] PgError),
    /// The SQLite file could not be opened or migrated.
    #[error("cannot set up SQLite storage at {}", path.display())]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: SqlxError,
    },
    /// The mail settings were refused.
    #[error(transparent)]
    Mail(#[from] MailSetupError),
    /// The listen address cannot be bound.
    #[error("cannot listen on {address}")]
    Bind {
        /// The address.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Everything needed to serve, before a port is bound.
pub struct Server {
    router: axum::Router,
    listen: String,
    options: ServeOptions,
    generated_token: Option<String>,
    dispatcher: Option<mail::Dispatcher>,
}

/// Shows neither the router's ports nor the generated token.
impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("listen", &self.listen)
            .field("options", &self.options)
            .field(
                "generated_token",
                &self.generated_token.as_ref().map(|_| "***"),
            )
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Reads the directory, applies the bootstrap token (generating one
    /// when there is neither a directory nor a bootstrap token), opens and
    /// migrates the store [`Args::storage`] names, and builds the router.
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
        let storage = args.storage().map_err(ServerError::Usage)?;
        let (store, outbox): (Arc<dyn InvitationStore>, Arc<dyn MailOutbox>) = match &storage {
            Storage::Postgres(url) => {
                let pg = Arc::new(pg_store(url, args).await?);
                (pg.clone(), pg)
            }
            Storage::Sqlite(path) => {
                let sqlite = Arc::new(sqlite_store(path).await?);
                (sqlite.clone(), sqlite)
            }
            Storage::Memory => {
                tracing::info!(
                    "in-memory storage: invitations and queued mail are lost when the process stops"
                );
                let memory = Arc::new(MemoryStore::new());
                (memory.clone(), memory)
            }
        };
        tracing::info!(
            users = directory.user_count(),
            flows = directory.flow_count(),
            "directory loaded"
        );
        let directory = Arc::new(directory.into_memory());
        let mut service = InvitationService::new(
            store,
            directory.clone(),
            directory.clone(),
            directory.clone(),
        );
        let dispatcher = match &args.smtp_url {
            Some(url) => {
                let setup = mail::setup(&url.0, &args.mail_from, args.email_templates.as_deref())?;
                tracing::info!(
                    smtp = %setup.mailer.url(),
                    from = %args.mail_from,
                    "mail is on: send_email queues, the dispatcher delivers"
                );
                service = service.with_mail(outbox, Arc::new(setup.templates));
                Some(mail::Dispatcher {
                    service: service.clone(),
                    mailer: Arc::new(setup.mailer),
                    interval: mail::DISPATCH_INTERVAL,
                    policy: RetryPolicy {
                        first_retry: Duration::from_secs(args.mail_retry_first),
                        ..RetryPolicy::default()
                    },
                })
            }
            None => {
                tracing::info!("mail is off (no --smtp-url): send_email answers 503");
                None
            }
        };
        let mut state =
            AppState::new(service, directory).with_request_timeout(limit(args.request_timeout));
        if let Some(url) = &args.public_url {
            let site = Site::parse(url).map_err(MailSetupError::PublicUrl)?;
            state = state.with_public_site(site);
        }
        Ok(Self {
            router: router(state),
            listen: args.listen.clone(),
            options: ServeOptions {
                client_timeout: limit(args.client_timeout),
                max_connections: args.max_connections,
                grace: SHUTDOWN_GRACE,
            },
            generated_token,
            dispatcher,
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
    /// finish (for at most [`SHUTDOWN_GRACE`]): [`serve()`], with the
    /// `--client-timeout` and `--max-connections` of [`Args`].
    pub async fn serve_until<F>(self, shutdown: F)
    where
        F: Future<Output = ()> + Send,
    {
        let dispatcher = self.server.dispatcher.map(mail::Dispatcher::start);
        serve(
            self.listener,
            self.server.router,
            self.server.options,
            shutdown,
        )
        .await;
        if let Some(dispatcher) = dispatcher {
            dispatcher.stop().await;
        }
    }
}

/// Connects to PostgreSQL with a pool of `--database-pool-size`
/// connections, and migrates the schema.
async fn pg_store(url: &DatabaseUrl, args: &Args) -> Result<PgStore, ServerError> {
    let size = NonZeroUsize::new(args.database_pool_size).unwrap_or(NonZeroUsize::MIN);
    let options = PgOptions::new()
        .max_size(size)
        .statement_timeout(Duration::from_secs(args.database_statement_timeout));
    let mut store = PgStore::connect_with(url.expose(), &options).map_err(ServerError::Database)?;
    if let Some(schema) = &args.database_schema {
        store = store.in_schema(schema).map_err(ServerError::Database)?;
    }
    store.migrate().await.map_err(ServerError::Database)?;
    tracing::info!(
        url = %redact_password(url.expose()),
        schema = store.schema(),
        "PostgreSQL storage ready"
    );
    Ok(store)
}

/// Opens the SQLite file at `path` (creating it when missing) and migrates
/// it; the log line and any error name it as an absolute path.
async fn sqlite_store(path: &Path) -> Result<SqliteStore, ServerError> {
    let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let store = SqliteStore::open(path)
        .await
        .map_err(|source| ServerError::Sqlite {
            path: shown.clone(),
            source,
        })?;
    tracing::info!(path = %shown.display(), "SQLite storage ready");
    Ok(store)
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

    #[test]
    fn the_client_and_request_timeout_flags_take_0_to_a_day_and_default_to_30_seconds() {
        assert_eq!(seconds("0"), Ok(0));
        assert_eq!(seconds(" 86400 "), Ok(86_400));
        for bad in ["86401", "-1", "1.5", "30s", ""] {
            let e = seconds(bad).unwrap_err();
            assert!(e.contains("from 0 (no limit) to 86400"), "{bad}: {e}");
        }
        let args = Args::try_parse_from(["invitation-server"]).unwrap();
        assert_eq!((args.client_timeout, args.request_timeout), (30, 30));
        let args = Args::try_parse_from([
            "invitation-server",
            "--client-timeout",
            "5",
            "--request-timeout",
            "0",
        ])
        .unwrap();
        assert_eq!((args.client_timeout, args.request_timeout), (5, 0));
        assert_eq!(limit(0), None);
        assert_eq!(limit(5), Some(Duration::from_secs(5)));
        assert!(Args::try_parse_from(["invitation-server", "--client-timeout", "x"]).is_err());
        assert!(Args::try_parse_from(["invitation-server", "--request-timeout", "x"]).is_err());
    }

    #[test]
    fn the_max_connections_flag_takes_1_to_65536_and_defaults_to_1024() {
        let args = Args::try_parse_from(["invitation-server"]).unwrap();
        assert_eq!(args.max_connections, 1024);
        let args = Args::try_parse_from(["invitation-server", "--max-connections", "8"]).unwrap();
        assert_eq!(args.max_connections, 8);
        for bad in ["0", "65537", "-1", "many"] {
            let e = max_connections(bad).unwrap_err();
            assert!(e.contains("from 1 to 65536"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_mail_retry_first_flag_takes_1_to_3600_seconds_and_defaults_to_the_policys() {
        let args = Args::try_parse_from(["invitation-server"]).unwrap();
        assert_eq!(args.mail_retry_first, 30);
        let args = Args::try_parse_from(["invitation-server", "--mail-retry-first", "2"]).unwrap();
        assert_eq!(args.mail_retry_first, 2);
        for bad in ["0", "3601", "-1", "30s"] {
            let e = retry_seconds(bad).unwrap_err();
            assert!(e.contains("from 1 to 3600"), "{bad}: {e}");
        }
    }

    fn storage_of_flags(flags: &[&str]) -> Result<Storage, String> {
        let mut all = vec!["invitation-server"];
        all.extend_from_slice(flags);
        Args::try_parse_checked_from(all)
            .map_err(|e| e.to_string())
            .and_then(|args| args.storage())
    }

    #[test]
    fn the_store_is_the_sqlite_file_invitations_db_unless_a_flag_names_another() {
        let sqlite = |path: &str| Ok(Storage::Sqlite(PathBuf::from(path)));
        assert_eq!(storage_of_flags(&[]), sqlite("invitations.db"));
        for (url, path) in [
            ("sqlite://data/x.db", "data/x.db"),
            ("sqlite:///var/lib/x.db", "/var/lib/x.db"),
            ("sqlite:x.db", "x.db"),
            ("SQLite:/abs/x.db", "/abs/x.db"),
        ] {
            assert_eq!(storage_of_flags(&["--database-url", url]), sqlite(path));
        }
        assert_eq!(storage_of_flags(&["--memory"]), Ok(Storage::Memory));
        assert_eq!(
            storage_of_flags(&["--database-url", "memory:"]),
            Ok(Storage::Memory)
        );
        let pg = "postgres://app:pw@db/x";
        assert_eq!(
            storage_of_flags(&["--database-url", pg, "--database-schema", "s"]),
            Ok(Storage::Postgres(DatabaseUrl::from(pg.to_owned())))
        );
        let pairs = "host=db user=app";
        assert_eq!(
            storage_of_flags(&["--database-url", pairs, "--database-pool-size", "2"]),
            Ok(Storage::Postgres(DatabaseUrl::from(pairs.to_owned())))
        );
    }

    #[test]
    fn memory_with_a_database_url_and_postgresql_flags_for_another_store_are_usage_errors() {
        let usage = |flags: &[&str]| {
            let mut all = vec!["invitation-server"];
            all.extend_from_slice(flags);
            let e = Args::try_parse_checked_from(all).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{flags:?}: {e}");
            e.to_string()
        };
        let e = usage(&["--memory", "--database-url", "sqlite:x.db"]);
        assert!(
            e.contains("--memory") && e.contains("--database-url"),
            "{e}"
        );
        for url in ["sqlite:x.db", "memory:"] {
            let e = usage(&["--database-url", url, "--database-schema", "s"]);
            assert!(
                e.contains("--database-schema applies to PostgreSQL only"),
                "{e}"
            );
            let e = usage(&["--database-url", url, "--database-pool-size", "2"]);
            assert!(
                e.contains("--database-pool-size applies to PostgreSQL only"),
                "{e}"
            );
            let e = usage(&["--database-url", url, "--database-statement-timeout", "2"]);
            assert!(e.contains("--database-statement-timeout applies"), "{e}");
        }
        let e = usage(&["--memory", "--database-schema", "s"]);
        assert!(
            e.contains("--database-schema applies to PostgreSQL only"),
            "{e}"
        );
        for bad in [
            "sqlite:",
            "sqlite://",
            "sqlite::memory:",
            "sqlite://x.db?mode=rwc",
        ] {
            let e = usage(&["--database-url", bad]);
            assert!(e.contains(bad), "{e}");
        }
        // Another scheme is named, and nothing after it (a password).
        for (bad, scheme) in [
            ("mysql://app:hunter2@db/x", "\"mysql\""),
            ("HTTP://db/x", "\"HTTP\""),
            ("file:x.db", "\"file\""),
            ("c:invitations.db", "\"c\""),
        ] {
            let e = usage(&["--database-url", bad]);
            assert!(
                e.contains(&format!("the scheme {scheme} is not a store")),
                "{e}"
            );
            assert!(!e.contains("hunter2") && !e.contains("db/x"), "{e}");
        }
        for bad in ["x.db", "./data/invitations.db", ""] {
            let e = usage(&["--database-url", bad]);
            assert!(e.contains("an SQLite file is sqlite://PATH"), "{e}");
        }
        for pg in ["postgresql://db/x", "POSTGRES://db/x", "dbname=x"] {
            assert_eq!(
                storage_of_flags(&["--database-url", pg]),
                Ok(Storage::Postgres(DatabaseUrl::from(pg.to_owned())))
            );
        }
    }

    #[test]
    fn the_workers_flag_is_gone() {
        assert!(Args::try_parse_from(["invitation-server", "--workers", "2"]).is_err());
    }

    #[test]
    fn the_log_format_flag_takes_text_or_json() {
        let args = Args::try_parse_from(["invitation-server"]).unwrap();
        assert_eq!(args.log_format, LogFormat::Text);
        let args = Args::try_parse_from(["invitation-server", "--log-format", "json"]).unwrap();
        assert_eq!(args.log_format, LogFormat::Json);
        assert!(Args::try_parse_from(["invitation-server", "--log-format", "xml"]).is_err());
    }

    #[test]
    fn the_database_urls_password_is_in_no_debug_output_of_args() {
        for (url, password) in [
            (
                "postgres://app:hunter2@db.internal:5432/invitations",
                "hunter2",
            ),
            (
                "postgresql://app:s3cr%40t@db/invitations?sslmode=require",
                "s3cr%40t",
            ),
            ("postgres://app:p@ss@db/x", "p@ss"),
            (
                "postgres://app@db/x?password=qwerty&sslmode=disable",
                "qwerty",
            ),
            ("host=db user=app password=letmein dbname=x", "letmein"),
            ("host=db password='it s quoted' user=app", "it s quoted"),
            ("host=db PASSWORD=upper user=app", "upper"),
        ] {
            let args = Args::try_parse_from(["invitation-server", "--database-url", url]).unwrap();
            let debug = format!("{args:?}");
            assert!(!debug.contains(password), "{password:?} in {debug}");
            let pretty = format!("{args:#?}");
            assert!(!pretty.contains(password), "{password:?} in {pretty}");
            assert!(debug.contains("***"), "{debug}");
            assert_eq!(args.database_url.as_ref().unwrap().expose(), url);
        }
        let kept = redact_password("postgres://app:hunter2@db.internal:5432/inv?sslmode=require");
        assert_eq!(
            kept,
            "postgres://app:***@db.internal:5432/inv?sslmode=require"
        );
        assert_eq!(
            redact_password("postgres://app@db/x"),
            "postgres://app@db/x"
        );
        assert_eq!(
            redact_password("host=db password=a user=b"),
            "host=db password=*** user=b"
        );
    }

    #[tokio::test]
    async fn a_server_and_a_bound_server_show_no_token_in_debug() {
        let args =
            Args::try_parse_from(["invitation-server", "--listen", "127.0.0.1:0", "--memory"])
                .unwrap();
        let server = Server::build(&args, Some("bootstrap-secret-1"))
            .await
            .unwrap();
        let debug = format!("{server:?} {server:#?}");
        assert!(!debug.contains("bootstrap-secret-1"), "{debug}");

        let server = Server::build(&args, None).await.unwrap();
        let generated = server.generated_token().unwrap().to_owned();
        let bound = server.bind().await.unwrap();
        let debug = format!("{bound:?} {bound:#?}");
        assert!(!debug.contains(&generated), "{debug}");
        assert!(debug.contains("generated_token: Some(\"***\")"), "{debug}");
    }
}
