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
/// stores (and PostgreSQL keeps). A leap second (chrono's `:60`) becomes
/// the same fraction of the next second's first, as the SQL stores count
/// microseconds since the epoch.
pub fn truncate_to_micros(ts: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = ts.timestamp_subsec_nanos();
    if nanos >= 1_000_000_000 {
        return DateTime::from_timestamp_micros(ts.timestamp_micros()).unwrap_or(ts);
    }
    ts.with_nanosecond(nanos - nanos % 1000).unwrap_or(ts)
}

/// The first instant an expiry may name: 0001-01-01T00:00:00Z.
pub const EXPIRES_MIN: DateTime<Utc> = match DateTime::from_timestamp(-62_135_596_800, 0) {
    Some(at) => at,
    None => DateTime::<Utc>::MIN_UTC,
};

/// The last instant an expiry may name: 9999-12-31T23:59:59.999999Z.
pub const EXPIRES_MAX: DateTime<Utc> = match DateTime::from_timestamp(253_402_300_799, 999_999_000)
{
    Some(at) => at,
    None => DateTime::<Utc>::MAX_UTC,
};

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
    fn the_expiry_bounds_are_the_first_and_last_microsecond_of_years_1_to_9999() {
        assert_eq!(format_timestamp(&EXPIRES_MIN), "0001-01-01T00:00:00Z");
        assert_eq!(
            format_timestamp(&EXPIRES_MAX),
            "9999-12-31T23:59:59.999999Z"
        );
    }

    #[test]
    fn a_leap_second_is_truncated_into_the_next_second() {
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_789))
            .unwrap()
            .and_utc();
        let next = Utc.with_ymd_and_hms(2017, 1, 1, 0, 0, 0).unwrap()
            + chrono::Duration::microseconds(500_000);
        assert_eq!(truncate_to_micros(leap), next);
        assert_eq!(
            truncate_to_micros(leap).timestamp_micros(),
            leap.timestamp_micros()
        );
    }

    #[test]
    fn truncating_keeps_whole_microseconds() {
        let at = Utc.timestamp_opt(1, 123_456_789).unwrap();
        assert_eq!(truncate_to_micros(at).timestamp_subsec_nanos(), 123_456_000);
    }
}
