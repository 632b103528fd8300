//! [`InvitationService::builder`]: the use cases wired to the ports a host
//! has, with the others left out.

use std::sync::Arc;

use crate::mail::{MailOutbox, MailTemplates};
use crate::ports::{
    Authorizer, Clock, EventSink, FlowDirectory, IdGenerator, InvitationStore, NoFlows, NoUsers,
    UserDirectory,
};
use crate::service::InvitationService;

/// Builds an [`InvitationService`]; from [`InvitationService::builder`].
///
/// Only storage and authorization are required, and authorization has no
/// default: [`build`](ServiceBuilder::build) exists only once
/// [`authorizer`](ServiceBuilder::authorizer) was called (a host that
/// authorizes elsewhere says so with [`AllowAll`](crate::AllowAll)).
/// Without [`flows`](ServiceBuilder::flows) the service knows no flow
/// ([`NoFlows`]); without [`users`](ServiceBuilder::users) creators are
/// shown from their ids ([`NoUsers`]). The clock is the system's, ids are
/// random, and events are dropped, unless replaced.
///
/// A call without an authorizer does not compile:
///
/// ```compile_fail
/// use std::sync::Arc;
/// # fn store() -> Arc<dyn invitation_core::InvitationStore> { unimplemented!() }
/// let service = invitation_core::InvitationService::builder(store()).build();
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ServiceBuilder<A = NeedsAuthorizer> {
    store: Arc<dyn InvitationStore>,
    authorizer: A,
    flows: Option<Arc<dyn FlowDirectory>>,
    users: Option<Arc<dyn UserDirectory>>,
    clock: Option<Arc<dyn Clock>>,
    ids: Option<Arc<dyn IdGenerator>>,
    events: Option<Arc<dyn EventSink>>,
    mail: Option<(Arc<dyn MailOutbox>, Arc<dyn MailTemplates>)>,
}

/// The state of a [`ServiceBuilder`] that has no authorizer yet.
#[derive(Debug, Clone, Copy)]
pub struct NeedsAuthorizer;

impl InvitationService {
    /// Starts wiring the use cases to `store`. See [`ServiceBuilder`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use invitation_core::{AllowAll, InvitationService, InvitationStore};
    ///
    /// fn wire(store: Arc<dyn InvitationStore>) -> InvitationService {
    ///     InvitationService::builder(store)
    ///         .authorizer(Arc::new(AllowAll))
    ///         .build()
    /// }
    /// ```
    pub fn builder(store: Arc<dyn InvitationStore>) -> ServiceBuilder {
        ServiceBuilder {
            store,
            authorizer: NeedsAuthorizer,
            flows: None,
            users: None,
            clock: None,
            ids: None,
            events: None,
            mail: None,
        }
    }
}

impl<A> ServiceBuilder<A> {
    /// Who may do what: asked before every use case but redemption.
    pub fn authorizer(
        self,
        authorizer: Arc<dyn Authorizer>,
    ) -> ServiceBuilder<Arc<dyn Authorizer>> {
        ServiceBuilder {
            store: self.store,
            authorizer,
            flows: self.flows,
            users: self.users,
            clock: self.clock,
            ids: self.ids,
            events: self.events,
            mail: self.mail,
        }
    }

    /// The host's flows: invitations may then be bound to one.
    pub fn flows(mut self, flows: Arc<dyn FlowDirectory>) -> Self {
        self.flows = Some(flows);
        self
    }

    /// The host's users: creators are then shown as the directory has them.
    pub fn users(mut self, users: Arc<dyn UserDirectory>) -> Self {
        self.users = Some(users);
        self
    }

    /// Replaces the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Replaces the random id generator.
    pub fn ids(mut self, ids: Arc<dyn IdGenerator>) -> Self {
        self.ids = Some(ids);
        self
    }

    /// Records events in `events` (by default they are dropped).
    pub fn events(mut self, events: Arc<dyn EventSink>) -> Self {
        self.events = Some(events);
        self
    }

    /// Sends invitation mail: `send_email` renders with `templates` and
    /// queues in `outbox` (without, it answers
    /// [`SendEmailError::NotConfigured`](crate::SendEmailError::NotConfigured)).
    pub fn mail(mut self, outbox: Arc<dyn MailOutbox>, templates: Arc<dyn MailTemplates>) -> Self {
        self.mail = Some((outbox, templates));
        self
    }
}

impl ServiceBuilder<Arc<dyn Authorizer>> {
    /// The service.
    pub fn build(self) -> InvitationService {
        // `new` has the system clock, random ids and no event sink.
        let mut service = InvitationService::new(
            self.store,
            self.flows.unwrap_or_else(|| Arc::new(NoFlows)),
            self.users.unwrap_or_else(|| Arc::new(NoUsers)),
            self.authorizer,
        );
        if let Some(clock) = self.clock {
            service = service.with_clock(clock);
        }
        if let Some(ids) = self.ids {
            service = service.with_ids(ids);
        }
        if let Some(events) = self.events {
            service = service.with_events(events);
        }
        if let Some((outbox, templates)) = self.mail {
            service = service.with_mail(outbox, templates);
        }
        service
    }
}
