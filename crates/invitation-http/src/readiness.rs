//! Readiness with its answer cached.
//!
//! Readiness is asked without credentials, so anyone may ask it as often
//! as they like: its answer is kept for [`READY_CACHE`], so that a flood
//! of probes costs storage at most one ping in that time, and concurrent
//! probes wait for the one ping in flight rather than each sending their
//! own. A failing check is logged when the answer changes (ready to not
//! ready, and back), not on every probe.

use std::time::{Duration, Instant};

use invitation_core::StoreError;
use tokio::sync::Mutex;

use crate::error::Chain;

/// How long a readiness answer is kept.
pub(crate) const READY_CACHE: Duration = Duration::from_secs(1);

/// The last readiness check, shared by every request.
#[derive(Debug, Default)]
pub(crate) struct Readiness {
    /// Held while a ping is in flight, so that concurrent probes wait for
    /// its answer.
    last: Mutex<Last>,
}

#[derive(Debug, Default)]
struct Last {
    /// When the last ping answered, and whether storage was ready.
    checked: Option<(Instant, bool)>,
    /// Whether the last answer logged was "not ready".
    reported_down: bool,
}

impl Readiness {
    /// Whether storage is ready: the answer of `ping`, called only when the
    /// last answer is older than [`READY_CACHE`].
    pub(crate) async fn check<F, P>(&self, ping: P) -> bool
    where
        P: FnOnce() -> F,
        F: std::future::Future<Output = Result<(), StoreError>>,
    {
        let mut last = self.last.lock().await;
        if let Some((at, ready)) = last.checked {
            if at.elapsed() < READY_CACHE {
                return ready;
            }
        }
        let answer = ping().await;
        let ready = answer.is_ok();
        match (&answer, last.reported_down) {
            (Err(e), false) => {
                tracing::warn!(error = %Chain(e), "readiness check: storage does not answer");
                last.reported_down = true;
            }
            (Ok(()), true) => {
                tracing::info!("readiness check: storage answers again");
                last.reported_down = false;
            }
            _ => {}
        }
        last.checked = Some((Instant::now(), ready));
        ready
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    /// `n` checks at once, each pinging by `ping` (which takes 50 ms);
    /// their answers.
    async fn probes<F>(readiness: &Arc<Readiness>, n: usize, ping: F) -> Vec<bool>
    where
        F: Fn() -> Result<(), StoreError> + Clone + Send + Sync + 'static,
    {
        let probes: Vec<_> = (0..n)
            .map(|_| {
                let readiness = Arc::clone(readiness);
                let ping = ping.clone();
                tokio::spawn(async move {
                    readiness
                        .check(|| async move {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            ping()
                        })
                        .await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for probe in probes {
            answers.push(probe.await.unwrap());
        }
        answers
    }

    #[tokio::test]
    async fn concurrent_readiness_probes_cost_one_ping_a_second() {
        let readiness = Arc::new(Readiness::default());
        let pings = Arc::new(AtomicUsize::new(0));
        let ping = {
            let pings = Arc::clone(&pings);
            move || {
                pings.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        };
        assert_eq!(probes(&readiness, 50, ping.clone()).await, vec![true; 50]);
        assert_eq!(pings.load(Ordering::SeqCst), 1, "one ping for 50 probes");
        assert_eq!(probes(&readiness, 50, ping.clone()).await, vec![true; 50]);
        assert_eq!(pings.load(Ordering::SeqCst), 1, "the answer is kept");

        tokio::time::sleep(READY_CACHE).await;
        assert_eq!(probes(&readiness, 50, ping).await, vec![true; 50]);
        assert_eq!(pings.load(Ordering::SeqCst), 2, "and asked again after");
    }

    #[tokio::test]
    async fn a_failing_check_is_kept_too_and_a_recovery_is_seen_after_the_cache() {
        let readiness = Arc::new(Readiness::default());
        let down = || Err(StoreError::Unavailable("down".into()));
        assert_eq!(probes(&readiness, 10, down).await, vec![false; 10]);
        assert!(readiness.last.lock().await.reported_down, "reported once");
        assert_eq!(probes(&readiness, 10, || Ok(())).await, vec![false; 10]);
        tokio::time::sleep(READY_CACHE).await;
        assert_eq!(probes(&readiness, 10, || Ok(())).await, vec![true; 10]);
        assert!(!readiness.last.lock().await.reported_down, "and back");
    }
}
