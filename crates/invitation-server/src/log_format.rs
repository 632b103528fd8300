//! The text log format: the same lines as `tracing_subscriber::fmt`'s
//! default (`Full`) format without colours, written for less CPU.
//!
//! One access-log line per request is written at full request rate, so its
//! cost shows in throughput. The default format spent about 9,000
//! instructions on each line (every field through `Debug`, the timestamp
//! formatted from scratch, styles painted even when colours are off); this
//! one writes strings, integers and the timestamp directly and formats only
//! what it must (docs/performance.md). The output is the same, so tools
//! reading the default format read this one:
//!
//! ```text
//! 2026-11-28T08:14:25.516029Z  INFO invitation_http::access: request method=POST route="/api/v3/stages/invitation/invitations/" status=201 latency_us=57
//! ```
//!
//! Used when standard error is not a terminal; on a terminal the default
//! coloured format is kept.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event format (timestamp, level, spans, target, fields).
#[derive(Debug, Clone, Copy, Default)]
pub struct TextFormat;

/// The field format: `message k=v k="text"`, as the default one writes them.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextFields;

impl<S, N> FormatEvent<S, N> for TextFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    /// Writes the line into a per-thread buffer, then hands it to `writer`
    /// at once: one call through `Writer`'s `dyn fmt::Write` instead of
    /// thirty. The event's fields are written as [`TextFields`] writes them
    /// (whatever `N` is); spans' fields were formatted by `N` when they
    /// were made.
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        with_line_buffer(|line| {
            write_timestamp(line, SystemTime::now());
            line.push_str(level_text(event.metadata().level()));
            line.push(' ');
            if let Some(scope) = ctx.event_scope() {
                for span in scope.from_root() {
                    line.push_str(span.metadata().name());
                    let extensions = span.extensions();
                    if let Some(fields) = extensions.get::<FormattedFields<N>>() {
                        if !fields.is_empty() {
                            line.push('{');
                            line.push_str(fields);
                            line.push('}');
                        }
                    }
                    line.push(':');
                }
                line.push(' ');
            }
            line.push_str(event.metadata().target());
            line.push_str(": ");
            write_fields(line, event)?;
            line.push('\n');
            writer.write_str(line)
        })
    }
}

thread_local! {
    /// Where a line is put together before it is written.
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `f` with this thread's empty line buffer, or with a new one if the
/// buffer is in use (a field's `Debug` that logs while a line is being
/// written).
fn with_line_buffer(f: impl FnOnce(&mut String) -> fmt::Result) -> fmt::Result {
    LINE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut line) => {
            line.clear();
            let result = f(&mut line);
            // A line far longer than usual is not kept for the next one.
            if line.capacity() > 64 * 1024 {
                *line = String::new();
            }
            result
        }
        Err(_) => f(&mut String::new()),
    })
}

/// `message k=v k="text"` into `out`.
fn write_fields<R: RecordFields>(out: &mut String, fields: R) -> fmt::Result {
    let mut visitor = TextVisitor {
        out,
        first: true,
        result: Ok(()),
    };
    fields.record(&mut visitor);
    visitor.result
}

/// The level as the default format writes it: right-aligned in 5.
fn level_text(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => " INFO",
        Level::WARN => " WARN",
        Level::ERROR => "ERROR",
    }
}

thread_local! {
    /// The last whole second formatted on this thread and its text
    /// (`2026-11-28T08:14:25`): a second's lines share it.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// `2026-11-28T08:14:25.516029Z ` (UTC, microseconds, then a space).
fn write_timestamp(out: &mut String, now: SystemTime) {
    let Ok(since_epoch) = now.duration_since(UNIX_EPOCH) else {
        out.push_str("<unknown time> ");
        return;
    };
    let secs = since_epoch.as_secs();
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != secs {
            let text = i64::try_from(secs)
                .ok()
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string());
            let Some(text) = text else {
                out.push_str("<unknown time> ");
                return;
            };
            *cached = (secs, text);
        }
        out.push_str(&cached.1);
        out.push('.');
        let micros = since_epoch.subsec_micros();
        for power in [100_000, 10_000, 1_000, 100, 10, 1] {
            out.push(char::from(b'0' + (micros / power % 10) as u8));
        }
        out.push_str("Z ");
    });
}

impl<'writer> FormatFields<'writer> for TextFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        with_line_buffer(|out| {
            write_fields(out, fields)?;
            writer.write_str(out)
        })
    }
}

struct TextVisitor<'a> {
    out: &'a mut String,
    first: bool,
    result: fmt::Result,
}

impl TextVisitor<'_> {
    /// Starts a field: a space unless it is the first, then `name=`
    /// (nothing for `message`). `false` when the field is not written.
    fn start(&mut self, field: &Field) -> bool {
        if self.result.is_err() {
            return false;
        }
        let name = field.name();
        // Fields `tracing-log` adds for `log` records are not shown.
        if name.starts_with("log.") {
            return false;
        }
        if !self.first {
            self.out.push(' ');
        }
        self.first = false;
        if name != "message" {
            self.out.push_str(name.strip_prefix("r#").unwrap_or(name));
            self.out.push('=');
        }
        true
    }
}

