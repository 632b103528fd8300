//! How a store's own pool is built, and the per-connection settings a host's
//! pool can opt into.

use std::num::NonZeroUsize;
use std::time::Duration;

use tokio_postgres::Config;

/// How many connections [`PgStore::connect`](crate::PgStore::connect) pools.
pub const DEFAULT_POOL_SIZE: usize = 16;

/// How long [`PgStore::connect`](crate::PgStore::connect)'s pool waits for a
/// free connection, for a new connection to be made, or for one to be
/// recycled, before the call fails with
/// [`invitation_core::StoreError::Unavailable`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The default `statement_timeout`: the longest one statement may run.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// The default `lock_timeout` of a migration's statements.
pub const DEFAULT_MIGRATION_LOCK_TIMEOUT: Duration =
    invitation_postgres_sql::migrations::DEFAULT_LOCK_TIMEOUT;

/// How long [`PgStore::migrate`](crate::PgStore::migrate) keeps retrying
/// after lock timeouts, by default, before it gives up.
pub const DEFAULT_MIGRATION_BUDGET: Duration = invitation_postgres_sql::migrations::DEFAULT_BUDGET;

/// How a store built by [`PgStore::connect_with`](crate::PgStore::connect_with)
/// behaves. `PgOptions::default()` is what
/// [`PgStore::connect`](crate::PgStore::connect) uses.
///
/// The per-connection part ([`PgOptions::apply_to`]) goes into each
/// connection's startup packet, so it holds for every statement on the
/// connection without a round trip, and a host's own pool can opt in by
/// applying it to the `tokio_postgres::Config` it builds its pool from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    pub(crate) max_size: NonZeroUsize,
    pub(crate) statement_timeout: Duration,
    pub(crate) pool_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) keepalives_idle: Duration,
    pub(crate) keepalives_interval: Duration,
    pub(crate) keepalives_retries: u32,
    pub(crate) tcp_user_timeout: Duration,
    pub(crate) jit: bool,
    pub(crate) migration_lock_timeout: Duration,
    pub(crate) migration_budget: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_size: NonZeroUsize::new(DEFAULT_POOL_SIZE).unwrap_or(NonZeroUsize::MIN),
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            pool_timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_TIMEOUT,
            // Idle 10 s, then a probe every 5 s, dead after 3 unanswered:
            // a silent peer is noticed 25 s after it stops answering.
            keepalives_idle: Duration::from_secs(10),
            keepalives_interval: Duration::from_secs(5),
            keepalives_retries: 3,
            // Data sent and not acknowledged for 25 s: the connection is
            // dead (keepalives only probe an idle connection).
            tcp_user_timeout: Duration::from_secs(25),
            jit: false,
            migration_lock_timeout: DEFAULT_MIGRATION_LOCK_TIMEOUT,
            migration_budget: DEFAULT_MIGRATION_BUDGET,
        }
    }
}

impl PgOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most this many connections ([`DEFAULT_POOL_SIZE`]).
    pub fn max_size(mut self, max_size: NonZeroUsize) -> Self {
        self.max_size = max_size;
        self
    }

    /// The server cancels any statement running longer than this
    /// ([`DEFAULT_STATEMENT_TIMEOUT`]); the call fails with
    /// `StoreError::Unavailable`. Whole milliseconds; zero turns the limit
    /// off.
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// How long a call waits for a free connection, for a new one to be
    /// made, or for one to be recycled ([`DEFAULT_TIMEOUT`]).
    pub fn pool_timeout(mut self, timeout: Duration) -> Self {
        self.pool_timeout = timeout;
        self
    }

    /// How long making one connection may take, when the connection string
    /// does not say (`connect_timeout`; [`DEFAULT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// TCP keepalives: first probe after `idle` without traffic, then one
    /// every `interval`, the connection dead after `retries` unanswered
    /// (10 s, 5 s, 3).
    pub fn keepalives(mut self, idle: Duration, interval: Duration, retries: u32) -> Self {
        self.keepalives_idle = idle;
        self.keepalives_interval = interval;
        self.keepalives_retries = retries;
        self
    }

    /// How long sent data may stay unacknowledged before the connection is
    /// dropped (`TCP_USER_TIMEOUT`, Linux; 25 s).
    pub fn tcp_user_timeout(mut self, timeout: Duration) -> Self {
        self.tcp_user_timeout = timeout;
        self
    }

    /// Whether the server may JIT-compile this pool's statements (off by
    /// default: compiling costs tens of milliseconds and megabytes per
    /// backend, more than any of these statements gains from it).
    pub fn jit(mut self, jit: bool) -> Self {
        self.jit = jit;
        self
    }

    /// The `lock_timeout` of each migration transaction
    /// ([`DEFAULT_MIGRATION_LOCK_TIMEOUT`]) and how long `migrate()` keeps
    /// retrying after lock timeouts ([`DEFAULT_MIGRATION_BUDGET`]).
    pub fn migration_timeouts(mut self, lock_timeout: Duration, budget: Duration) -> Self {
        self.migration_lock_timeout = lock_timeout;
        self.migration_budget = budget;
        self
    }

    /// Puts the per-connection settings into `config`: the startup
    /// `options` `-c statement_timeout=…` (and `-c jit=off`) ahead of any
    /// the string already had (so the string's own win), TCP keepalives,
    /// the TCP user timeout, and, where the string set none, the connect
    /// timeout and `application_name=invitation-postgres`.
    pub fn apply_to(&self, config: &mut Config) {
        let mut options = format!(
            "-c statement_timeout={}",
            self.statement_timeout.as_millis()
        );
        if !self.jit {
            options.push_str(" -c jit=off");
        }
        if let Some(theirs) = config.get_options().filter(|o| !o.trim().is_empty()) {
            options.push(' ');
            options.push_str(theirs);
        }
        config.options(options);
        config
            .keepalives(true)
            .keepalives_idle(self.keepalives_idle)
            .keepalives_interval(self.keepalives_interval)
            .keepalives_retries(self.keepalives_retries)
            .tcp_user_timeout(self.tcp_user_timeout);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(self.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("invitation-postgres");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_timeout_goes_before_the_strings_own_options() {
        let mut config: Config = "host=h options='-c search_path=x'".parse().unwrap();
        PgOptions::new()
            .statement_timeout(Duration::from_millis(1500))
            .apply_to(&mut config);
        assert_eq!(
            config.get_options(),
            Some("-c statement_timeout=1500 -c jit=off -c search_path=x")
        );
        assert!(config.get_keepalives());
        assert_eq!(config.get_keepalives_idle(), Duration::from_secs(10));
        assert_eq!(
            config.get_tcp_user_timeout(),
            Some(&Duration::from_secs(25))
        );
        assert_eq!(config.get_application_name(), Some("invitation-postgres"));
    }
}
