//! The use cases, behind the ports.

use std::collections::HashMap;
use std::sync::Arc;

use crate::directory::{FlowSummary, UserSummary};
use crate::ids::{FlowId, InvitationId, UserId};
use crate::list::{total_pages, ListPage, ListRequest, PageNumber, SearchError};
use crate::mail::{
    DispatchReport, EmailAddress, GivenUp, InvitationMail, MailId, MailOutbox, MailTemplates,
    Mailer, QueuedMail, RetryPolicy, SendEmail, Site, DEFAULT_TEMPLATE,
};
use crate::model::{Invitation, InvitationParts, InvitationPatch, Version};
use crate::ports::{
    AuthError, Authorizer, Clock, DeleteOutcome, DirectoryError, EventSink, FlowDirectory,
    IdGenerator, InvitationEvent, InvitationStore, Permission, Principal, RandomIds, RedeemOutcome,
    StoreError, SystemClock, UpdateOutcome, UserDirectory,
};
use crate::query::{Filters, ListQuery, SearchTerm};
use crate::validation::{
    flow_not_found, validate, Changes, InvitationInput, Mode, ValidationErrors,
};
use crate::view::InvitationView;

macro_rules! use_case_error {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident $( ( $inner:ty ) )? $( { $(#[$fmeta:meta])* $field:ident : $fty:ty } )? => $msg:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, thiserror::Error)]
        #[non_exhaustive]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[error($msg)]
                $variant $( (#[source] $inner) )? $( { $(#[$fmeta])* $field: $fty } )?,
            )*
        }
    };
}

use_case_error!(
    /// Why creating an invitation failed.
    CreateError {
        /// The caller lacks `add_invitation`.
        Forbidden => "you do not have permission to perform this action",
        /// The input breaks field rules (all of them listed).
        Invalid(ValidationErrors) => "invalid invitation",
        /// Storage failed.
        Store(StoreError) => "storage failed",
        /// A directory failed.
        Directory(DirectoryError) => "directory failed",
        /// The authorizer failed.
        Auth(AuthError) => "authorization failed",
    }
);

use_case_error!(
    /// Why reading one invitation failed.
    GetError {
        /// The caller lacks `view_invitation`.
        Forbidden => "you do not have permission to perform this action",
        /// No invitation has this id.
        NotFound => "no invitation matches the given query",
        /// Storage failed.
        Store(StoreError) => "storage failed",
        /// A directory failed.
        Directory(DirectoryError) => "directory failed",
        /// The authorizer failed.
        Auth(AuthError) => "authorization failed",
    }
);

use_case_error!(
    /// Why listing failed.
    ListError {
        /// The caller lacks `view_invitation`.
        Forbidden => "you do not have permission to perform this action",
        /// The page does not exist (0, or past the end).
        InvalidPage => "invalid page",
        /// The search breaks its bounds (every bound it breaks, in a fixed
        /// order).
        InvalidSearch {
            /// The bounds broken.
            errors: Vec<SearchError>
        } => "invalid search",
        /// Storage failed.
        Store(StoreError) => "storage failed",
        /// A directory failed.
        Directory(DirectoryError) => "directory failed",
        /// The authorizer failed.
        Auth(AuthError) => "authorization failed",
    }
);

use_case_error!(
    /// Why an update (full or partial) failed.
    UpdateError {
        /// The caller lacks `change_invitation`.
        Forbidden => "you do not have permission to perform this action",
        /// No invitation has this id.
        NotFound => "no invitation matches the given query",
        /// The input breaks field rules (all of them listed).
        Invalid(ValidationErrors) => "invalid invitation",
        /// The invitation is no longer at the version the caller expected;
        /// nothing was written.
        VersionMismatch {
            /// The version stored.
            current: Version
        } => "the invitation has changed since it was read",
        /// Storage failed.
        Store(StoreError) => "storage failed",
        /// A directory failed.
        Directory(DirectoryError) => "directory failed",
        /// The authorizer failed.
        Auth(AuthError) => "authorization failed",
    }
);

use_case_error!(
    /// Why a delete failed.
    DeleteError {
        /// The caller lacks `delete_invitation`.
        Forbidden => "you do not have permission to perform this action",
        /// No invitation has this id.
        NotFound => "no invitation matches the given query",
        /// The invitation is no longer at the version the caller expected;
        /// nothing was deleted.
        VersionMismatch {
            /// The version stored.
            current: Version
        } => "the invitation has changed since it was read",
        /// Storage failed.
        Store(StoreError) => "storage failed",
        /// The authorizer failed.
        Auth(AuthError) => "authorization failed",
    }
);

use_case_error!(
    /// Why a redemption failed. Every variant but `Store` means "this token
    /// is not valid here" and changed nothing.
    RedeemError {
        /// The token is not a UUID.
        Malformed => "the invitation token is malformed",
        /// No invitation has this token (or a single-use one was consumed).
        NotFound => "no invitation matches the token",
        /// The invitation has expired.
        Expired => "the invitation has expired",
        /// The invitation is bound to another flow.
        WrongFlow => "the invitation is bound to another flow",
        /// Storage failed.
        Store(StoreError) => "storage failed",
    }
);

use_case_error!(
    /// Why `send_email` failed. Nothing was queued.
    SendEmailError {
        /// The caller lacks `add_invitation`.
        Forbidden => "you do not have permission to perform this action",
        /// The service has no outbox and templates ([`crate::ServiceBuilder::mail`]).
        NotConfigured => "email is not configured",
        /// No invitation has this id.
        NotFound => "no invitation matches the given query",
        /// No `to` address.
        NoAddresses => "No email addresses provided",
        /// The invitation is bound to no flow (its link needs one).
        NoFlow => "Invitation has no associated flow",
        /// An address is not an e-mail address.
        InvalidAddress(crate::mail::InvalidEmailAddress) => "invalid email address",
        /// More than [`crate::MAX_RECIPIENTS`] addresses in all.
        TooManyRecipients => "too many recipients",
        /// The template is unknown, not allowed, or failed.
        Template(crate::mail::TemplateError) => "the template could not be rendered",
        /// The outbox failed: nothing was queued (the first `to` address
        /// is the first mail not queued).
        Queue(StoreError) => "failed to queue email",
        /// A directory failed.
        Directory(DirectoryError) => "directory failed",
        /// Storage failed.
        Store(StoreError) => "storage failed",
        /// The authorizer failed.
        Auth(AuthError) => "authorization failed",
    }
);

macro_rules! from_errors {
    ($target:ident: $($source:ident => $variant:ident),*) => {
        $(impl From<$source> for $target {
            fn from(e: $source) -> Self {
                Self::$variant(e)
            }
        })*
    };
}
from_errors!(CreateError: StoreError => Store, DirectoryError => Directory, AuthError => Auth);
from_errors!(GetError: StoreError => Store, DirectoryError => Directory, AuthError => Auth);
from_errors!(ListError: StoreError => Store, DirectoryError => Directory, AuthError => Auth);
from_errors!(UpdateError: StoreError => Store, DirectoryError => Directory, AuthError => Auth);
from_errors!(DeleteError: StoreError => Store, AuthError => Auth);
from_errors!(RedeemError: StoreError => Store);
from_errors!(SendEmailError: StoreError => Store, DirectoryError => Directory, AuthError => Auth);

impl From<crate::mail::InvalidEmailAddress> for SendEmailError {
    fn from(e: crate::mail::InvalidEmailAddress) -> Self {
        Self::InvalidAddress(e)
    }
}

impl From<crate::mail::TemplateError> for SendEmailError {
    fn from(e: crate::mail::TemplateError) -> Self {
        Self::Template(e)
    }
}

/// The invitation use cases. Cheap to clone; share one per process.
/// Made with [`InvitationService::builder`], which leaves out the ports a
/// host does not have, or [`InvitationService::new`] with all four.
///
/// ```
/// # use std::sync::Arc;
/// # use invitation_core::*;
/// # fn wire(store: Arc<dyn InvitationStore>, flows: Arc<dyn FlowDirectory>,
/// #         users: Arc<dyn UserDirectory>, authz: Arc<dyn Authorizer>) {
/// let service = InvitationService::builder(store)
///     .authorizer(authz)
///     .flows(flows)
///     .users(users)
///     .events(Arc::new(NoEvents))
///     .build();
/// # let _ = service; }
/// ```
#[derive(Debug, Clone)]
pub struct InvitationService {
    store: Arc<dyn InvitationStore>,
    flows: Arc<dyn FlowDirectory>,
    users: Arc<dyn UserDirectory>,
    authorizer: Arc<dyn Authorizer>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    /// `None`: no sink, nothing to record (and nothing to pay per call).
    events: Option<Arc<dyn EventSink>>,
    /// Where `send_email` queues, and what it renders with.
    mail: Option<(Arc<dyn MailOutbox>, Arc<dyn MailTemplates>)>,
}

impl InvitationService {
    /// Wires the use cases to storage, directories and an authorizer, with
    /// the system clock, random ids and no event sink (events are dropped).
    pub fn new(
        store: Arc<dyn InvitationStore>,
        flows: Arc<dyn FlowDirectory>,
        users: Arc<dyn UserDirectory>,
        authorizer: Arc<dyn Authorizer>,
    ) -> Self {
        Self {
            store,
            flows,
            users,
            authorizer,
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            events: None,
            mail: None,
        }
    }

    /// Sends invitation mail through `outbox`, rendered by `templates`.
    #[must_use]
    pub fn with_mail(
        mut self,
        outbox: Arc<dyn MailOutbox>,
        templates: Arc<dyn MailTemplates>,
    ) -> Self {
        self.mail = Some((outbox, templates));
        self
    }

    /// Delivers the invitation mail due now through `mailer`
    /// ([`crate::dispatch_due`] on the service's outbox and clock), records
    /// an [`InvitationEvent::EmailFailed`] for each mail given up, and
    /// returns what happened (with the mails given up, addresses
    /// redacted, for the host's log). A host runs it on a timer, in its own
    /// runtime; several processes may run it against one outbox. Without
    /// mail configured there is nothing to deliver.
    ///
    /// # Errors
    /// The outbox's failures.
    pub async fn deliver_mail(
        &self,
        mailer: &dyn Mailer,
        policy: &RetryPolicy,
    ) -> Result<(DispatchReport, Vec<GivenUp>), StoreError> {
        let Some((outbox, _)) = &self.mail else {
            return Ok((DispatchReport::default(), Vec::new()));
        };
        let (report, given_up) =
            crate::mail::dispatch_due(&**outbox, mailer, self.clock.now(), policy).await?;
        for mail in &given_up {
            self.now()
                .record(InvitationEvent::EmailFailed {
                    invitation: mail.invitation,
                    to: mail.to.clone(),
                    error: mail.error.clone(),
                })
                .await;
        }
        Ok((report, given_up))
    }

    /// Deletes the mails delivered or given up more than
    /// `policy.keep_finished` ago; returns how many (0 without mail).
    ///
    /// # Errors
    /// The outbox's failures.
    pub async fn purge_mail(&self, policy: &RetryPolicy) -> Result<u64, StoreError> {
        let Some((outbox, _)) = &self.mail else {
            return Ok(0);
        };
        let keep =
            chrono::Duration::from_std(policy.keep_finished).unwrap_or(chrono::Duration::MAX);
        outbox.purge_finished(self.clock.now() - keep).await
    }

    /// Queues one invitation mail per `to` address (`add_invitation`),
    /// each copied to `cc` and blind-copied to `bcc`, with the enrollment
    /// link on `site` (spec §6). Checks, in order: the permission, that mail
    /// is configured, that the invitation exists, that there is a `to`
    /// address, that the invitation has a flow, every address, the number
    /// of recipients ([`crate::MAX_RECIPIENTS`]), the template. Every mail
    /// is rendered before any is queued, and all are queued in one write,
    /// or none; delivery is [`crate::dispatch_due`]'s. Returns how many
    /// mails were queued.
    ///
    /// # Errors
    /// See [`SendEmailError`].
    pub async fn send_email(
        &self,
        caller: &Principal,
        id: &InvitationId,
        request: SendEmail,
        site: &Site,
    ) -> Result<usize, SendEmailError> {
        if !self.is_allowed(caller, Permission::Add).await? {
            return Err(SendEmailError::Forbidden);
        }
        let Some((outbox, templates)) = &self.mail else {
            return Err(SendEmailError::NotConfigured);
        };
        let invitation = self
            .storage()
            .get(id)
            .await?
            .ok_or(SendEmailError::NotFound)?;
        if request.to.is_empty() {
            return Err(SendEmailError::NoAddresses);
        }
        let flow = match invitation.flow() {
            Some(flow) => self.flows.flow(flow).await?,
            None => None,
        };
        let Some(flow) = flow else {
            return Err(SendEmailError::NoFlow);
        };
        let parse = |list: &[String]| {
            list.iter()
                .map(|a| EmailAddress::parse(a))
                .collect::<Result<Vec<_>, _>>()
        };
        let (to, cc, bcc) = (
            parse(&request.to)?,
            parse(&request.cc)?,
            parse(&request.bcc)?,
        );
        if to.len() + cc.len() + bcc.len() > crate::mail::MAX_RECIPIENTS {
            return Err(SendEmailError::TooManyRecipients);
        }
        let inviter = self.creator(caller.user_id()).await?;
        let values = InvitationMail {
            url: site.invitation_link(&flow.slug, invitation.id()),
            host: site.host().to_owned(),
            expires: invitation.expires(),
            inviter: if inviter.name.is_empty() {
                inviter.username.clone()
            } else {
                inviter.name.clone()
            },
            invitation_name: invitation.name().as_str().to_owned(),
        };
        let template = request.template.as_deref().unwrap_or(DEFAULT_TEMPLATE);
        let body = templates.render(template, &values)?;
        let now = self.clock.now();
        let mails: Vec<QueuedMail> = to
            .into_iter()
            .map(|to| QueuedMail {
                id: MailId::from_uuid(*self.ids.new_id().as_uuid()),
                invitation: *invitation.id(),
                to,
                cc: cc.clone(),
                bcc: bcc.clone(),
                subject: format!("You have been invited to {}", site.host()),
                body: body.clone(),
                queued_at: now,
                attempts: 0,
            })
            .collect();
        outbox
            .enqueue(&mails)
            .await
            .map_err(SendEmailError::Queue)?;
        self.now()
            .record(InvitationEvent::EmailQueued {
                invitation: *invitation.id(),
                by: caller.user_id(),
                mails: mails.len(),
            })
            .await;
        Ok(mails.len())
    }

    /// Replaces the clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the id generator.
    #[must_use]
    pub fn with_ids(mut self, ids: Arc<dyn IdGenerator>) -> Self {
        self.ids = ids;
        self
    }

    /// Replaces the event sink.
    #[must_use]
    pub fn with_events(mut self, events: Arc<dyn EventSink>) -> Self {
        self.events = Some(events);
        self
    }

    /// The storage this service writes to (for readiness checks).
    pub fn store(&self) -> &Arc<dyn InvitationStore> {
        &self.store
    }

    /// Whether `caller` holds `permission`, as the use cases check it. An
    /// adapter asks this when it refuses a request before reaching a use
    /// case (an unreadable body or path), so that a caller without the
    /// permission is told so first, as authentik does.
    ///
    /// # Errors
    /// The authorizer's failure.
    pub async fn is_allowed(
        &self,
        caller: &Principal,
        permission: Permission,
    ) -> Result<bool, AuthError> {
        self.authorizer.is_allowed(caller, permission).await
    }

    /// The use cases through `store` instead of the service's own, with
    /// their events held back: for a host that runs them inside a
    /// transaction it owns (an adapter's transaction-scoped store, such as
    /// `invitation_postgres::PgStore::in_transaction`). Permission checks,
    /// validation and directory look-ups are the service's. After the host
    /// commits, [`UnitOfWork::finish`]'s events go to the service's sink
    /// with [`PendingEvents::publish`]; on rollback the host drops them.
    ///
    /// ```
    /// # use invitation_core::*;
    /// # async fn demo(service: InvitationService, store: &dyn InvitationStore,
    /// #               caller: Principal) -> Result<(), CreateError> {
    /// // `store` writes inside the host's open transaction.
    /// let mut unit = service.unit_of_work(store);
    /// let created = unit.create(&caller, InvitationInput::new().name("first-admin")).await?;
    /// let events = unit.finish();
    /// // ... the host commits its transaction here ...
    /// events.publish().await;
    /// # let _ = created; Ok(()) }
    /// ```
    pub fn unit_of_work<'a>(&'a self, store: &'a dyn InvitationStore) -> UnitOfWork<'a> {
        UnitOfWork {
            scope: Scope {
                service: self,
                store,
                pending: Some(Vec::new()),
            },
        }
    }

    /// Creates an invitation (`add_invitation`): validates every field,
    /// checks the flow exists, stores it with `created_by` = the caller, and
    /// records a `Created` event. A refused or invalid request writes and
    /// records nothing.
    ///
    /// # Errors
    /// See [`CreateError`].
    pub async fn create(
        &self,
        caller: &Principal,
        input: InvitationInput,
    ) -> Result<InvitationView, CreateError> {
        let mut scope = self.now();
        scope.create(caller, input).await
    }

    /// Reads one invitation (`view_invitation`).
    ///
    /// # Errors
    /// See [`GetError`].
    pub async fn get(
        &self,
        caller: &Principal,
        id: &InvitationId,
    ) -> Result<InvitationView, GetError> {
        self.now().get(caller, id).await
    }

    /// The users who enrolled with an invitation (`view_invitation`). The
    /// library keeps no such record, so this is always empty for an
    /// existing invitation, as authentik's `used_by` answers `[]`.
    ///
    /// # Errors
    /// See [`GetError`].
    pub async fn used_by(
        &self,
        caller: &Principal,
        id: &InvitationId,
    ) -> Result<Vec<UserSummary>, GetError> {
        self.now().used_by(caller, id).await
    }

    /// One page of invitations (`view_invitation`): filters, search,
    /// ordering and pagination as spec §2 states them. Creators and flows
    /// are resolved with one directory call each per page.
    ///
    /// # Errors
    /// See [`ListError`].
    pub async fn list(
        &self,
        caller: &Principal,
        request: &ListRequest,
    ) -> Result<ListPage, ListError> {
        self.now().list(caller, request).await
    }

    /// Full update, PUT (`change_invitation`): the same rules as create
    /// (`name` required); optional fields left out keep their stored values.
    /// With `expected`, the write happens only if the invitation is still at
    /// that version (an `If-Match`).
    ///
    /// # Errors
    /// See [`UpdateError`].
    pub async fn update(
        &self,
        caller: &Principal,
        id: &InvitationId,
        input: InvitationInput,
        expected: Option<Version>,
    ) -> Result<InvitationView, UpdateError> {
        let mut scope = self.now();
        scope.update(caller, id, input, expected).await
    }

    /// Partial update, PATCH (`change_invitation`): only the fields given
    /// are checked and changed; a field left out keeps whatever is stored
    /// when the write happens, so concurrent updates of different fields
    /// never undo each other. `expected` as for [`Self::update`].
    ///
    /// # Errors
    /// See [`UpdateError`].
    pub async fn partial_update(
        &self,
        caller: &Principal,
        id: &InvitationId,
        input: InvitationInput,
        expected: Option<Version>,
    ) -> Result<InvitationView, UpdateError> {
        let mut scope = self.now();
        scope.partial_update(caller, id, input, expected).await
    }

    /// Deletes an invitation (`delete_invitation`); with `expected`, only
    /// if it is still at that version.
    ///
    /// # Errors
    /// See [`DeleteError`].
    pub async fn delete(
        &self,
        caller: &Principal,
        id: &InvitationId,
        expected: Option<Version>,
    ) -> Result<(), DeleteError> {
        let mut scope = self.now();
        scope.delete(caller, id, expected).await
    }

    /// Redeems a token in `flow`, or outside any flow with `None` (spec §3):
    /// the token is the invitation id, dashed or 32-hex, any case. Checks
    /// expiry by the clock now and the flow binding (without a flow, only
    /// an invitation bound to none is redeemable); consumes a single-use invitation exactly once; records
    /// an `invitation_used` event on success. Merge the returned
    /// invitation's data into the enrolling user's with
    /// [`crate::FixedData::merge_into`].
    ///
    /// # Errors
    /// See [`RedeemError`].
    pub async fn redeem(
        &self,
        token: &str,
        flow: Option<&FlowId>,
    ) -> Result<Invitation, RedeemError> {
        let mut scope = self.now();
        scope.redeem(token, flow).await
    }

    /// Deletes every invitation that has expired by the clock now; never
    /// one without an expiry. Returns how many.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        self.storage().purge_expired(self.clock.now()).await
    }

    /// The host deleted a flow: invitations bound to it become unbound.
    /// Returns how many changed.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn flow_deleted(&self, flow: &FlowId) -> Result<u64, StoreError> {
        self.storage().unbind_flow(flow).await
    }

    /// The host deleted a user: the invitations they created are deleted.
    /// Returns how many.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn user_deleted(&self, user: &UserId) -> Result<u64, StoreError> {
        self.storage().delete_created_by(user).await
    }

    /// The use cases through the service's store, events recorded as they
    /// happen.
    fn now(&self) -> Scope<'_> {
        Scope {
            service: self,
            store: &*self.store,
            pending: None,
        }
    }

    /// Checks a flow reference exists, adding the field error if it does
    /// not. `None` = field absent; `Some(None)` = explicitly unbound.
    async fn resolve_flow(
        &self,
        changes: &Changes,
        errors: &mut ValidationErrors,
    ) -> Result<Option<Option<Arc<FlowSummary>>>, DirectoryError> {
        match &changes.flow {
            None => Ok(None),
            Some(None) => Ok(Some(None)),
            Some(Some(id)) => match self.flows.flow(id).await? {
                Some(summary) => Ok(Some(Some(summary))),
                None => {
                    flow_not_found(errors, *id);
                    Ok(None)
                }
            },
        }
    }

    /// The store as `&dyn`: calling through the `Arc` would go through the
    /// blanket `impl InvitationStore for Arc<T>` and box every future twice.
    fn storage(&self) -> &dyn InvitationStore {
        &*self.store
    }

    async fn creator(&self, id: UserId) -> Result<Arc<UserSummary>, DirectoryError> {
        Ok(self
            .users
            .user(&id)
            .await?
            .unwrap_or_else(|| Arc::new(UserSummary::unknown(id))))
    }

    async fn view(&self, invitation: Invitation) -> Result<InvitationView, DirectoryError> {
        let created_by = self.creator(invitation.created_by()).await?;
        let flow = match invitation.flow() {
            Some(f) => self.flows.flow(f).await?,
            None => None,
        };
        Ok(InvitationView {
            invitation,
            created_by,
            flow,
        })
    }

    /// Resolves a page's creators and flows with one call per directory.
    async fn views(&self, items: Vec<Invitation>) -> Result<Vec<InvitationView>, DirectoryError> {
        let mut user_ids: Vec<UserId> = items.iter().map(Invitation::created_by).collect();
        user_ids.sort_unstable();
        user_ids.dedup();
        let mut flow_ids: Vec<FlowId> = items.iter().filter_map(|i| i.flow().copied()).collect();
        flow_ids.sort_unstable();
        flow_ids.dedup();
        let users: HashMap<UserId, Arc<UserSummary>> = if user_ids.is_empty() {
            HashMap::new()
        } else {
            self.users
                .users(&user_ids)
                .await?
                .into_iter()
                .map(|u| (u.pk, u))
                .collect()
        };
        let flows: HashMap<FlowId, Arc<FlowSummary>> = if flow_ids.is_empty() {
            HashMap::new()
        } else {
            self.flows
                .flows(&flow_ids)
                .await?
                .into_iter()
                .map(|f| (f.pk, f))
                .collect()
        };
        Ok(items
            .into_iter()
            .map(|invitation| InvitationView {
                created_by: users
                    .get(&invitation.created_by())
                    .cloned()
                    .unwrap_or_else(|| Arc::new(UserSummary::unknown(invitation.created_by()))),
                flow: invitation.flow().and_then(|f| flows.get(f).cloned()),
                invitation,
            })
            .collect())
    }
}

