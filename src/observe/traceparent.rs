//! A W3C `traceparent` written by a CI or GitOps pipeline into an annotation of
//! the object it changes, connecting the rollout to the pipeline's trace.
//!
//! The annotation's key (`--traceparent-annotation`) is set once for the process:
//! it is needed while an object is read, where every source (watch, replay files,
//! dumps) meets the same projection without carrying settings of their own.

use std::sync::OnceLock;

use crate::span::{SpanId, TraceId};

/// No convention is shared between tools (Tekton keeps a JSON carrier in its own
/// runs' `tekton.dev/pipelinerunSpanContext`), so a key of kspan-rs' own, which
/// nothing else writes by accident.
pub const DEFAULT_ANNOTATION: &str = "kspan.io/traceparent";

static ANNOTATION: OnceLock<String> = OnceLock::new();

/// Sets the annotation key for the process; the first setting holds.
pub fn set_annotation(key: &str) {
    let _ = ANNOTATION.set(key.to_string());
}

pub fn annotation() -> &'static str {
    ANNOTATION.get().map_or(DEFAULT_ANNOTATION, String::as_str)
}

/// The span a traceparent names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace: TraceId,
    pub span: SpanId,
}

/// Parses `version-traceid-parentid-flags` as W3C Trace Context (level 1) says:
/// lowercase hex, version `ff` invalid, ids not all zero; version 00 has exactly
/// four fields, a later version may add fields after them.
pub fn parse(value: &str) -> Option<TraceContext> {
    let mut fields = value.split('-');
    let (version, trace, span, flags) =
        (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
    let rest = fields.next();
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !hex(version, 2) || version == "ff" || !hex(flags, 2) || (version == "00" && rest.is_some())
    {
        return None;
    }
    let trace: TraceId = decode(trace)?;
    let span: SpanId = decode(span)?;
    (trace != [0; 16] && span != [0; 8]).then_some(TraceContext { trace, span })
}

/// Lowercase hex of exactly `N` bytes.
fn decode<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    let bytes = text.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = [0; N];
    for (i, pair) in bytes.chunks(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_names_its_trace_and_span() {
        let c = parse(VALID).unwrap();
        assert_eq!(crate::span::hex(&c.trace), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(crate::span::hex(&c.span), "00f067aa0ba902b7");
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what-comes";
        assert!(parse(later).is_some(), "a later version may add fields");
    }

    #[test]
    fn malformed_traceparents_are_refused() {
        for bad in [
            "",
            "garbage",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
