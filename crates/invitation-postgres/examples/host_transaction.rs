//! A host that writes an invitation together with rows of its own, in one
//! transaction: it signs up an organisation and creates the invitation for
//! its first admin, so that there is never an organisation without its
//! invitation, nor an invitation for an organisation that does not exist.
//!
//! The host has its own `deadpool-postgres` pool and its own table
//! (`organisations`, in the first schema of the connection's
//! `search_path`); the invitations live in the adapter's schema
//! (`invitation`) on the same database. The `Created` event is published
//! only after the commit.
//!
//! ```sh
//! INVITATION_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo run -p invitation-postgres --example host_transaction -- [organisation]
//! ```
//!
//! `tests/host_transaction.rs` runs [`sign_up`] as [`main`] does, against a
//! real server, and checks what is stored and published.

use std::sync::Arc;

use invitation_core::{
    AllowAll, CreateError, InvitationInput, InvitationService, InvitationView, PendingEvents,
    Principal, UserId,
};
use invitation_postgres::deadpool_postgres::{
    Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime,
};
use invitation_postgres::tokio_postgres::Transaction;
use invitation_postgres::{ConnectionSettings, PgOptions, PgStore};

/// Used when `INVITATION_DATABASE_URL` is unset.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The host's own table.
pub const ORGANISATIONS: &str = "CREATE TABLE IF NOT EXISTS organisations (
    id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE
)";

/// Why signing up an organisation failed.
#[derive(Debug, thiserror::Error)]
pub enum SignUpError {
    /// The host's database work failed.
    #[error("database")]
    Database(#[from] invitation_postgres::tokio_postgres::Error),
    /// No connection could be had.
    #[error("no connection")]
    Pool(#[from] PoolError),
    /// The invitation could not be created (refused, invalid, storage).
    #[error("invitation")]
    Invitation(#[from] CreateError),
}

/// What a sign-up wrote.
#[derive(Debug)]
pub struct SignedUp {
    /// The organisation's id.
    pub organisation: i64,
    /// Its first admin's invitation.
    pub invitation: InvitationView,
}

/// Inside the host's open `transaction`: the organisation `name`, then the
/// invitation for its first admin, created by `caller` through the
/// service's unit of work over `store` scoped to the transaction. Returns
/// what was written and the events to publish once the host has committed.
///
/// # Errors
/// Whatever failed; the host then rolls the transaction back.
pub async fn sign_up(
    transaction: &Transaction<'_>,
    store: &PgStore,
    service: &InvitationService,
    caller: &Principal,
    name: &str,
) -> Result<(SignedUp, PendingEvents), SignUpError> {
    let row = transaction
        .query_one(
            "INSERT INTO organisations (name) VALUES ($1) RETURNING id",
            &[&name],
        )
        .await?;
    let organisation: i64 = row.try_get(0)?;

    let scoped = store.in_transaction(transaction);
    let mut unit = service.unit_of_work(&scoped);
    let input = InvitationInput::new()
        .name(format!("{name}-first-admin"))
        .single_use(true)
        // What the invitation forces onto the new account.
        .fixed_data_value(serde_json::json!({"organisation": organisation, "role": "admin"}));
    let invitation = unit.create(caller, input).await?;
    let signed_up = SignedUp {
        organisation,
        invitation,
    };
    Ok((signed_up, unit.finish()))
}

/// A pool to `url` with the adapter's per-connection settings.
///
/// # Errors
/// When `url` cannot be read or the pool cannot be built.
pub fn pool(url: &str) -> Result<Pool, Box<dyn std::error::Error>> {
    let (mut config, tls) = ConnectionSettings::parse(url)?.into_parts();
    PgOptions::default().apply_to(&mut config);
    let manager = Manager::from_config(
        config,
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Ok(Pool::builder(manager)
        .max_size(4)
        .runtime(Runtime::Tokio1)
        .build()?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("INVITATION_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("org{}", std::process::id()));

    let pool = pool(&url)?;
    let store = PgStore::new(pool.clone());
    store.migrate().await?;
    pool.get().await?.batch_execute(ORGANISATIONS).await?;

    // The host's admins are authorized before they get here.
    let service = InvitationService::builder(Arc::new(store.clone()))
        .authorizer(Arc::new(AllowAll))
        .build();
    let admin = Principal::user(UserId::new(1));

    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    let (signed_up, events) = match sign_up(&transaction, &store, &service, &admin, &name).await {
        Ok(done) => done,
        Err(error) => {
            transaction.rollback().await?;
            return Err(error.into());
        }
    };
    transaction.commit().await?;
    events.publish().await;

    println!(
        "organisation {} ({name}): first admin invitation {}",
        signed_up.organisation,
        signed_up.invitation.invitation.id()
    );
    Ok(())
}
