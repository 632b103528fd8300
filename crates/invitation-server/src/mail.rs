//! Invitation mail in the server: the settings (`--smtp-url`,
//! `--mail-from`, `--email-templates`, `--public-url`), and the dispatcher
//! task that delivers the outbox.

use std::sync::Arc;
use std::time::Duration;

use invitation_core::{InvitationService, Mailer, RetryPolicy};
use invitation_mail::{Mailbox, SmtpMailer, SmtpUrl, Templates};
use tokio::sync::watch;

/// How often the dispatcher looks for due mail.
pub const DISPATCH_INTERVAL: Duration = Duration::from_secs(2);

/// How often finished mails older than the policy keeps them are deleted.
const PURGE_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// How long a stopping server waits for the dispatcher's pass in flight.
const DISPATCH_GRACE: Duration = Duration::from_secs(10);

/// Why the mail settings were refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailSetupError {
    /// `--smtp-url` is not an SMTP URL (the text is not repeated: it may
    /// hold a password).
    #[error("--smtp-url is not usable: {0}")]
    SmtpUrl(#[source] invitation_mail::InvalidSmtpUrl),
    /// `--mail-from` is not a mailbox.
    #[error("--mail-from is not an e-mail address: {0:?}")]
    From(String),
    /// The mailer cannot be built.
    #[error("cannot set up the SMTP client")]
    Smtp(#[source] invitation_mail::SmtpConfigError),
    /// `--email-templates` cannot be read.
    #[error("cannot use --email-templates")]
    Templates(#[source] invitation_mail::TemplateDirError),
    /// `--public-url` is not a site address.
    #[error("--public-url is not usable")]
    PublicUrl(#[source] invitation_core::InvalidSite),
}

/// Mail set up: the templates `send_email` renders with, and the mailer
/// the dispatcher delivers through.
pub(crate) struct MailSetup {
    pub(crate) templates: Templates,
    pub(crate) mailer: SmtpMailer,
}

/// Builds the mailer and templates from the flags.
pub(crate) fn setup(
    smtp_url: &str,
    mail_from: &str,
    templates: Option<&std::path::Path>,
) -> Result<MailSetup, MailSetupError> {
    let url = SmtpUrl::parse(smtp_url).map_err(MailSetupError::SmtpUrl)?;
    let from: Mailbox = mail_from
        .parse()
        .map_err(|_| MailSetupError::From(mail_from.to_owned()))?;
    let mailer = SmtpMailer::new(url, from).map_err(MailSetupError::Smtp)?;
    let templates = match templates {
        Some(dir) => Templates::from_dir(dir).map_err(MailSetupError::Templates)?,
        None => Templates::builtin(),
    };
    Ok(MailSetup { templates, mailer })
}

/// The dispatcher: delivers due mail every `interval` until `stop` turns
/// true, then finishes the pass in flight (for at most a few seconds; a
/// mail cut off mid-send is sent again later with the same `Message-ID`).
pub(crate) struct Dispatcher {
    pub(crate) service: InvitationService,
    pub(crate) mailer: Arc<dyn Mailer>,
    pub(crate) interval: Duration,
    pub(crate) policy: RetryPolicy,
}

impl Dispatcher {
    /// Starts the task; send `true` on the returned sender to stop it, then
    /// await [`Running::stop`].
    pub(crate) fn start(self) -> Running {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(self.interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut purges = tokio::time::interval(PURGE_INTERVAL);
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = ticks.tick() => self.pass().await,
                    _ = purges.tick() => self.purge().await,
                }
            }
        });
        Running { stop, task }
    }

    async fn pass(&self) {
        match self.service.deliver_mail(&*self.mailer, &self.policy).await {
            Ok((report, given_up)) => {
                if report.retrying > 0 {
                    // The reasons are in the queue's rows (`last_error`).
                    tracing::warn!(
                        sent = report.sent,
                        retrying = report.retrying,
                        given_up = report.given_up,
                        "invitation mail not delivered; trying again later"
                    );
                } else if report.sent + report.given_up > 0 {
                    tracing::info!(
                        sent = report.sent,
                        retrying = report.retrying,
                        given_up = report.given_up,
                        "invitation mail dispatched"
                    );
                }
                for mail in given_up {
                    tracing::warn!(
                        mail = %mail.mail,
                        invitation = %mail.invitation,
                        to = %mail.to,
                        error = %mail.error,
                        "invitation mail given up"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "the mail queue cannot be read; trying again"),
        }
    }

    async fn purge(&self) {
        match self.service.purge_mail(&self.policy).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "finished invitation mail deleted"),
            Err(e) => tracing::warn!(error = %e, "finished invitation mail not deleted"),
        }
    }
}

/// A started dispatcher.
pub(crate) struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops the dispatcher after its pass in flight (at most
    /// [`DISPATCH_GRACE`], then it is cut off).
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        let abort = self.task.abort_handle();
        if tokio::time::timeout(DISPATCH_GRACE, self.task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}
