//! Text as Kubernetes writes it: timestamps, Go durations, JSON strings.

use std::fmt::Write as _;

use crate::time::{whole_seconds, SECOND};

pub(super) const MS: i64 = 1_000_000;
pub(super) const SEC: i64 = SECOND;
pub(super) const DAY: i64 = 86_400 * SEC;

/// Whole seconds, as Kubernetes writes `metav1.Time`.
pub(super) fn stamp(t: i64) -> String {
    whole_seconds(t.div_euclid(SEC))
}

/// Every nanosecond digit: arrival times in a capture.
pub(super) fn instant(t: i64) -> String {
    let mut s = stamp(t);
    s.pop();
    let _ = write!(s, ".{:09}Z", t.rem_euclid(SEC));
    s
}

/// Go's `time.Duration` text, as the kubelet writes pull times: `5.87s`, `812ms`.
pub(super) fn go_duration(d: i64) -> String {
    let d = d - d % MS;
    let text =
        if d >= SEC { format!("{}.{:03}", d / SEC, d % SEC / MS) } else { format!("{}", d / MS) };
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{}", if d >= SEC { "s" } else { "ms" })
}

pub(super) fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_rfc3339() {
        use super::{go_duration, instant, stamp, DAY};
        use crate::synth::SynthConfig;
        use crate::time::days_from_civil;
        let t = SynthConfig::default().start;
        assert_eq!(stamp(t), "2024-05-13T08:00:00Z");
        assert_eq!(instant(t + 1_234_567), "2024-05-13T08:00:00.001234567Z");
        assert_eq!(stamp(days_from_civil(2000, 2, 29) * DAY), "2000-02-29T00:00:00Z");
        assert_eq!(go_duration(5_870_196_872), "5.87s");
        assert_eq!(go_duration(812_345_678), "812ms");
    }
}
