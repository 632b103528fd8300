#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod smtp;
mod templates;

pub use lettre;
pub use lettre::message::Mailbox;
pub use lettre::Address;

pub use crate::smtp::{
    InvalidSmtpUrl, SmtpConfigError, SmtpMailer, SmtpMessageError, SmtpSendError, SmtpTimedOut,
    SmtpTls, SmtpUrl, DEFAULT_TIMEOUT,
};
pub use crate::templates::{
    TemplateDirError, TemplateNotUtf8, TemplateTooLarge, Templates, DEFAULT_TEXT_TEMPLATE,
    MAX_TEMPLATE_BYTES, MAX_TEMPLATE_NAME_BYTES, RENDER_FUEL,
};
