//! What clients see when storage fails: a generic 500, or 503 when it is
//! unavailable; never the backend's own text.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use common::{Harness, ADMIN, INVITATIONS};
use invitation_core::{
    DeleteOutcome, FlowId, Invitation, InvitationId, InvitationPatch, InvitationStore, ListQuery,
    RedeemOutcome, StoreError, StoredPage, UpdateOutcome, UserId, Version,
};
use reqwest::Method;
use serde_json::json;

const SECRET: &str = "password=hunter2 host=db.internal";

/// Fails every call, as unavailable or as a backend error.
#[derive(Debug)]
struct FailingStore {
    unavailable: bool,
}

impl FailingStore {
    fn error(&self) -> StoreError {
        let source = std::io::Error::other(SECRET);
        if self.unavailable {
            StoreError::Unavailable(Box::new(source))
        } else {
            StoreError::Backend(Box::new(source))
        }
    }
}

#[async_trait]
impl InvitationStore for FailingStore {
    async fn insert(&self, _: &Invitation) -> Result<(), StoreError> {
        Err(self.error())
    }
    async fn get(&self, _: &InvitationId) -> Result<Option<Invitation>, StoreError> {
        Err(self.error())
    }
    async fn update(
        &self,
        _: &InvitationId,
        _: &InvitationPatch,
        _: Option<Version>,
    ) -> Result<UpdateOutcome, StoreError> {
        Err(self.error())
    }
    async fn delete(
        &self,
        _: &InvitationId,
        _: Option<Version>,
    ) -> Result<DeleteOutcome, StoreError> {
        Err(self.error())
    }
    async fn list(&self, _: &ListQuery) -> Result<StoredPage, StoreError> {
        Err(self.error())
    }
    async fn redeem(
        &self,
        _: &InvitationId,
        _: Option<&FlowId>,
        _: DateTime<Utc>,
    ) -> Result<RedeemOutcome, StoreError> {
        Err(self.error())
    }
    async fn purge_expired(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
        Err(self.error())
    }
    async fn unbind_flow(&self, _: &FlowId) -> Result<u64, StoreError> {
        Err(self.error())
    }
    async fn delete_created_by(&self, _: &UserId) -> Result<u64, StoreError> {
        Err(self.error())
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Err(self.error())
    }
}

async fn failing(unavailable: bool) -> Harness {
    Harness::start(Arc::new(FailingStore { unavailable })).await
}

#[tokio::test]
async fn a_storage_failure_is_a_generic_500_that_leaks_nothing() {
    let h = failing(false).await;
    let pk = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
    for (method, path, body, _) in common::routes(pk) {
        let answer = h
            .call(method.clone(), &path, Some(ADMIN), body.as_ref())
            .await;
        answer.refused(500, "A server error occurred.", "server_error");
        assert!(
            !answer.text.contains("hunter2"),
            "{method} {path} leaked: {}",
            answer.text
        );
    }
    h.finish().await;
}

#[tokio::test]
async fn unavailable_storage_is_503_and_leaks_nothing() {
    let h = failing(true).await;
    let answer = h
        .call(
            Method::POST,
            INVITATIONS,
            Some(ADMIN),
            Some(&json!({"name": "x"})),
        )
        .await;
    answer.refused(
        503,
        "Service temporarily unavailable, try again later.",
        "service_unavailable",
    );
    assert!(!answer.text.contains("hunter2"));
    assert_eq!(
        answer
            .headers
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("5")
    );
    h.finish().await;
}

#[tokio::test]
async fn readiness_is_503_when_storage_does_not_answer_and_liveness_stays_200() {
    for unavailable in [true, false] {
        let h = failing(unavailable).await;
        let ready = h.get("/-/health/ready/").await;
        assert_eq!(ready.status.as_u16(), 503, "{}", ready.text);
        let body = ready.json();
        assert_eq!(body["code"], "service_unavailable");
        assert!(body["detail"].is_string());
        assert!(!ready.text.contains("hunter2"));
        h.get("/-/health/live/").await.expect(200);
        h.finish().await;
    }
}
