//! The [`Mailer`] adapter: SMTP through lettre, over rustls.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use invitation_core::mail::{MailError, Mailer, QueuedMail};
use lettre::address::Envelope;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use percent_encoding::percent_decode_str;

/// How long connecting, and then the whole exchange of one mail, may take
/// by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How the connection to the SMTP server is encrypted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SmtpTls {
    /// Plain text throughout (`tls=none`; for a relay on the same machine
    /// or network). Port 25 by default.
    None,
    /// Plain text, then `STARTTLS` before anything else is said; a server
    /// that does not offer it is an error, never a fallback to plain text
    /// (`tls=starttls`, the default). Port 25 by default.
    #[default]
    StartTls,
    /// TLS from the first byte (`tls=tls`, "SMTPS"). Port 465 by default.
    Tls,
}

impl SmtpTls {
    /// The value of the URL's `tls` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::StartTls => "starttls",
            Self::Tls => "tls",
        }
    }

    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Self::None | Self::StartTls => 25,
            Self::Tls => 465,
        }
    }
}

/// A password, never shown.
#[derive(Clone, PartialEq, Eq)]
struct Password(String);

/// Where and how to deliver mail:
/// `smtp://[user:password@]host[:port][?tls=none|starttls|tls]`.
///
/// The user and password are percent-decoded (`%40` for `@`, `%3A` for
/// `:`); a host is a DNS name, an IPv4 address or a bracketed IPv6
/// address. `tls` is [`SmtpTls::StartTls`] when absent, so a URL without
/// it never sends a password in plain text; the port is 25, or 465 with
/// `tls=tls`. Its `Debug` and `Display` show `***` for the password.
///
/// ```
/// use invitation_mail::{SmtpTls, SmtpUrl};
///
/// let url = SmtpUrl::parse("smtp://mailer:s3cret@mail.example.org?tls=tls")?;
/// assert_eq!((url.host(), url.port(), url.tls()), ("mail.example.org", 465, SmtpTls::Tls));
/// assert_eq!(url.to_string(), "smtp://mailer:***@mail.example.org:465?tls=tls");
/// # Ok::<(), invitation_mail::InvalidSmtpUrl>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    host: String,
    port: u16,
    tls: SmtpTls,
    credentials: Option<(String, Password)>,
}

/// A text that is not an SMTP URL. It keeps only the reason, never the
/// text, which may hold a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an SMTP URL (smtp://[user:password@]host[:port][?tls=none|starttls|tls]): {reason}")]
pub struct InvalidSmtpUrl {
    /// What is wrong.
    pub reason: &'static str,
}

fn invalid(reason: &'static str) -> InvalidSmtpUrl {
    InvalidSmtpUrl { reason }
}

impl SmtpUrl {
    /// Parses a URL.
    ///
    /// # Errors
    /// [`InvalidSmtpUrl`]: another scheme, no host, a path or fragment, a
    /// user without a password, a parameter other than one `tls`.
    pub fn parse(text: &str) -> Result<Self, InvalidSmtpUrl> {
        let url = url::Url::parse(text).map_err(|_| invalid("unreadable"))?;
        if url.scheme() != "smtp" {
            return Err(invalid("the scheme is not smtp"));
        }
        if !matches!(url.path(), "" | "/") {
            return Err(invalid("a path"));
        }
        if url.fragment().is_some() {
            return Err(invalid("a fragment"));
        }
        let host = match url.host() {
            Some(url::Host::Domain(name)) => {
                let allowed = |c: char| c.is_ascii_alphanumeric() || "-._".contains(c);
                if name.is_empty() || !name.chars().all(allowed) {
                    return Err(invalid("the host is not a DNS name or IP address"));
                }
                name.to_ascii_lowercase()
            }
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(invalid("no host")),
        };
        let mut tls = None;
        for (key, value) in url.query_pairs() {
            if key != "tls" {
                return Err(invalid("a parameter other than tls"));
            }
            if tls.is_some() {
                return Err(invalid("tls given twice"));
            }
            tls = Some(match &*value {
                "none" => SmtpTls::None,
                "starttls" => SmtpTls::StartTls,
                "tls" => SmtpTls::Tls,
                _ => return Err(invalid("tls is not none, starttls or tls")),
            });
        }
        let tls = tls.unwrap_or_default();
        let decode = |part: &str| {
            percent_decode_str(part)
                .decode_utf8()
                .map(|text| text.into_owned())
                .map_err(|_| invalid("the user or password is not UTF-8"))
        };
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            ("", Some(_)) => return Err(invalid("a password without a user")),
            (_, None) => return Err(invalid("a user without a password")),
            (user, Some(password)) => Some((decode(user)?, Password(decode(password)?))),
        };
        Ok(Self {
            host,
            port: url.port().unwrap_or(tls.default_port()),
            tls,
            credentials,
        })
    }

    /// The host (an IPv6 address without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The encryption.
    pub fn tls(&self) -> SmtpTls {
        self.tls
    }

    /// The user, when the URL has credentials.
    pub fn username(&self) -> Option<&str> {
        self.credentials.as_ref().map(|(user, _)| user.as_str())
    }
}