/// The use cases against one store, recording events now (`pending` is
/// `None`) or keeping them for later.
#[derive(Debug)]
struct Scope<'a> {
    service: &'a InvitationService,
    store: &'a dyn InvitationStore,
    pending: Option<Vec<InvitationEvent>>,
}

impl Scope<'_> {
    async fn create(
        &mut self,
        caller: &Principal,
        input: InvitationInput,
    ) -> Result<InvitationView, CreateError> {
        if !self.service.is_allowed(caller, Permission::Add).await? {
            return Err(CreateError::Forbidden);
        }
        let (changes, mut errors) = validate(input, Mode::Full);
        let flow = self.service.resolve_flow(&changes, &mut errors).await?;
        let Some(name) = changes.name.filter(|_| errors.is_empty()) else {
            return Err(CreateError::Invalid(errors));
        };
        let creator = self.service.creator(caller.user_id()).await?;
        let invitation = Invitation::from_parts(InvitationParts {
            id: self.service.ids.new_id(),
            name,
            expires: changes.expires.flatten(),
            fixed_data: changes.fixed_data.unwrap_or_default(),
            single_use: changes.single_use.unwrap_or(false),
            flow: flow.as_ref().and_then(|f| f.as_ref().map(|f| f.pk)),
            created_by: caller.user_id(),
            version: Version::FIRST,
        });
        self.store.insert(&invitation).await?;
        self.record(InvitationEvent::Created {
            invitation: *invitation.id(),
            by: caller.user_id(),
        })
        .await;
        Ok(InvitationView {
            invitation,
            created_by: creator,
            flow: flow.flatten(),
        })
    }

    async fn get(&self, caller: &Principal, id: &InvitationId) -> Result<InvitationView, GetError> {
        if !self.service.is_allowed(caller, Permission::View).await? {
            return Err(GetError::Forbidden);
        }
        let invitation = self.store.get(id).await?.ok_or(GetError::NotFound)?;
        Ok(self.service.view(invitation).await?)
    }

    async fn used_by(
        &self,
        caller: &Principal,
        id: &InvitationId,
    ) -> Result<Vec<UserSummary>, GetError> {
        if !self.service.is_allowed(caller, Permission::View).await? {
            return Err(GetError::Forbidden);
        }
        self.store.get(id).await?.ok_or(GetError::NotFound)?;
        Ok(Vec::new())
    }

    async fn list(&self, caller: &Principal, request: &ListRequest) -> Result<ListPage, ListError> {
        if !self.service.is_allowed(caller, Permission::View).await? {
            return Err(ListError::Forbidden);
        }
        let page_size = request.effective_page_size();
        let mut query = ListQuery {
            filters: Filters {
                name: request.name.clone(),
                created_by: None,
                expires: request.expires,
                flow: None,
            },
            search: Vec::new(),
            ordering: request.ordering.unwrap_or_default(),
            offset: 0,
            limit: page_size,
        };
        if let Some(username) = &request.created_by_username {
            query.filters.created_by = Some(self.service.users.find_by_username(username).await?);
        }
        let words = request
            .search_words()
            .map_err(|errors| ListError::InvalidSearch { errors })?;
        if let Some(slug) = &request.flow_slug {
            query.filters.flow = Some(self.service.flows.find_by_slug(slug).await?);
        }
        for word in words {
            query.search.push(SearchTerm {
                text: word.to_owned(),
                creators: self.service.users.search_usernames(word).await?,
                flows: self.service.flows.search_slugs(word).await?,
            });
        }
        let current = match request.page {
            PageNumber::First => 1,
            PageNumber::Number(0) => return Err(ListError::InvalidPage),
            PageNumber::Number(n) => n,
            PageNumber::Last => {
                // Counting first costs one more round trip, only for `last`.
                let counted = self
                    .store
                    .list(&ListQuery {
                        limit: 0,
                        ..query.clone()
                    })
                    .await?;
                total_pages(counted.total, page_size)
            }
        };
        query.offset = (current - 1).saturating_mul(page_size);
        let page = self.store.list(&query).await?;
        if current > total_pages(page.total, page_size) {
            return Err(ListError::InvalidPage);
        }
        let results = self.service.views(page.items).await?;
        Ok(ListPage {
            page: current,
            page_size,
            total: page.total,
            results,
        })
    }

    async fn update(
        &mut self,
        caller: &Principal,
        id: &InvitationId,
        input: InvitationInput,
        expected: Option<Version>,
    ) -> Result<InvitationView, UpdateError> {
        self.change(caller, id, input, Mode::Full, expected).await
    }

    async fn partial_update(
        &mut self,
        caller: &Principal,
        id: &InvitationId,
        input: InvitationInput,
        expected: Option<Version>,
    ) -> Result<InvitationView, UpdateError> {
        self.change(caller, id, input, Mode::Partial, expected)
            .await
    }

    async fn change(
        &mut self,
        caller: &Principal,
        id: &InvitationId,
        input: InvitationInput,
        mode: Mode,
        expected: Option<Version>,
    ) -> Result<InvitationView, UpdateError> {
        if !self.service.is_allowed(caller, Permission::Change).await? {
            return Err(UpdateError::Forbidden);
        }
        // Read only to answer in authentik's order (an unknown id before
        // invalid input) and a failed precondition before the input is
        // looked at (RFC 9110 §13.2.2); nothing read here is written back.
        let current = self.store.get(id).await?.ok_or(UpdateError::NotFound)?;
        if expected.is_some_and(|v| v != current.version()) {
            return Err(UpdateError::VersionMismatch {
                current: current.version(),
            });
        }
        let (changes, mut errors) = validate(input, mode);
        let flow = self.service.resolve_flow(&changes, &mut errors).await?;
        if !errors.is_empty() {
            return Err(UpdateError::Invalid(errors));
        }
        let patch = InvitationPatch {
            name: changes.name,
            expires: changes.expires,
            fixed_data: changes.fixed_data,
            single_use: changes.single_use,
            flow: flow.as_ref().map(|f| f.as_ref().map(|f| f.pk)),
        };
        // One atomic write against the row as it is then: no read before
        // it whose values could be written back over another's change.
        let invitation = match self.store.update(id, &patch, expected).await? {
            UpdateOutcome::Updated(invitation) => invitation,
            UpdateOutcome::NotFound => return Err(UpdateError::NotFound),
            UpdateOutcome::VersionMismatch { current } => {
                return Err(UpdateError::VersionMismatch { current })
            }
        };
        self.record(InvitationEvent::Updated {
            invitation: *invitation.id(),
            by: caller.user_id(),
        })
        .await;
        let flow = match flow {
            Some(resolved) => resolved,
            None => match invitation.flow() {
                Some(f) => self.service.flows.flow(f).await?,
                None => None,
            },
        };
        let created_by = self.service.creator(invitation.created_by()).await?;
        Ok(InvitationView {
            invitation,
            created_by,
            flow,
        })
    }

    async fn delete(
        &mut self,
        caller: &Principal,
        id: &InvitationId,
        expected: Option<Version>,
    ) -> Result<(), DeleteError> {
        if !self.service.is_allowed(caller, Permission::Delete).await? {
            return Err(DeleteError::Forbidden);
        }
        match self.store.delete(id, expected).await? {
            DeleteOutcome::Deleted => {}
            DeleteOutcome::NotFound => return Err(DeleteError::NotFound),
            DeleteOutcome::VersionMismatch { current } => {
                return Err(DeleteError::VersionMismatch { current })
            }
        }
        self.record(InvitationEvent::Deleted {
            invitation: *id,
            by: caller.user_id(),
        })
        .await;
        Ok(())
    }

    async fn redeem(
        &mut self,
        token: &str,
        flow: Option<&FlowId>,
    ) -> Result<Invitation, RedeemError> {
        let id = InvitationId::parse(token).map_err(|_| RedeemError::Malformed)?;
        let outcome = self
            .store
            .redeem(&id, flow, self.service.clock.now())
            .await?;
        let invitation = match outcome {
            RedeemOutcome::Redeemed(invitation) => invitation,
            RedeemOutcome::Expired => return Err(RedeemError::Expired),
            RedeemOutcome::WrongFlow => return Err(RedeemError::WrongFlow),
            RedeemOutcome::NotFound => return Err(RedeemError::NotFound),
        };
        self.record(InvitationEvent::Used {
            invitation: id,
            flow: flow.copied(),
        })
        .await;
        Ok(invitation)
    }

    /// Records `event` now, or keeps it for the unit's [`PendingEvents`].
    async fn record(&mut self, event: InvitationEvent) {
        match &mut self.pending {
            Some(pending) => pending.push(event),
            None => {
                if let Some(sink) = &self.service.events {
                    sink.record(event).await;
                }
            }
        }
    }
}