/// Whether `Debug` writes `text` as itself between quotes. Every byte is
/// looked at (no early exit), which the compiler turns into vector code.
fn plain(text: &str) -> bool {
    text.bytes().fold(true, |plain, b| {
        plain & (0x20..0x7f).contains(&b) & (b != b'"') & (b != b'\\')
    })
}

impl Visit for TextVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.start(field) {
            return;
        }
        if field.name() == "message" {
            self.out.push_str(value);
        } else if plain(value) {
            self.out.push('"');
            self.out.push_str(value);
            self.out.push('"');
        } else {
            self.result = write!(self.out, "{value:?}");
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.start(field) {
            self.out.push_str(itoa::Buffer::new().format(value));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.start(field) {
            self.out.push_str(itoa::Buffer::new().format(value));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.start(field) {
            self.out.push_str(if value { "true" } else { "false" });
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if !self.start(field) {
            return;
        }
        self.result = write!(self.out, "{value}");
        let mut source = value.source();
        if source.is_some() && self.result.is_ok() {
            let name = field.name();
            self.result = write!(self.out, " {name}.sources=[");
            let mut first = true;
            while let (Some(s), Ok(())) = (source, self.result) {
                self.result = if first {
                    write!(self.out, "{s}")
                } else {
                    write!(self.out, ", {s}")
                };
                first = false;
                source = s.source();
            }
            if self.result.is_ok() {
                self.out.push(']');
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.start(field) {
            self.result = write!(self.out, "{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex, PoisonError};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    impl Capture {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner))
                .into_owned()
        }
    }

    #[derive(Debug)]
    struct Outer;
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("outer failed")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&Inner)
        }
    }
    #[derive(Debug)]
    struct Inner;
    impl fmt::Display for Inner {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("inner cause")
        }
    }
    impl std::error::Error for Inner {}

    /// Logs the same events through `subscriber` and returns the lines with
    /// their timestamps cut off.
    fn lines_from(capture: &Capture, subscriber: impl Subscriber + Send + Sync) -> Vec<String> {
        tracing::subscriber::with_default(subscriber, || {
            let method = "POST";
            // As invitation-http logs it: the message as a `str` field.
            tracing::info!(
                target: "invitation_http::access",
                message = "request",
                method = %method,
                route = "/api/v3/stages/invitation/invitations/",
                status = 201u16,
                latency_us = 57u64,
            );
            tracing::warn!(
                path = "tab\there \"quoted\" \\ é",
                n = -3i64,
                ok = true,
                "odd text"
            );
            let span = tracing::info_span!("conn", peer = "127.0.0.1:1");
            let _entered = span.enter();
            let inner = tracing::debug_span!("inner");
            let _inner = inner.enter();
            tracing::error!(
                error = &Outer as &(dyn std::error::Error + 'static),
                "failed"
            );
            tracing::info!(r#type = "x", value = ?Some(1.5), "raw names and debug values");
        });
        capture
            .text()
            .lines()
            .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest).to_owned())
            .collect()
    }

    #[test]
    fn lines_are_the_default_formats_lines() {
        let ours = Capture::default();
        let ours_lines = lines_from(
            &ours,
            tracing_subscriber::fmt()
                .with_max_level(Level::TRACE)
                .with_ansi(false)
                .with_writer(ours.clone())
                .event_format(TextFormat)
                .fmt_fields(TextFields)
                .finish(),
        );
        let theirs = Capture::default();
        let theirs_lines = lines_from(
            &theirs,
            tracing_subscriber::fmt()
                .with_max_level(Level::TRACE)
                .with_ansi(false)
                .with_writer(theirs.clone())
                .finish(),
        );
        assert_eq!(ours_lines.len(), 4, "{ours_lines:#?}");
        assert_eq!(ours_lines, theirs_lines);
    }

    #[test]
    fn the_timestamp_is_utc_with_microseconds() {
        let mut out = String::new();
        let at = UNIX_EPOCH + std::time::Duration::from_micros(1_764_317_665_000_042);
        write_timestamp(&mut out, at);
        assert_eq!(out, "2025-11-28T08:14:25.000042Z ");
        // A second formatting in the same second reuses the cached text.
        out.clear();
        let later = at + std::time::Duration::from_micros(900_000);
        write_timestamp(&mut out, later);
        assert_eq!(out, "2025-11-28T08:14:25.900042Z ");
    }

    #[test]
    fn a_timestamp_is_written_like_the_default_formats_one() {
        let mut ours = String::new();
        let now = SystemTime::now();
        write_timestamp(&mut ours, now);
        let since = now.duration_since(UNIX_EPOCH).unwrap();
        let reference = chrono::DateTime::from_timestamp(
            i64::try_from(since.as_secs()).unwrap(),
            since.subsec_micros() * 1000,
        )
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ ")
        .to_string();
        assert_eq!(ours, reference);
    }
}
