//! Jaeger v2 all-in-one of a test (`scripts/live-env.sh jaeger`) and a client of its
//! query API (`/api/traces`, the JSON the Jaeger UI reads: spans with references,
//! tags, logs and the warnings Jaeger attached while storing or reading them).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::script::Started;

/// Jaeger with in-memory storage, taking OTLP on free ports. Stops on drop.
pub struct LiveJaeger {
    // Dropped before Jaeger is stopped: an idle keep-alive connection of the client
    // holds up Jaeger's graceful shutdown until it is killed.
    query: JaegerQuery,
    /// Variables from `<dir>/jaeger.env`.
    pub env: HashMap<String, String>,
    started: Started,
}

impl LiveJaeger {
    /// Starts the Jaeger of `dir` (or reuses the one running there).
    pub fn start_in(dir: &Path) -> Result<Self> {
        let (started, env) =
            Started::start(dir, ["jaeger", "stop-jaeger"], "jaeger", "jaeger.env", &[])?;
        let query = JaegerQuery::new(env.get("KSPAN_JAEGER_QUERY_URL").context("query URL")?)?;
        Ok(LiveJaeger { query, env, started })
    }

    /// e.g. `http://127.0.0.1:43171`
    pub fn otlp_grpc_endpoint(&self) -> &str {
        &self.env["KSPAN_JAEGER_OTLP_GRPC_ENDPOINT"]
    }

    pub fn otlp_http_endpoint(&self) -> &str {
        &self.env["KSPAN_JAEGER_OTLP_HTTP_ENDPOINT"]
    }

    pub fn dir(&self) -> &Path {
        self.started.dir()
    }

    pub fn query(&self) -> &JaegerQuery {
        &self.query
    }
}

/// A span as Jaeger's query API returns it.
#[derive(Debug, Clone)]
pub struct JaegerSpan {
    pub trace: String,
    pub id: String,
    /// The `CHILD_OF` reference's span, empty for a root.
    pub parent: String,
    /// `FOLLOWS_FROM` references (OTLP links): (trace, span).
    pub follows_from: Vec<(String, String)>,
    pub name: String,
    pub service: String,
    /// Tags as text; a key sent twice keeps its last value (see `tag_keys`).
    pub tags: BTreeMap<String, String>,
    /// Every tag key, duplicates included, in Jaeger's order.
    pub tag_keys: Vec<String>,
    /// Logs (OTLP span events): the fields as text, the event name under `event`.
    pub logs: Vec<BTreeMap<String, String>>,
    pub warnings: Vec<String>,
    /// Microseconds since the epoch.
    pub start_us: u64,
    pub duration_us: u64,
}

/// A trace as Jaeger's query API returns it.
#[derive(Debug, Clone)]
pub struct JaegerTrace {
    pub id: String,
    pub spans: Vec<JaegerSpan>,
    /// Warnings on the trace itself (not on a span).
    pub warnings: Vec<String>,
}

fn text(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
}

fn key_values(list: &Value) -> Vec<(String, String)> {
    let pairs = list.as_array().into_iter().flatten();
    pairs.map(|kv| (text(&kv["key"]), text(&kv["value"]))).collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().map(text).collect()
}