/// The use cases inside a transaction the host owns: made by
/// [`InvitationService::unit_of_work`]. Writes go through the unit's store;
/// the events they cause wait until [`finish`](Self::finish) hands them
/// over, to be published once the host has committed.
#[derive(Debug)]
pub struct UnitOfWork<'a> {
    scope: Scope<'a>,
}

impl UnitOfWork<'_> {
    /// [`InvitationService::create`], through the unit's store; its event waits in the unit.
    ///
    /// # Errors
    /// As there.
    pub async fn create(
        &mut self,
        caller: &Principal,
        input: InvitationInput,
    ) -> Result<InvitationView, CreateError> {
        self.scope.create(caller, input).await
    }

    /// [`InvitationService::get`], through the unit's store.
    ///
    /// # Errors
    /// As there.
    pub async fn get(
        &self,
        caller: &Principal,
        id: &InvitationId,
    ) -> Result<InvitationView, GetError> {
        self.scope.get(caller, id).await
    }

    /// [`InvitationService::used_by`], through the unit's store.
    ///
    /// # Errors
    /// As there.
    pub async fn used_by(
        &self,
        caller: &Principal,
        id: &InvitationId,
    ) -> Result<Vec<UserSummary>, GetError> {
        self.scope.used_by(caller, id).await
    }

    /// [`InvitationService::list`], through the unit's store.
    ///
    /// # Errors
    /// As there.
    pub async fn list(
        &self,
        caller: &Principal,
        request: &ListRequest,
    ) -> Result<ListPage, ListError> {
        self.scope.list(caller, request).await
    }

    /// [`InvitationService::update`], through the unit's store; its event waits in the unit.
    ///
    /// # Errors
    /// As there.
    pub async fn update(
        &mut self,
        caller: &Principal,
        id: &InvitationId,
        input: InvitationInput,
        expected: Option<Version>,
    ) -> Result<InvitationView, UpdateError> {
        self.scope.update(caller, id, input, expected).await
    }

    /// [`InvitationService::partial_update`], through the unit's store; its event waits in the unit.
    ///
    /// # Errors
    /// As there.
    pub async fn partial_update(
        &mut self,
        caller: &Principal,
        id: &InvitationId,
        input: InvitationInput,
        expected: Option<Version>,
    ) -> Result<InvitationView, UpdateError> {
        self.scope.partial_update(caller, id, input, expected).await
    }

    /// [`InvitationService::delete`], through the unit's store; its event waits in the unit.
    ///
    /// # Errors
    /// As there.
    pub async fn delete(
        &mut self,
        caller: &Principal,
        id: &InvitationId,
        expected: Option<Version>,
    ) -> Result<(), DeleteError> {
        self.scope.delete(caller, id, expected).await
    }

    /// [`InvitationService::redeem`], through the unit's store; its event waits in the unit.
    ///
    /// # Errors
    /// As there.
    pub async fn redeem(
        &mut self,
        token: &str,
        flow: Option<&FlowId>,
    ) -> Result<Invitation, RedeemError> {
        self.scope.redeem(token, flow).await
    }

    /// Ends the unit: the events its successful writes caused, in order,
    /// for the host to publish after its commit.
    pub fn finish(self) -> PendingEvents {
        PendingEvents {
            sink: self.scope.service.events.clone(),
            events: self.scope.pending.unwrap_or_default(),
        }
    }
}

/// Events held back until the host's transaction commits. Publish them
/// with [`publish`](Self::publish) after the commit; dropping them (the
/// transaction rolled back) records nothing.
#[derive(Debug)]
#[must_use = "events are recorded only when published"]
pub struct PendingEvents {
    sink: Option<Arc<dyn EventSink>>,
    events: Vec<InvitationEvent>,
}

impl PendingEvents {
    /// The events, in the order they happened.
    pub fn events(&self) -> &[InvitationEvent] {
        &self.events
    }

    /// Records every event with the service's sink, in order.
    pub async fn publish(self) {
        if let Some(sink) = &self.sink {
            for event in self.events {
                sink.record(event).await;
            }
        }
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
