//! A host with users of its own and no flows: it wires the use cases to the
//! memory store, its own user table (as the `UserDirectory` and the
//! `Authorizer`), creates a single-use invitation as an admin and redeems
//! it outside any flow, as its sign-up page would.
//!
//! `cargo run -p invitation-memory --example own_users`

use std::collections::BTreeMap;
use std::sync::Arc;

use invitation_core::chrono::{Duration, Utc};
use invitation_core::{
    async_trait, AuthError, Authorizer, DirectoryError, InvitationInput, InvitationService,
    Permission, Principal, UserDirectory, UserId, UserSummary,
};
use invitation_memory::MemoryStore;

/// The host's own accounts: integer keys, a username, an admin flag.
#[derive(Debug, Default)]
struct Accounts {
    users: BTreeMap<i64, (String, bool)>,
}

impl Accounts {
    fn with(mut self, id: i64, username: &str, admin: bool) -> Self {
        self.users.insert(id, (username.to_owned(), admin));
        self
    }

    fn summary(&self, id: &UserId) -> Option<Arc<UserSummary>> {
        let (username, _) = self.users.get(&id.get())?;
        Some(Arc::new(UserSummary::new(*id, username.as_str())))
    }

    /// The ids of the users whose username passes `keep`.
    fn ids_where(&self, keep: impl Fn(&str) -> bool) -> Vec<UserId> {
        self.users
            .iter()
            .filter(|(_, (username, _))| keep(username))
            .map(|(id, _)| UserId::new(*id))
            .collect()
    }
}

/// Shows creators by their username, and lets list searches find them.
#[async_trait]
impl UserDirectory for Accounts {
    async fn user(&self, id: &UserId) -> Result<Option<Arc<UserSummary>>, DirectoryError> {
        Ok(self.summary(id))
    }

    async fn users(&self, ids: &[UserId]) -> Result<Vec<Arc<UserSummary>>, DirectoryError> {
        Ok(ids.iter().filter_map(|id| self.summary(id)).collect())
    }

    async fn find_by_username(&self, username: &str) -> Result<Vec<UserId>, DirectoryError> {
        Ok(self.ids_where(|name| name == username))
    }

    async fn search_usernames(&self, text: &str) -> Result<Vec<UserId>, DirectoryError> {
        // The directory contract: contains `text`, ignoring ASCII case.
        let text = text.to_ascii_lowercase();
        Ok(self.ids_where(|name| name.to_ascii_lowercase().contains(&text)))
    }
}

/// Admins may do everything with invitations; nobody else anything.
#[async_trait]
impl Authorizer for Accounts {
    async fn is_allowed(
        &self,
        principal: &Principal,
        _permission: Permission,
    ) -> Result<bool, AuthError> {
        let user = principal.user_id().get();
        Ok(self.users.get(&user).is_some_and(|(_, admin)| *admin))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let accounts = Arc::new(
        Accounts::default()
            .with(1, "alice", true)
            .with(2, "mallory", false),
    );
    // No `.flows(...)`: the host has none, so every invitation is unbound.
    let service = InvitationService::builder(Arc::new(MemoryStore::new()))
        .authorizer(accounts.clone())
        .users(accounts)
        .build();

    let input = || {
        InvitationInput::new()
            .name("welcome-bob")
            .single_use(true)
            .expires(Some(Utc::now() + Duration::days(7)))
    };
    let refused = service
        .create(&Principal::user(UserId::new(2)), input())
        .await;
    println!(
        "mallory creates: {}",
        refused.map_or_else(|e| e.to_string(), |_| "ok".into())
    );

    let created = service
        .create(&Principal::user(UserId::new(1)), input())
        .await?;
    let token = created.invitation.id().to_string(); // the secret in the link
    println!(
        "alice created {:?} (token {token}), shown as created by {}",
        created.invitation.name().as_str(),
        created.created_by.username,
    );

    // Bob signs up with the link: redeemed outside any flow.
    let redeemed = service.redeem(&token, None).await?;
    println!("bob redeems: {:?}", redeemed.name().as_str());
    let again = service.redeem(&token, None).await;
    println!(
        "bob redeems again: {}",
        again.map_or_else(|e| e.to_string(), |_| "ok".into())
    );
    Ok(())
}