impl JaegerTrace {
    fn parse(trace: &Value) -> Result<Self> {
        let id = text(&trace["traceID"]);
        let services: HashMap<String, String> = trace["processes"]
            .as_object()
            .context("processes")?
            .iter()
            .map(|(pid, p)| (pid.clone(), text(&p["serviceName"])))
            .collect();
        let mut spans = Vec::new();
        for s in trace["spans"].as_array().context("spans")? {
            let refs = s["references"].as_array().into_iter().flatten();
            let (mut parent, mut follows_from) = (String::new(), Vec::new());
            for r in refs {
                let target = (text(&r["traceID"]), text(&r["spanID"]));
                match r["refType"].as_str() {
                    Some("CHILD_OF") => parent = target.1,
                    _ => follows_from.push(target),
                }
            }
            let tags = key_values(&s["tags"]);
            spans.push(JaegerSpan {
                trace: text(&s["traceID"]),
                id: text(&s["spanID"]),
                parent,
                follows_from,
                name: text(&s["operationName"]),
                service: services.get(&text(&s["processID"])).cloned().unwrap_or_default(),
                tag_keys: tags.iter().map(|(k, _)| k.clone()).collect(),
                tags: tags.into_iter().collect(),
                logs: s["logs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|l| key_values(&l["fields"]).into_iter().collect())
                    .collect(),
                warnings: strings(&s["warnings"]),
                start_us: s["startTime"].as_u64().context("startTime")?,
                duration_us: s["duration"].as_u64().context("duration")?,
            });
        }
        Ok(JaegerTrace { id, spans, warnings: strings(&trace["warnings"]) })
    }
}

/// Percent-encodes a query parameter's value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Jaeger's HTTP query API at a base URL.
pub struct JaegerQuery {
    base: String,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl JaegerQuery {
    pub fn new(base: &str) -> Result<Self> {
        // The crate's reqwest brings no TLS provider of its own; plain HTTP here.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        Ok(JaegerQuery { base: base.trim_end_matches('/').to_string(), http, rt })
    }

    /// GET `path` (with its query string): the JSON body; fails on a non-2xx status or
    /// on `errors` in the body.
    pub fn get(&self, path: &str) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let body: Value = self.rt.block_on(async {
            let response = self.http.get(&url).send().await?;
            let status = response.status();
            let body = response.text().await?;
            if !status.is_success() {
                bail!("GET {url}: {status}: {body}");
            }
            serde_json::from_str(&body).with_context(|| format!("GET {url}: {body}"))
        })?;
        if !body["errors"].is_null() {
            bail!("GET {url}: errors {}", body["errors"]);
        }
        Ok(body)
    }

    /// The service names Jaeger has spans of.
    pub fn services(&self) -> Result<Vec<String>> {
        let mut names = strings(&self.get("/api/services")?["data"]);
        names.sort();
        Ok(names)
    }

    /// The traces with a span of `service` that has every tag of `tags` (on the
    /// span, its resource or one of its events), at any time up to now.
    pub fn find_traces(&self, service: &str, tags: &[(&str, &str)]) -> Result<Vec<JaegerTrace>> {
        let now_us = SystemTime::now().duration_since(UNIX_EPOCH)?.as_micros();
        let tags: serde_json::Map<String, Value> =
            tags.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect();
        let mut path =
            format!("/api/traces?service={}&start=1&end={now_us}&limit=10000", encode(service));
        if !tags.is_empty() {
            path += &format!("&tags={}", encode(&Value::Object(tags).to_string()));
        }
        self.traces(&path)
    }

    /// One trace by id.
    pub fn trace(&self, id: &str) -> Result<JaegerTrace> {
        let mut traces = self.traces(&format!("/api/traces/{id}"))?;
        match traces.len() {
            1 => Ok(traces.remove(0)),
            n => bail!("trace {id}: {n} traces in the answer"),
        }
    }

    fn traces(&self, path: &str) -> Result<Vec<JaegerTrace>> {
        let body = self.get(path)?;
        body["data"].as_array().context("data")?.iter().map(JaegerTrace::parse).collect()
    }

    /// Polls until every trace of `ids` holds `spans` spans in all (Jaeger batches
    /// what it receives before storing it); returns the traces.
    pub fn wait_for_traces(&self, ids: &[String], spans: usize) -> Result<Vec<JaegerTrace>> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let traces: Vec<JaegerTrace> =
                ids.iter().filter_map(|id| self.trace(id).ok()).collect();
            let got = traces.iter().map(|t| t.spans.len()).sum::<usize>();
            if traces.len() == ids.len() && got == spans {
                return Ok(traces);
            }
            if Instant::now() > deadline {
                bail!(
                    "jaeger holds {} of {} traces, {got} of {spans} spans",
                    traces.len(),
                    ids.len()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
