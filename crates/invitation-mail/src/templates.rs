//! The [`MailTemplates`] adapter: minijinja templates, built in or from a
//! host's directory.

use std::fmt;
use std::fs::File;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use invitation_core::mail::{InvitationMail, MailTemplates, RenderedMail, TemplateError};
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, ErrorKind};

/// The largest template file served, in bytes; a larger one fails to
/// render.
pub const MAX_TEMPLATE_BYTES: u64 = 256 * 1024;

/// The longest template name, in bytes.
pub const MAX_TEMPLATE_NAME_BYTES: usize = 255;

/// The fuel one template rendering may spend (minijinja counts roughly one
/// unit per instruction): far more than any mail needs, and a bound on a
/// runaway template's loops, since rendering runs inside the request.
pub const RENDER_FUEL: u64 = 1_000_000;

/// The plain-text template used for a mail whose HTML template has no
/// `.txt` sibling.
pub const DEFAULT_TEXT_TEMPLATE: &str = "email/invitation.txt";

/// The templates compiled into the crate: `(name, source)`.
const BUILTIN: &[(&str, &str)] = &[
    (
        "email/invitation.html",
        include_str!("../templates/email/invitation.html"),
    ),
    (
        "email/invitation.txt",
        include_str!("../templates/email/invitation.txt"),
    ),
];

fn builtin_source(name: &str) -> Option<&'static str> {
    BUILTIN
        .iter()
        .find(|(builtin, _)| *builtin == name)
        .map(|(_, source)| *source)
}

/// Invitation mail templates (minijinja, Jinja2's syntax): the built-in
/// [`DEFAULT_TEMPLATE`](invitation_core::mail::DEFAULT_TEMPLATE), or a
/// host's own from a directory.
///
/// # Names
/// A template's name is a relative path of normal components separated by
/// `/` (`email/invitation.html`). A name with a `..` or `.` component, a
/// leading `/`, an empty component, a backslash, a control character (CR,
/// LF, NUL, ...) or more than [`MAX_TEMPLATE_NAME_BYTES`] bytes is
/// [`TemplateError::NotAllowed`]. A mail is rendered from an `.html`
/// template; any other name, and one that no template has, is
/// [`TemplateError::NotFound`].
///
/// # Lookup
/// A name is looked up in the directory first, then among the built-in
/// templates (`email/invitation.html` and `email/invitation.txt`), so a
/// directory without them still serves the default mail, and one with them
/// overrides it. A file is served only if its real path (symbolic links
/// resolved) lies inside the directory, and only up to
/// [`MAX_TEMPLATE_BYTES`]; a link pointing out of it is `NotAllowed`.
/// `{% include %}`, `{% extends %}` and `{% import %}` load through the
/// same lookup and rules.
///
/// # Parts
/// The HTML part is `x.html` rendered with HTML autoescaping (`&`, `<`,
/// `>`, `"` and `'`, as Jinja2 escapes; `|safe` marks a value as HTML
/// already). The text part
/// is `x.txt`, looked up the same way, when there is one, else the built-in
/// [`DEFAULT_TEXT_TEMPLATE`]; either is rendered without escaping.
///
/// # Values
/// `url`, `host`, `inviter`, `invitation_name`; `expires`, the expiry as
/// readable UTC text (`14 March 2026, 09:30 UTC`) or none;
/// `expires_rfc3339`, the same as RFC 3339 or none. Undefined names render
/// as empty text, as in Jinja2.
///
/// # Reading
/// Files are read on each render, never cached: a host's edits take
/// effect with the next mail, memory does not grow with the names asked
/// for, and a mail's render costs a few small reads, next to an SMTP
/// exchange. Each render has [`RENDER_FUEL`] to spend.
#[derive(Clone)]
pub struct Templates {
    dir: Option<Arc<Path>>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.dir {
            None => f.write_str("Templates(builtin)"),
            Some(dir) => f.debug_tuple("Templates").field(dir).finish(),
        }
    }
}

/// A template directory that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("template directory {path:?} cannot be used")]
pub struct TemplateDirError {
    /// The path given.
    pub path: PathBuf,
    /// Why (not found, not a directory, no permission).
    #[source]
    pub source: io::Error,
}

