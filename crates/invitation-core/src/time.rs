//! Timestamps: the text of an instant (what the wire writes and a search
//! matches), and the precision the library stores.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// Formats a timestamp as authentik's API writes it: UTC with `Z`, with six
/// fraction digits only when the microseconds are not zero.
pub fn format_timestamp(ts: &DateTime<Utc>) -> String {
    let mut out = Vec::with_capacity(27);
    write_timestamp(&mut out, ts);
    // Every byte written is ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends [`format_timestamp`]'s text to `out` (ASCII), without an
/// allocation of its own: for writers of JSON straight into bytes.
pub(crate) fn write_timestamp(out: &mut Vec<u8>, ts: &DateTime<Utc>) {
    let year = ts.year();
    match u32::try_from(year) {
        Ok(y) if y <= 9999 => digits(out, y, 4),
        _ => {
            use std::io::Write as _;
            // Writing into a Vec cannot fail.
            let _ = write!(out, "{year:04}");
        }
    }
    out.push(b'-');
    digits(out, ts.month(), 2);
    out.push(b'-');
    digits(out, ts.day(), 2);
    out.push(b'T');
    digits(out, ts.hour(), 2);
    out.push(b':');
    digits(out, ts.minute(), 2);
    out.push(b':');
    digits(out, ts.second(), 2);
    let micros = ts.timestamp_subsec_micros();
    if micros != 0 {
        out.push(b'.');
        digits(out, micros, 6);
    }
    out.push(b'Z');
}

/// `value` in exactly `width` decimal digits, zero-padded (`value` must
/// fit).
fn digits(out: &mut Vec<u8>, value: u32, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    let mut rest = value;
    for d in out[start..].iter_mut().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
}

/// Truncates a timestamp to whole microseconds, the precision the library
/// stores (and PostgreSQL keeps).
pub fn truncate_to_micros(ts: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = ts.timestamp_subsec_nanos();
    ts.with_nanosecond(nanos - nanos % 1000).unwrap_or(ts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn whole_seconds_are_written_without_a_fraction() {
        let at = Utc.with_ymd_and_hms(2024, 7, 29, 15, 51, 28).unwrap();
        assert_eq!(format_timestamp(&at), "2024-07-29T15:51:28Z");
        let at = at + chrono::Duration::microseconds(71_000);
        assert_eq!(format_timestamp(&at), "2024-07-29T15:51:28.071000Z");
    }

    #[test]
    fn truncating_keeps_whole_microseconds() {
        let at = Utc.timestamp_opt(1, 123_456_789).unwrap();
        assert_eq!(truncate_to_micros(at).timestamp_subsec_nanos(), 123_456_000);
    }
}
