//! The PostgreSQL schema of the invitation store, written once for both
//! PostgreSQL adapters: [`invitation-postgres`] (tokio-postgres and
//! deadpool) and [`invitation-sqlx`] (feature `postgres`, over the host's
//! sqlx pool). Because both run these migrations and these statements, a
//! host can move from one adapter to the other on the same database
//! without migrating data.
//!
//! It holds no driver: the statements are text, and the migration
//! procedure sends its own through a connection the adapter wraps.
//!
//! - [`Schema`]: the host-chosen schema name, validated, and the qualified
//!   names of its objects;
//! - [`migrations`]: the versioned migrations, the optional search indexes,
//!   and the texts each adapter's migration runner sends (advisory lock
//!   keys, bookkeeping table, catalog look-ups);
//! - [`Statements`]: the text of every fixed statement of the store and the
//!   mail outbox, with what each parameter is;
//! - [`answers`]: the values bound besides an invitation's columns, and
//!   what the answers of `update`, `delete`, `redeem` and `enqueue` mean;
//! - [`list::plan`]: a [`ListQuery`](invitation_core::ListQuery) as one
//!   statement of bounded shape and its parameters as driver-neutral
//!   [`list::Param`] values, which each adapter binds its own way.
//!
//! Most hosts never use this crate directly: they pick an adapter.
//!
//! [`invitation-postgres`]: https://docs.rs/invitation-postgres
//! [`invitation-sqlx`]: https://docs.rs/invitation-sqlx
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod answers;
pub mod list;
pub mod migrations;
mod schema;

pub use crate::schema::{InvalidSchema, Schema, Statements, COLUMNS, DEFAULT_SCHEMA, MAIL_COLUMNS};
