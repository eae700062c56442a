//! SpanDraft: an immutable, finished span, and the derivation of its ids.
//! Ids are hashes of what the span is about, so a restart or a second replay of
//! the same input gives the same ids (and a collector merges, not duplicates).

use crate::time::Nanos;

pub mod service;

pub type TraceId = [u8; 16];
pub type SpanId = [u8; 8];

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}
impl From<crate::observe::Name> for Value {
    fn from(v: crate::observe::Name) -> Self {
        Value::Str(v.into_string())
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

pub type Attributes = Vec<(&'static str, Value)>;

#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Unset,
    Error(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpanEventDraft {
    pub name: String,
    pub time: Nanos,
    pub attributes: Attributes,
}

/// A link to a span of another trace (the Node.Activity a pod's node had during its life).
#[derive(Debug, Clone, PartialEq)]
pub struct SpanLinkDraft {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub attributes: Attributes,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpanDraft {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent: Option<SpanId>,
    /// Low-cardinality: `Deployment.Rollout`, `Pod.Startup`; subjects go in attributes.
    pub name: &'static str,
    pub start: Nanos,
    pub end: Nanos,
    pub status: Status,
    pub attributes: Attributes,
    pub events: Vec<SpanEventDraft>,
    pub links: Vec<SpanLinkDraft>,
    /// The reporting component, as it named itself: the resource's `service.name`
    /// and `service.instance.id` (see `service::split`).
    pub service: String,
}

impl SpanDraft {
    pub fn attribute(&self, key: &str) -> Option<&Value> {
        self.attributes.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// FNV-1a, 128 bits: stable across Rust versions and platforms (std's hasher is not).
/// Each part is followed by a 0xff byte, so `["ab", "c"]` and `["a", "bc"]` differ.
fn fnv128<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut hash = OFFSET;
    for part in parts {
        for &byte in part {
            hash ^= byte as u128;
            hash = hash.wrapping_mul(PRIME);
        }
        hash ^= 0xff;
        hash = hash.wrapping_mul(PRIME);
    }
    avalanche(hash)
}

/// FNV alone changes little in the high bits for inputs that differ at the end
/// (`generation:1` vs `generation:2`); ids must look random to samplers and to
/// load balancers that shard by trace id. murmur3's finalizer on each half, crossed.
fn avalanche(hash: u128) -> u128 {
    fn fmix(mut k: u64) -> u64 {
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51afd7ed558ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ceb9fe1a85ec53);
        k ^ (k >> 33)
    }
    let (high, low) = ((hash >> 64) as u64, hash as u64);
    let low = fmix(low ^ fmix(high));
    let high = fmix(high ^ low);
    ((high as u128) << 64) | low as u128
}

pub fn trace_id(subject: &str, rollout: &str) -> TraceId {
    let id = fnv128([subject.as_bytes(), rollout.as_bytes()]).to_be_bytes();
    if id == [0; 16] {
        [1; 16]
    } else {
        id
    }
}

pub fn span_id(trace: &TraceId, parts: &[&str]) -> SpanId {
    let hash = fnv128(std::iter::once(&trace[..]).chain(parts.iter().map(|p| p.as_bytes())));
    let id = ((hash >> 64) as u64 ^ hash as u64).to_be_bytes();
    if id == [0; 8] {
        [1; 8]
    } else {
        id
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