/// A template file larger than [`MAX_TEMPLATE_BYTES`].
#[derive(Debug, thiserror::Error)]
#[error("the template file is larger than {MAX_TEMPLATE_BYTES} bytes")]
pub struct TemplateTooLarge;

/// A template file that is not UTF-8 text.
#[derive(Debug, thiserror::Error)]
#[error("the template file is not UTF-8 text")]
pub struct TemplateNotUtf8;

/// Where a template came from.
enum Lookup {
    Found(String),
    Missing,
    /// Outside the directory (a symbolic link out of it).
    Outside,
}

impl Templates {
    /// The built-in templates only.
    pub fn builtin() -> Self {
        Self { dir: None }
    }

    /// The templates in `dir`, with the built-in ones for names it lacks.
    ///
    /// # Errors
    /// [`TemplateDirError`] when `dir` does not exist or is not a directory.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, TemplateDirError> {
        let path = dir.as_ref();
        let fail = |source| TemplateDirError {
            path: path.to_owned(),
            source,
        };
        let root = path.canonicalize().map_err(fail)?;
        if !root.metadata().map_err(fail)?.is_dir() {
            return Err(fail(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            )));
        }
        Ok(Self {
            dir: Some(Arc::from(root)),
        })
    }

    /// The directory templates are read from, if any (its real path).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// A template's source: the directory's file, else the built-in one.
    fn lookup(&self, name: &str) -> Result<Lookup, TemplateError> {
        let render_error =
            |source: Box<dyn std::error::Error + Send + Sync>| TemplateError::Render {
                name: name.to_owned(),
                source,
            };
        if let Some(root) = &self.dir {
            match read_inside(root, name) {
                Ok(Lookup::Missing) => {}
                Ok(found) => return Ok(found),
                Err(ReadError::Io(e)) => return Err(render_error(Box::new(e))),
                Err(ReadError::TooLarge) => return Err(render_error(Box::new(TemplateTooLarge))),
                Err(ReadError::NotUtf8) => return Err(render_error(Box::new(TemplateNotUtf8))),
            }
        }
        Ok(match builtin_source(name) {
            Some(source) => Lookup::Found(source.to_owned()),
            None => Lookup::Missing,
        })
    }

    /// A minijinja environment whose loader is [`Templates::lookup`].
    fn environment(&self) -> Environment<'static> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if is_html(name) {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(|out, state, value| {
            if matches!(state.auto_escape(), AutoEscape::Html) && !value.is_safe() {
                out.write_str(&escape_html(&value.to_string()))
                    .map_err(minijinja::Error::from)
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        env.set_fuel(Some(RENDER_FUEL));
        let this = self.clone();
        env.set_loader(move |name| {
            if let Err(reason) = check_name(name) {
                return Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!("template name not allowed: {reason}"),
                ));
            }
            match this.lookup(name) {
                Ok(Lookup::Found(source)) => Ok(Some(source)),
                Ok(Lookup::Missing) => Ok(None),
                Ok(Lookup::Outside) => Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    "template outside the template directory",
                )),
                Err(e) => Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    "template could not be read",
                )
                .with_source(e)),
            }
        });
        env
    }

    /// Renders one template, already checked and looked up.
    fn render_one(
        env: &mut Environment<'static>,
        name: &str,
        source: String,
        values: &Value,
    ) -> Result<String, TemplateError> {
        let render_error = |e: minijinja::Error| TemplateError::Render {
            name: name.to_owned(),
            source: Box::new(e),
        };
        env.add_template_owned(name.to_owned(), source)
            .map_err(render_error)?;
        env.get_template(name)
            .and_then(|template| template.render(values))
            .map_err(render_error)
    }
}