impl FromStr for SmtpUrl {
    type Err = InvalidSmtpUrl;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("smtp://")?;
        if let Some((user, _)) = &self.credentials {
            write!(f, "{user}:***@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        write!(f, ":{}?tls={}", self.port, self.tls.as_str())
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username())
            .field("password", &self.credentials.as_ref().map(|_| "***"))
            .finish()
    }
}

/// An [`SmtpMailer`] that cannot be built.
#[derive(Debug, thiserror::Error)]
#[error("the SMTP connection to {server} cannot be set up")]
pub struct SmtpConfigError {
    /// The server, without its password.
    pub server: String,
    /// Why (the TLS settings).
    #[source]
    pub source: lettre::transport::smtp::Error,
}

/// One mail's delivery failed: the source of a [`MailError`] from
/// [`SmtpMailer`]. It names the server without its password.
#[derive(Debug, thiserror::Error)]
#[error("sending through {server} failed")]
pub struct SmtpSendError {
    /// The server, without its password.
    pub server: String,
    /// lettre's error, or [`SmtpTimedOut`].
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync + 'static>,
}

/// The exchange with the server took longer than the mailer's timeout.
#[derive(Debug, thiserror::Error)]
#[error("the SMTP exchange took longer than {0:?}")]
pub struct SmtpTimedOut(pub Duration);

/// A mail that cannot be written as a message (an address lettre does not
/// take): the source of a permanent [`MailError`].
#[derive(Debug, thiserror::Error)]
#[error("the mail cannot be written as a message")]
pub struct SmtpMessageError(#[source] pub Box<dyn std::error::Error + Send + Sync + 'static>);

/// Delivers mail to one SMTP server ([`Mailer`]).
///
/// Each mail is one connection: connect (TLS as the URL says), `AUTH`
/// with the URL's credentials if it has any, the envelope (the `To`, `Cc`
/// and `Bcc` addresses), the message, `QUIT`. Connecting may take
/// [`DEFAULT_TIMEOUT`] (or [`SmtpMailer::with_timeout`]'s), and so may the
/// whole exchange: a server that stops answering costs one timeout, never
/// the dispatcher's progress.
///
/// # The message
/// `From` (the mailer's), one `To`, `Cc` when there are any, no `Bcc`
/// header (those addresses are envelope recipients only), `Subject`
/// (control characters replaced by spaces), `Message-ID:
/// <{mail id}@{the From address's domain}>`, `Date` (when the mail was
/// queued), and a `multipart/alternative` body: the text part, then the
/// HTML part. A mail sent again is the same message.
///
/// # Errors
/// A 5xx answer is [`MailError::Permanent`]; a 4xx answer, a connection
/// that fails, a TLS failure (a server without `STARTTLS` when the URL
/// wants it included) and a timeout are [`MailError::Transient`]. Their
/// source is an [`SmtpSendError`], which never holds the password.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    url: SmtpUrl,
    from: Mailbox,
    timeout: Duration,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("url", &self.url)
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer to `url`'s server, sending as `from`, with
    /// [`DEFAULT_TIMEOUT`].
    ///
    /// # Errors
    /// [`SmtpConfigError`] when the TLS settings cannot be built.
    pub fn new(url: SmtpUrl, from: Mailbox) -> Result<Self, SmtpConfigError> {
        let transport = transport(&url, DEFAULT_TIMEOUT)?;
        Ok(Self {
            transport,
            url,
            from,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The same mailer with another timeout for connecting and for each
    /// mail's whole exchange.
    ///
    /// # Errors
    /// [`SmtpConfigError`] when the TLS settings cannot be built.
    pub fn with_timeout(self, timeout: Duration) -> Result<Self, SmtpConfigError> {
        Ok(Self {
            transport: transport(&self.url, timeout)?,
            timeout,
            ..self
        })
    }

    /// The server's URL.
    pub fn url(&self) -> &SmtpUrl {
        &self.url
    }

    /// The `From` mailbox.
    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// The message `send` delivers for `mail`, with its envelope.
    ///
    /// # Errors
    /// [`SmtpMessageError`] when lettre does not take an address.
    pub fn message(&self, mail: &QueuedMail) -> Result<Message, SmtpMessageError> {
        let wrap = |e: Box<dyn std::error::Error + Send + Sync>| SmtpMessageError(e);
        let address = |text: &str| Address::from_str(text).map_err(|e| wrap(Box::new(e)));
        let to = address(mail.to.as_str())?;
        let cc = mail
            .cc
            .iter()
            .map(|a| address(a.as_str()))
            .collect::<Result<Vec<_>, _>>()?;
        let bcc = mail
            .bcc
            .iter()
            .map(|a| address(a.as_str()))
            .collect::<Result<Vec<_>, _>>()?;
        let recipients = std::iter::once(to.clone())
            .chain(cc.iter().cloned())
            .chain(bcc)
            .collect();
        let envelope = Envelope::new(Some(self.from.email.clone()), recipients)
            .map_err(|e| wrap(Box::new(e)))?;
        let subject: String = mail
            .subject
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(subject)
            .message_id(Some(format!("<{}@{}>", mail.id, self.from.email.domain())))
            .date(SystemTime::from(mail.queued_at))
            .envelope(envelope);
        for cc in cc {
            builder = builder.cc(Mailbox::new(None, cc));
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                mail.body.text.clone(),
                mail.body.html.clone(),
            ))
            .map_err(|e| wrap(Box::new(e)))
    }

    fn failure(&self, source: Box<dyn std::error::Error + Send + Sync>) -> SmtpSendError {
        SmtpSendError {
            server: self.url.to_string(),
            source,
        }
    }
}

#[async_trait::async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &QueuedMail) -> Result<(), MailError> {
        let message = self
            .message(mail)
            .map_err(|e| MailError::Permanent(Box::new(e)))?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is_permanent() => {
                Err(MailError::Permanent(Box::new(self.failure(Box::new(e)))))
            }
            Ok(Err(e)) => Err(MailError::Transient(Box::new(self.failure(Box::new(e))))),
            Err(_) => Err(MailError::Transient(Box::new(
                self.failure(Box::new(SmtpTimedOut(self.timeout))),
            ))),
        }
    }
}

