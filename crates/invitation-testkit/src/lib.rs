#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Test support: a failed expectation is a panic by design.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

pub mod conformance;
pub mod doubles;
pub mod outbox_conformance;
