//! What the use cases answer about one invitation.

use std::sync::Arc;

use crate::directory::{FlowSummary, UserSummary};
use crate::model::Invitation;

/// An invitation with its creator and flow resolved: what the API returns.
#[derive(Debug, Clone, PartialEq)]
pub struct InvitationView {
    /// The invitation.
    pub invitation: Invitation,
    /// Its creator ([`UserSummary::unknown`] if the directory no longer knows them).
    pub created_by: Arc<UserSummary>,
    /// Its flow, if bound and known to the flow directory.
    pub flow: Option<Arc<FlowSummary>>,
}
