//! Logical time: nanoseconds since the Unix epoch, as observed in the input.
//! The correlator never reads a wall clock; every instant comes from an observation.

use k8s_openapi::jiff::Timestamp;

/// Nanoseconds since 1970-01-01T00:00:00Z.
pub type Nanos = i64;

pub const SECOND: Nanos = 1_000_000_000;

/// 2200-01-01T00:00:00Z: no later instant is taken as real, which leaves sixty
/// years of headroom below `Nanos::MAX` for the arithmetic on instants.
const LATEST: i128 = 7_258_118_400 * SECOND as i128;

fn from_timestamp(ts: &Timestamp) -> Option<Nanos> {
    // Kubernetes writes the zero time ("0001-01-01T00:00:00Z") for "unset"; treat
    // anything before 1971, or after 2199, the same way.
    let n = ts.as_nanosecond();
    (n > 365 * 24 * 3600 * SECOND as i128 && n < LATEST).then_some(n as Nanos)
}

/// Parses an RFC 3339 instant such as the capture comments carry.
pub fn parse(text: &str) -> Option<Nanos> {
    parse_checked(text).ok().flatten()
}

/// Parses an RFC 3339 instant: an error when the text is no instant, `None`
/// when it is one that stands for "unset" (see `from_timestamp`).
pub fn parse_checked(text: &str) -> Result<Option<Nanos>, k8s_openapi::jiff::Error> {
    Ok(from_timestamp(&text.parse::<Timestamp>()?))
}

/// RFC 3339 with the precision the value needs, for attributes and messages.
pub fn format(at: Nanos) -> String {
    match Timestamp::from_nanosecond(at as i128) {
        Ok(ts) => ts.to_string(),
        Err(_) => at.to_string(),
    }
}
