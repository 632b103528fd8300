//! `InvitationService::unit_of_work`: the use cases through another store,
//! their events held until the host publishes them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use invitation_core::{
    AllowAll, CreateError, InvitationEvent, InvitationInput, InvitationService, InvitationStore,
    Principal, UserId,
};
use invitation_memory::MemoryStore;
use invitation_testkit::doubles::{DenyAll, RecordingEvents};

fn service(events: &Arc<RecordingEvents>) -> InvitationService {
    InvitationService::builder(Arc::new(MemoryStore::new()))
        .authorizer(Arc::new(AllowAll))
        .events(events.clone())
        .build()
}

#[tokio::test]
async fn the_unit_writes_to_its_own_store_and_its_events_wait_for_publish() {
    let events = Arc::new(RecordingEvents::new());
    let service = service(&events);
    let other = MemoryStore::new();
    let admin = Principal::user(UserId::new(3));

    let mut unit = service.unit_of_work(&other);
    let created = unit
        .create(&admin, InvitationInput::new().name("in-the-unit"))
        .await
        .unwrap();
    let id = *created.invitation.id();
    unit.delete(&admin, &id, None).await.unwrap();
    let again = unit
        .create(&admin, InvitationInput::new().name("kept"))
        .await
        .unwrap();
    assert!(
        events.events().is_empty(),
        "nothing recorded before publish"
    );

    let pending = unit.finish();
    assert_eq!(
        pending.events(),
        [
            InvitationEvent::Created {
                invitation: id,
                by: UserId::new(3)
            },
            InvitationEvent::Deleted {
                invitation: id,
                by: UserId::new(3)
            },
            InvitationEvent::Created {
                invitation: *again.invitation.id(),
                by: UserId::new(3)
            },
        ]
    );
    pending.publish().await;
    assert_eq!(events.events().len(), 3, "published once each");

    let kept = *again.invitation.id();
    assert!(
        other.get(&kept).await.unwrap().is_some(),
        "in the unit's store"
    );
    assert!(
        service.store().get(&kept).await.unwrap().is_none(),
        "not in the service's own store"
    );
}

#[tokio::test]
async fn dropped_pending_events_are_never_recorded() {
    let events = Arc::new(RecordingEvents::new());
    let service = service(&events);
    let store = MemoryStore::new();
    let mut unit = service.unit_of_work(&store);
    unit.create(
        &Principal::user(UserId::new(1)),
        InvitationInput::new().name("rolled-back"),
    )
    .await
    .unwrap();
    drop(unit.finish());
    assert!(events.events().is_empty());
}

#[tokio::test]
async fn a_forbidden_caller_writes_nothing_through_the_unit() {
    let events = Arc::new(RecordingEvents::new());
    let service = InvitationService::builder(Arc::new(MemoryStore::new()))
        .authorizer(Arc::new(DenyAll))
        .events(events.clone())
        .build();
    let store = MemoryStore::new();
    let mut unit = service.unit_of_work(&store);
    let refused = unit
        .create(
            &Principal::user(UserId::new(1)),
            InvitationInput::new().name("refused"),
        )
        .await;
    assert!(matches!(refused, Err(CreateError::Forbidden)));
    assert!(unit.finish().events().is_empty());
    assert!(store.is_empty(), "nothing written");
}
