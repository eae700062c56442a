//! Logical time: nanoseconds since the Unix epoch, as observed in the input.
//! The correlator never reads a wall clock; every instant comes from an observation.

use k8s_openapi::jiff::Timestamp;

/// Nanoseconds since 1970-01-01T00:00:00Z.
pub type Nanos = i64;

pub const SECOND: Nanos = 1_000_000_000;

/// 2200-01-01T00:00:00Z: no later instant is taken as real, which leaves sixty
/// years of headroom below `Nanos::MAX` for the arithmetic on instants.
const LATEST: i128 = 7_258_118_400 * SECOND as i128;

/// Kubernetes writes the zero time ("0001-01-01T00:00:00Z") for "unset"; treat
/// anything before 1971, or after 2199, the same way.
fn real(n: i128) -> Option<Nanos> {
    (n > 365 * 24 * 3600 * SECOND as i128 && n < LATEST).then_some(n as Nanos)
}

/// The instant of something the API server stamped in whole seconds (`stamp`: an
/// Event's time, a condition's transition, a creation) and kspan saw arrive at
/// `arrived`. The true instant lies in the stamped second and not after its arrival;
/// a watch delivers within milliseconds, so an arrival in that second is the instant,
/// and one in the next second means it came at that second's end (taking the stamp
/// there would date it up to a second early). Anything later is history (a list
/// after a restart, an old capture): the stamp is all there is. Finer stamps are kept.
pub fn refine(stamp: Nanos, arrived: Nanos) -> Nanos {
    if stamp % SECOND != 0 || !(stamp..stamp + 2 * SECOND).contains(&arrived) {
        return stamp;
    }
    arrived.min(stamp + SECOND - 1)
}

/// Parses an RFC 3339 instant such as the capture comments carry.
pub fn parse(text: &str) -> Option<Nanos> {
    parse_checked(text).ok().flatten()
}

/// Parses an RFC 3339 instant: an error when the text is no instant, `None`
/// when it is one that stands for "unset" (see `real`).
pub fn parse_checked(text: &str) -> Result<Option<Nanos>, k8s_openapi::jiff::Error> {
    if let Some(n) = kubernetes_layout(text.as_bytes()) {
        return Ok(real(n));
    }
    Ok(real(text.parse::<Timestamp>()?.as_nanosecond()))
}

/// The one layout the API server writes, `2006-01-02T15:04:05Z` (MicroTime with
/// `.000000` before the `Z`), read directly, because a replay reads several per
/// object (BENCHMARKS.md). Anything else (offsets, lower case, leap seconds,
/// invalid dates) is left to jiff.
fn kubernetes_layout(b: &[u8]) -> Option<i128> {
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || b[b.len() - 1] != b'Z' {
        return None;
    }
    let (year, month, day) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (hour, minute, second) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    let fraction = match b.len() {
        20 => 0,
        22..=30 if b[19] == b'.' => {
            let places = b.len() - 21;
            digits(&b[20..b.len() - 1])? * 10i64.pow(9 - places as u32)
        }
        _ => return None,
    };
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    valid.then(|| seconds as i128 * SECOND as i128 + fraction as i128)
}

/// `2006-01-02T15:04:05Z` for seconds since the epoch (up to 2262, as far as `Nanos` go).
pub fn whole_seconds(seconds: i64) -> String {
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let mut text = *b"0000-00-00T00:00:00Z";
    let mut put = |end: usize, width: usize, mut value: i64| {
        for digit in text[end - width..end].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(4, 4, year);
    put(7, 2, month);
    put(10, 2, day);
    put(13, 2, second_of_day / 3600);
    put(16, 2, second_of_day / 60 % 60);
    put(19, 2, second_of_day % 60);
    String::from_utf8(text.to_vec()).expect("ASCII digits")
}

/// The date of a day since 1970-01-01 (Howard Hinnant's algorithm, days_from_civil's inverse).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

#[inline(always)]
fn digits(text: &[u8]) -> Option<i64> {
    let mut n = 0;
    for &c in text {
        let digit = c.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n = n * 10 + digit as i64;
    }
    Some(n)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// RFC 3339 with the precision the value needs, for attributes and messages.
pub fn format(at: Nanos) -> String {
    // Whole seconds (every Event timestamp) are written directly, as jiff writes them.
    if at % SECOND == 0 && at >= 0 {
        return whole_seconds(at / SECOND);
    }
    match Timestamp::from_nanosecond(at as i128) {
        Ok(ts) => ts.to_string(),
        Err(_) => at.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn refine_dates_a_whole_second_stamp_by_its_arrival() {
        let t = 1_700_000_000 * SECOND;
        assert_eq!(refine(t, t + 250_000_000), t + 250_000_000, "within the second");
        assert_eq!(refine(t, t + SECOND + 10_000_000), t + SECOND - 1, "just past it");
        assert_eq!(refine(t, t + 2 * SECOND), t, "history");
        assert_eq!(refine(t, t - 5_000_000), t, "seen before its stamp: clock skew");
        assert_eq!(refine(t + 7, t + 100), t + 7, "a finer stamp is kept");
    }

    fn by_jiff(text: &str) -> Option<i128> {
        text.parse::<Timestamp>().ok().map(|t| t.as_nanosecond())
    }

    proptest! {
        /// Every instant the API server can write reads as jiff reads it, to the nanosecond.
        #[test]
        fn the_kubernetes_layout_reads_as_jiff_reads_it(
            seconds in -62_135_596_800i64..253_402_300_799,
            nanos in 0u32..1_000_000_000,
            digits in 0usize..=9,
        ) {
            let whole = Timestamp::from_second(seconds).unwrap().strftime("%Y-%m-%dT%H:%M:%S").to_string();
            let fraction = format!("{nanos:09}");
            let text = match digits {
                0 => format!("{whole}Z"),
                d => format!("{whole}.{}Z", &fraction[..d]),
            };
            prop_assert_eq!(kubernetes_layout(text.as_bytes()), by_jiff(&text), "{}", text);
        }

        /// Text that is not the layout exactly is never read as some other instant.
        #[test]
        fn other_text_is_left_to_jiff(text in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,10})?([Zz]|[+-][0-9]{2}:[0-9]{2})?") {
            if let Some(n) = kubernetes_layout(text.as_bytes()) {
                prop_assert_eq!(Some(n), by_jiff(&text), "{}", text);
            }
        }
    }

    proptest! {
        /// Whole seconds are written as jiff writes them, and read back.
        #[test]
        fn whole_seconds_are_written_as_jiff_writes_them(seconds in 0i64..9_223_372_036) {
            let text = format(seconds * SECOND);
            prop_assert_eq!(&text, &Timestamp::from_second(seconds).unwrap().to_string());
            prop_assert_eq!(kubernetes_layout(text.as_bytes()), Some(seconds as i128 * SECOND as i128));
        }
    }

    #[test]
    fn invalid_dates_and_the_zero_time() {
        for text in [
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00.Z",
        ] {
            assert_eq!(kubernetes_layout(text.as_bytes()), None, "{text}");
            assert!(parse_checked(text).is_err(), "{text}");
        }
        assert_eq!(
            parse_checked("2024-02-29T23:59:59.5Z").unwrap(),
            Some(1_709_251_199_500_000_000)
        );
        assert_eq!(parse_checked("0001-01-01T00:00:00Z").unwrap(), None);
        assert_eq!(
            parse_checked("2024-01-01T01:00:00+01:00").unwrap(),
            Some(1_704_067_200 * SECOND)
        );
    }
}