impl MailTemplates for Templates {
    fn render(&self, name: &str, mail: &InvitationMail) -> Result<RenderedMail, TemplateError> {
        check_name(name).map_err(|_| TemplateError::NotAllowed(name.to_owned()))?;
        let Some(stem) = name.strip_suffix(".html") else {
            return Err(TemplateError::NotFound(name.to_owned()));
        };
        let html_source = match self.lookup(name)? {
            Lookup::Found(source) => source,
            Lookup::Missing => return Err(TemplateError::NotFound(name.to_owned())),
            Lookup::Outside => return Err(TemplateError::NotAllowed(name.to_owned())),
        };
        let text_name = format!("{stem}.txt");
        let (text_name, text_source) = match self.lookup(&text_name)? {
            Lookup::Found(source) => (text_name, source),
            Lookup::Outside => return Err(TemplateError::NotAllowed(name.to_owned())),
            Lookup::Missing => {
                let source = builtin_source(DEFAULT_TEXT_TEMPLATE).unwrap_or_default();
                (DEFAULT_TEXT_TEMPLATE.to_owned(), source.to_owned())
            }
        };
        let values = values(mail);
        let mut env = self.environment();
        let html = Self::render_one(&mut env, name, html_source, &values)?;
        let text = Self::render_one(&mut env, &text_name, text_source, &values)?;
        Ok(RenderedMail { html, text })
    }
}

/// The values a template sees.
fn values(mail: &InvitationMail) -> Value {
    minijinja::context! {
        url => mail.url.as_str(),
        host => mail.host.as_str(),
        inviter => mail.inviter.as_str(),
        invitation_name => mail.invitation_name.as_str(),
        expires => mail.expires.map(|at| at.format("%-d %B %Y, %H:%M UTC").to_string()),
        expires_rfc3339 => mail.expires.map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    }
}

/// Escapes text for HTML as Jinja2 (markupsafe) does: `&`, `<`, `>`, `"`
/// and `'`, which is enough in text and in quoted attributes, and leaves
/// links readable (minijinja's own escaping also turns `/` into `&#x2f;`).
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn is_html(name: &str) -> bool {
    name.ends_with(".html") || name.ends_with(".htm")
}

/// Whether `name` is a relative path of normal components; the reason
/// when not.
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty");
    }
    if name.len() > MAX_TEMPLATE_NAME_BYTES {
        return Err("too long");
    }
    if name.chars().any(char::is_control) {
        return Err("a control character");
    }
    if name.contains('\\') {
        return Err("a backslash");
    }
    for component in name.split('/') {
        match component {
            "" => return Err("an empty component or an absolute path"),
            "." | ".." => return Err("a relative component"),
            _ => {}
        }
    }
    Ok(())
}

enum ReadError {
    Io(io::Error),
    TooLarge,
    NotUtf8,
}

/// Reads `root/name` if its real path lies inside `root` (a real path
/// itself). `name` has passed [`check_name`].
fn read_inside(root: &Path, name: &str) -> Result<Lookup, ReadError> {
    let real = match root.join(name).canonicalize() {
        Ok(real) => real,
        Err(e) if is_missing(&e) => return Ok(Lookup::Missing),
        Err(e) => return Err(ReadError::Io(e)),
    };
    if !real.starts_with(root) {
        return Ok(Lookup::Outside);
    }
    // The real path, which has no links left to swap: what was checked is
    // what is opened.
    let file = match File::open(&real) {
        Ok(file) => file,
        Err(e) if is_missing(&e) => return Ok(Lookup::Missing),
        Err(e) => return Err(ReadError::Io(e)),
    };
    let metadata = file.metadata().map_err(ReadError::Io)?;
    if !metadata.is_file() {
        return Ok(Lookup::Missing);
    }
    if metadata.len() > MAX_TEMPLATE_BYTES {
        return Err(ReadError::TooLarge);
    }
    // Bounded again while reading, for a file that grows meanwhile.
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(MAX_TEMPLATE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_TEMPLATE_BYTES {
        return Err(ReadError::TooLarge);
    }
    String::from_utf8(bytes)
        .map(Lookup::Found)
        .map_err(|_| ReadError::NotUtf8)
}

/// Not found, or a path through something that is not a directory
/// (`a.html/b.html`).
fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn names_of_normal_components_are_allowed() {
        for name in [
            "email/invitation.html",
            "a.html",
            "a/b/c.html",
            "x..y.html",
            ".hidden.html",
        ] {
            assert_eq!(check_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn other_names_are_not_allowed() {
        for name in [
            "",
            "/etc/passwd",
            "../secret.html",
            "email/../../x.html",
            "./a.html",
            "a//b.html",
            "a/",
            "a\\b.html",
            "a.html\r\nBcc: x@y",
            "a\0.html",
            "a\u{7f}.html",
        ] {
            assert!(check_name(name).is_err(), "{name:?}");
        }
        assert!(check_name(&"a".repeat(256)).is_err());
    }
}
