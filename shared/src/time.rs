//! Timestamps as milliseconds since the Unix epoch, and their ISO 8601 / RFC 3339 text
//! form in UTC (`2026-12-04T19:35:03.123Z`), the form the Management API and the CLI use.
//! Written by hand because a date crate would cost more bundle than these few lines.

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type Millis = u64;

pub const SECOND_MS: Millis = 1_000;
pub const MINUTE_MS: Millis = 60 * SECOND_MS;
pub const HOUR_MS: Millis = 60 * MINUTE_MS;
pub const DAY_MS: Millis = 24 * HOUR_MS;

/// Formats `millis` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_iso8601(millis: Millis) -> String {
    let days = millis / DAY_MS;
    let of_day = millis % DAY_MS;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / HOUR_MS,
        of_day % HOUR_MS / MINUTE_MS,
        of_day % MINUTE_MS / SECOND_MS,
        of_day % SECOND_MS
    )
}

/// Parses an RFC 3339 timestamp at or after 1970 (`2026-12-04T19:35:03Z`,
/// `…03.5Z`, `…03.123+02:00`) into milliseconds. Returns `None` for anything else.
pub fn parse_iso8601(text: &str) -> Option<Millis> {
    // ASCII only, so the byte offsets below always fall on character boundaries.
    if !text.is_ascii() {
        return None;
    }
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' {
        return None;
    }
    if !matches!(bytes[10], b'T' | b't' | b' ') || bytes[16] != b':' {
        return None;
    }
    let year = digits(&text[0..4])?;
    let month = digits(&text[5..7])?;
    let day = digits(&text[8..10])?;
    let hour = digits(&text[11..13])?;
    let minute = digits(&text[14..16])?;
    let second = digits(&text[17..19])?;
    if year < 1970 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }

    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let length = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if length == 0 {
            return None;
        }
        // Only the first three digits matter at millisecond resolution.
        let first_three = format!("{:0<3}", &fraction[..length.min(3)]);
        millis = digits(&first_three)?;
        rest = &fraction[length..];
    }
    let offset_minutes: i64 = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hours = digits(&rest[1..3])?;
            let minutes = digits(&rest[4..6])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            sign * (hours * 60 + minutes) as i64
        }
        _ => return None,
    };

    let days = days_from_civil(year, month, day);
    let local = days * DAY_MS + hour * HOUR_MS + minute * MINUTE_MS + second * SECOND_MS + millis;
    let utc = local as i64 - offset_minutes * MINUTE_MS as i64;
    u64::try_from(utc).ok()
}

fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn is_leap(year: u64) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Converts days since 1970-01-01 into (year, month, day) of the proleptic Gregorian
/// calendar, using the era-based method (400-year eras of 146,097 days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Converts (year, month, day) into days since 1970-01-01, the inverse of `civil_from_days`.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year % 400;
    let month_from_march = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_known_instants() {
        assert_eq!(format_iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_iso8601(1_796_412_903_123), "2026-12-04T19:35:03.123Z");
    }

    #[test]
    fn parse_round_trips_every_day_for_years() {
        let mut millis = 0;
        while millis < 4_200_000_000_000 {
            let text = format_iso8601(millis);
            assert_eq!(parse_iso8601(&text), Some(millis), "{text}");
            millis += DAY_MS + 1_234;
        }
    }

    #[test]
    fn parse_accepts_offsets_and_fractions() {
        assert_eq!(parse_iso8601("2026-12-04T19:35:03Z"), Some(1_796_412_903_000));
        assert_eq!(parse_iso8601("2026-12-04T19:35:03.5Z"), Some(1_796_412_903_500));
        assert_eq!(parse_iso8601("2026-12-04T19:35:03.123456Z"), Some(1_796_412_903_123));
        assert_eq!(parse_iso8601("2026-12-04T21:35:03+02:00"), Some(1_796_412_903_000));
        assert_eq!(parse_iso8601("2026-12-04T17:35:03-02:00"), Some(1_796_412_903_000));
    }

    #[test]
    fn parse_rejects_malformed_text() {
        for text in [
            "",
            "yesterday",
            "2026-12-04",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-12-04T24:00:00Z",
            "2026-12-04T19:35:03",
            "2026-12-04T19:35:03.Z",
            "2026-12-04T19:35:03+0200",
            "1969-12-31T23:59:59Z",
            "२०२६-12-04T19:35:03Z",
        ] {
            assert_eq!(parse_iso8601(text), None, "{text:?}");
        }
    }
}