fn transport(
    url: &SmtpUrl,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, SmtpConfigError> {
    let tls_parameters = || {
        TlsParameters::new(url.host.clone()).map_err(|source| SmtpConfigError {
            server: url.to_string(),
            source,
        })
    };
    let tls = match url.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::StartTls => Tls::Required(tls_parameters()?),
        SmtpTls::Tls => Tls::Wrapper(tls_parameters()?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(url.host.clone())
        .port(url.port)
        .tls(tls)
        .timeout(Some(timeout));
    if let Some((user, Password(password))) = &url.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_starttls_on_port_25() {
        let url = SmtpUrl::parse("smtp://mail.example.org").unwrap();
        assert_eq!(url.tls(), SmtpTls::StartTls);
        assert_eq!(url.port(), 25);
        assert_eq!(url.username(), None);
        assert_eq!(url.to_string(), "smtp://mail.example.org:25?tls=starttls");
    }

    #[test]
    fn tls_defaults_to_port_465_and_a_given_port_wins() {
        assert_eq!(SmtpUrl::parse("smtp://h?tls=tls").unwrap().port(), 465);
        let url = SmtpUrl::parse("smtp://h:2525?tls=none").unwrap();
        assert_eq!((url.port(), url.tls()), (2525, SmtpTls::None));
    }

    #[test]
    fn credentials_are_percent_decoded_and_never_shown() {
        let url = SmtpUrl::parse("smtp://me%40example.org:p%40ss%3Aword@[::1]:587").unwrap();
        assert_eq!(url.username(), Some("me@example.org"));
        assert_eq!(url.host(), "::1");
        let shown = format!("{url} {url:?} {url:#?}");
        assert!(!shown.contains("p@ss"), "{shown}");
        assert!(!shown.contains("p%40ss"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
        assert_eq!(
            url.to_string(),
            "smtp://me@example.org:***@[::1]:587?tls=starttls"
        );
        let Some((_, Password(password))) = &url.credentials else {
            panic!("no credentials");
        };
        assert_eq!(password, "p@ss:word");
    }

    #[test]
    fn other_urls_are_refused_without_their_text() {
        for text in [
            "http://h",
            "smtp://",
            "smtp://user@h",
            "smtp://:secret@h",
            "smtp://h/path",
            "smtp://h#x",
            "smtp://h?tls=maybe",
            "smtp://h?tls=tls&tls=none",
            "smtp://h?mode=x",
            "smtp://h%20x",
            "not a url secret",
        ] {
            let error = SmtpUrl::parse(text).unwrap_err();
            assert!(!error.to_string().contains("secret"), "{error}");
        }
    }

    #[test]
    fn a_mailer_does_not_show_the_password() {
        let url = SmtpUrl::parse("smtp://u:hunter2@127.0.0.1:2525?tls=none").unwrap();
        let mailer =
            SmtpMailer::new(url, "Invitations <noreply@example.org>".parse().unwrap()).unwrap();
        let shown = format!("{mailer:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
