//! `InvitationService::builder` with only a store and an authorizer: the
//! defaults a host without flows or a user directory gets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use invitation_core::{
    AllowAll, CreateError, Field, FlowId, InvitationInput, InvitationService, ListRequest,
    Principal, UserId,
};
use invitation_memory::MemoryStore;

fn service() -> InvitationService {
    InvitationService::builder(Arc::new(MemoryStore::new()))
        .authorizer(Arc::new(AllowAll))
        .build()
}

#[tokio::test]
async fn without_a_user_directory_creators_are_shown_and_filtered_by_their_id() {
    let service = service();
    let admin = Principal::user(UserId::new(42));
    let created = service
        .create(&admin, InvitationInput::new().name("from-42"))
        .await
        .unwrap();
    assert_eq!(created.created_by.pk, UserId::new(42));
    assert_eq!(created.created_by.username, "42");
    assert!(created.created_by.is_active);

    let by = |username: &str| ListRequest {
        created_by_username: Some(username.to_owned()),
        ..ListRequest::default()
    };
    let page = service.list(&admin, &by("42")).await.unwrap();
    assert_eq!(page.results.len(), 1);
    for other in ["042", "+42", "41", "alice"] {
        let page = service.list(&admin, &by(other)).await.unwrap();
        assert!(page.results.is_empty(), "{other} names no creator");
    }
}

#[tokio::test]
async fn without_flows_an_invitation_cannot_be_bound_and_is_redeemed_outside_any_flow() {
    let service = service();
    let admin = Principal::user(UserId::new(1));
    let bound = InvitationInput::new()
        .name("bound")
        .flow(Some(FlowId::from_uuid(uuid::Uuid::from_u128(1))));
    match service.create(&admin, bound).await {
        Err(CreateError::Invalid(errors)) => assert_eq!(errors.of(Field::Flow).count(), 1),
        other => panic!("a flow no directory knows was accepted: {other:?}"),
    }
    let created = service
        .create(&admin, InvitationInput::new().name("anywhere"))
        .await
        .unwrap();
    let token = created.invitation.id().to_string();
    assert!(service.redeem(&token, None).await.is_ok());
}
