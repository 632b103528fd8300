//! Timestamps as authentik's API reads them (Django REST framework's
//! lenient ISO 8601).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// The message Django REST framework gives for a timestamp it cannot read.
pub(crate) const DATETIME_FORMAT_MESSAGE: &str = "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].";

/// Parses an ISO 8601 / RFC 3339 timestamp the way authentik's API does.
///
/// Accepts `Z` and `±HH:MM` (also `±HHMM`, `±HH`) offsets, a space instead of
/// `T`, missing seconds, a date alone (midnight UTC) and any number of fraction
/// digits (truncated to microseconds). A value without an offset is UTC.
/// Returns `None` for anything else; never panics.
pub fn parse_timestamp(input: &str) -> Option<DateTime<Utc>> {
    let b = input.as_bytes();
    let date = parse_date(b.get(..10)?)?;
    if b.len() == 10 {
        return Some(Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN)));
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let rest = b.get(11..)?;
    let hour = two_digits(rest.get(0..2)?)?;
    if rest.get(2) != Some(&b':') {
        return None;
    }
    let minute = two_digits(rest.get(3..5)?)?;
    let mut i = 5;
    let mut second = 0;
    let mut micros = 0u32;
    if rest.get(i) == Some(&b':') {
        second = two_digits(rest.get(i + 1..i + 3)?)?;
        i += 3;
        if matches!(rest.get(i), Some(b'.' | b',')) {
            i += 1;
            let start = i;
            while rest.get(i).is_some_and(u8::is_ascii_digit) {
                if i - start < 6 {
                    micros = micros * 10 + u32::from(rest[i] - b'0');
                }
                i += 1;
            }
            let digits = i - start;
            if digits == 0 {
                return None;
            }
            for _ in digits..6 {
                micros *= 10;
            }
        }
    }
    let time = NaiveTime::from_hms_micro_opt(hour, minute, second, micros)?;
    let naive = NaiveDateTime::new(date, time);
    let offset = parse_offset(rest.get(i..)?)?;
    offset
        .from_local_datetime(&naive)
        .single()
        .map(|dt| dt.with_timezone(&Utc))
}

fn parse_date(b: &[u8]) -> Option<NaiveDate> {
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let year = i32::try_from(two_digits(b.get(0..2)?)? * 100 + two_digits(b.get(2..4)?)?).ok()?;
    if year == 0 {
        return None;
    }
    NaiveDate::from_ymd_opt(year, two_digits(b.get(5..7)?)?, two_digits(b.get(8..10)?)?)
}

fn two_digits(b: &[u8]) -> Option<u32> {
    match b {
        [h @ b'0'..=b'9', l @ b'0'..=b'9'] => Some(u32::from(h - b'0') * 10 + u32::from(l - b'0')),
        _ => None,
    }
}

fn parse_offset(b: &[u8]) -> Option<FixedOffset> {
    let (sign, rest) = match b {
        [] | [b'Z' | b'z'] => return FixedOffset::east_opt(0),
        [b'+', rest @ ..] => (1, rest),
        [b'-', rest @ ..] => (-1, rest),
        _ => return None,
    };
    let (hours, minutes) = match rest {
        [h1, h2] => (two_digits(&[*h1, *h2])?, 0),
        [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
            (two_digits(&[*h1, *h2])?, two_digits(&[*m1, *m2])?)
        }
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    let seconds = i32::try_from(hours * 3600 + minutes * 60).ok()?;
    FixedOffset::east_opt(sign * seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use invitation_core::time::format_timestamp;

    fn p(s: &str) -> Option<String> {
        parse_timestamp(s).map(|t| format_timestamp(&t))
    }

    #[test]
    fn a_z_suffixed_timestamp_is_read_as_utc() {
        assert_eq!(
            p("2024-07-29T15:51:28.071Z").as_deref(),
            Some("2024-07-29T15:51:28.071000Z")
        );
    }

    #[test]
    fn an_offset_is_converted_to_utc() {
        assert_eq!(
            p("2024-07-29T15:51:28+02:00").as_deref(),
            Some("2024-07-29T13:51:28Z")
        );
        assert_eq!(
            p("2024-07-29T15:51:28-0130").as_deref(),
            Some("2024-07-29T17:21:28Z")
        );
        assert_eq!(
            p("2024-07-29T15:51:28+02").as_deref(),
            Some("2024-07-29T13:51:28Z")
        );
    }

    #[test]
    fn a_space_may_stand_for_the_t() {
        assert_eq!(
            p("2024-07-29 15:51:28Z").as_deref(),
            Some("2024-07-29T15:51:28Z")
        );
    }

    #[test]
    fn seconds_may_be_missing() {
        assert_eq!(
            p("2024-07-29T15:51").as_deref(),
            Some("2024-07-29T15:51:00Z")
        );
    }

    #[test]
    fn a_date_alone_is_midnight_utc() {
        assert_eq!(p("2024-07-29").as_deref(), Some("2024-07-29T00:00:00Z"));
    }

    #[test]
    fn more_than_six_fraction_digits_are_truncated_to_microseconds() {
        assert_eq!(
            p("2024-07-29T15:51:28.123456789Z").as_deref(),
            Some("2024-07-29T15:51:28.123456Z")
        );
    }

    #[test]
    fn a_timestamp_without_offset_is_utc() {
        assert_eq!(
            p("2024-07-29T15:51:28").as_deref(),
            Some("2024-07-29T15:51:28Z")
        );
    }

    #[test]
    fn whole_seconds_are_written_without_a_fraction() {
        assert_eq!(
            p("2024-07-29T15:51:28.000Z").as_deref(),
            Some("2024-07-29T15:51:28Z")
        );
    }

    #[test]
    fn malformed_timestamps_are_refused() {
        for bad in [
            "",
            "2024",
            "2024-13-01",
            "2024-02-30",
            "2024-07-29T",
            "2024-07-29T25:00",
            "2024-07-29T15:51:28.Z",
            "2024-07-29T15:51:28+2",
            "2024-07-29X15:51",
            "tomorrow",
            "2024-07-29T15:51:28Zjunk",
            "0000-01-01",
            "２０２４-07-29",
        ] {
            assert_eq!(p(bad), None, "{bad:?} should be refused");
        }
    }
}
