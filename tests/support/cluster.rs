//! A real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler) for live tests, started and stopped through `scripts/live-env.sh`.
//!
//! The binaries are built once by `scripts/live-env.sh install` and cached under
//! `${KSPAN_CACHE:-$HOME/.cache/kspan-rs}`. When they are missing, [`LiveCluster::start_or_skip`]
//! fails the test under `CI=true` and returns `None` (skip) otherwise.
//!
//! Also here: the apiserver's audit log ([`LiveCluster::audit_requests`]), kubeconfigs for
//! ServiceAccounts ([`LiveCluster::service_account_kubeconfig`]), the OTLP receiver
//! ([`LiveReceiver`]) and a TLS-terminating, header-logging nginx in front of it ([`TlsProxy`]).

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// Path of the harness script, relative to the crate root.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts").join("live-env.sh")
}

/// True when running under CI (`CI` set to anything but empty/`false`/`0`).
pub fn in_ci() -> bool {
    match std::env::var("CI") {
        Ok(v) => !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false")),
        Err(_) => false,
    }
}

/// Whether `scripts/live-env.sh install` has been run on this machine.
pub fn installed() -> bool {
    Command::new("bash")
        .arg(script())
        .arg("check")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Panics under CI, or prints a skip notice and returns false, when the live
/// environment is not installed.
pub fn require_installed(test: &str) -> bool {
    if installed() {
        return true;
    }
    let msg = format!(
        "{test}: the live Kubernetes environment is not installed; run `scripts/live-env.sh install` \
         (builds kube-apiserver/controller-manager/scheduler v1.20.2 once, about 7 minutes)"
    );
    if in_ci() {
        panic!("{msg}");
    }
    eprintln!("SKIPPED {msg}");
    false
}

fn run_script(args: &[&str]) -> Result<()> {
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running scripts/live-env.sh {}", args.join(" ")))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!(
            "scripts/live-env.sh {} failed ({}) after {:.1}s:\n{}{}",
            args.join(" "),
            out.status,
            started.elapsed().as_secs_f64(),
            String::from_utf8_lossy(&out.stdout),
            stderr
        );
    }
    for line in stderr.lines() {
        eprintln!("{line}");
    }
    Ok(())
}

/// Parses a file of `export NAME='value'` / `export NAME=value` lines.
pub fn read_env_file(path: &Path) -> Result<HashMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut vars = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("export ") else {
            continue;
        };
        let Some((k, v)) = rest.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('\'').trim_matches('"');
        vars.insert(k.trim().to_string(), v.to_string());
    }
    Ok(vars)
}

/// kube client configuration from a kubeconfig file (e.g. one written by
/// [`LiveCluster::service_account_kubeconfig`]).
pub async fn config_from_kubeconfig(path: &Path) -> Result<Config> {
    let kc = Kubeconfig::read_from(path)?;
    let mut cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    cfg.read_timeout = Some(Duration::from_secs(295));
    Ok(cfg)
}

/// A kube client from a kubeconfig file.
pub async fn client_from_kubeconfig(path: &Path) -> Result<Client> {
    Ok(Client::try_from(config_from_kubeconfig(path).await?)?)
}

/// The user name the apiserver gives ServiceAccount `namespace/name`.
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// One API request from the apiserver's audit log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditRequest {
    /// Unique per request; a watch's ResponseStarted and ResponseComplete events share it.
    pub audit_id: String,
    /// Authenticated user name (`kspan-admin`, `system:serviceaccount:<ns>:<name>`, ...).
    pub user: String,
    /// Kubernetes verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, ...
    /// (for non-resource URLs the HTTP method in lower case).
    pub verb: String,
    /// Path and query as sent, e.g. `/api/v1/pods?resourceVersion=12&watch=true`.
    pub request_uri: String,
    pub user_agent: String,
    /// `objectRef.resource` (`pods`, `events`, ...), `None` for non-resource URLs.
    pub resource: Option<String>,
    /// `objectRef.namespace`, `None` for cluster-wide requests.
    pub namespace: Option<String>,
    /// The latest stage logged: `ResponseComplete`, or `ResponseStarted` while a
    /// watch (or other long-running request) is still open.
    pub stage: String,
    /// When the apiserver received the request (`requestReceivedTimestamp`, RFC 3339
    /// UTC with microseconds: sorts chronologically as text).
    pub timestamp: String,
    /// `stageTimestamp` of the latest stage logged.
    pub stage_timestamp: String,
    /// HTTP status of the response (200 for a watch that started), if logged.
    pub response_code: Option<u16>,
}

impl AuditRequest {
    pub fn is_watch(&self) -> bool {
        self.verb == "watch"
    }

    /// The request is finished (stage ResponseComplete).
    pub fn is_complete(&self) -> bool {
        self.stage == "ResponseComplete"
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditEventLine {
    #[serde(rename = "auditID")]
    audit_id: String,
    stage: String,
    #[serde(rename = "requestURI", default)]
    request_uri: String,
    #[serde(default)]
    verb: String,
    #[serde(default)]
    user: AuditUser,
    #[serde(default)]
    user_agent: String,
    #[serde(default)]
    object_ref: Option<AuditObjectRef>,
    #[serde(default)]
    response_status: Option<AuditStatus>,
    #[serde(default)]
    request_received_timestamp: String,
    #[serde(default)]
    stage_timestamp: String,
}

#[derive(serde::Deserialize, Default)]
struct AuditUser {
    #[serde(default)]
    username: String,
}

#[derive(serde::Deserialize)]
struct AuditObjectRef {
    resource: Option<String>,
    namespace: Option<String>,
}

#[derive(serde::Deserialize)]
struct AuditStatus {
    code: Option<u16>,
}

/// Parses the apiserver's JSON-lines audit log (`audit.k8s.io/v1` Events) into one
/// [`AuditRequest`] per request (by `auditID`), oldest first; only requests of `user`
/// when given.
///
/// Counted stages: `ResponseComplete`, and `ResponseStarted`, which only long-running
/// requests (watches) have. A watch is logged at ResponseStarted when it opens and at
/// ResponseComplete when it ends; it is counted once, as soon as it started, with
/// `stage` the latest of the two seen. Other stages (`Panic`; `RequestReceived` is
/// omitted by the harness's policy) and unparsable lines (a line being written) are
/// skipped.
pub fn parse_audit_log(text: &str, user: Option<&str>) -> Vec<AuditRequest> {
    let mut out: Vec<AuditRequest> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for line in text.lines() {
        let Ok(ev) = serde_json::from_str::<AuditEventLine>(line) else {
            continue;
        };
        if ev.stage != "ResponseComplete" && ev.stage != "ResponseStarted" {
            continue;
        }
        if user.is_some_and(|u| u != ev.user.username) {
            continue;
        }
        let code = ev.response_status.and_then(|s| s.code);
        if let Some(&i) = by_id.get(&ev.audit_id) {
            let r = &mut out[i];
            if ev.stage == "ResponseComplete" {
                r.stage = ev.stage;
                r.stage_timestamp = ev.stage_timestamp;
                r.response_code = code.or(r.response_code);
            }
            continue;
        }
        by_id.insert(ev.audit_id.clone(), out.len());
        let (resource, namespace) = match ev.object_ref {
            Some(o) => (o.resource, o.namespace),
            None => (None, None),
        };
        out.push(AuditRequest {
            audit_id: ev.audit_id,
            user: ev.user.username,
            verb: ev.verb,
            request_uri: ev.request_uri,
            user_agent: ev.user_agent,
            resource,
            namespace,
            stage: ev.stage,
            timestamp: ev.request_received_timestamp,
            stage_timestamp: ev.stage_timestamp,
            response_code: code,
        });
    }
    // Stable: requests received in the same microsecond keep log order.
    out.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
    out
}

/// A running control plane. Stops its processes on drop (also when a test panics).
pub struct LiveCluster {
    dir: PathBuf,
    /// Removes the state dir on drop unless `KSPAN_KEEP_LIVE_DIR` is set.
    owns_dir: bool,
    /// Variables from `<dir>/env` (KUBECONFIG, KSPAN_APISERVER, KSPAN_ADMIN_TOKEN, PIDs...).
    pub env: HashMap<String, String>,
    pub startup: Duration,
    stopped: bool,
}

impl LiveCluster {
    /// Starts a control plane in a fresh temporary directory.
    pub fn start() -> Result<Self> {
        // Tests of one binary start side by side: the clock alone once gave two the same dir.
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let base = std::env::temp_dir();
        let unique = format!(
            "kspan-live-{}-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        let dir = base.join(unique);
        std::fs::create_dir_all(&dir)?;
        let mut c = Self::start_in(&dir)?;
        c.owns_dir = std::env::var_os("KSPAN_KEEP_LIVE_DIR").is_none();
        Ok(c)
    }

    /// Starts (or reuses, if already running) a control plane whose state lives in `dir`.
    pub fn start_in(dir: &Path) -> Result<Self> {
        let t0 = Instant::now();
        let dir_s = dir.to_str().context("non-UTF-8 dir")?.to_string();
        // Construct the guard first so a half-started plane is stopped too.
        let mut cluster = LiveCluster {
            dir: dir.to_path_buf(),
            owns_dir: false,
            env: HashMap::new(),
            startup: Duration::ZERO,
            stopped: false,
        };
        // The script's watchdog stops the plane if this process dies without
        // dropping the guard (killed test run).
        let owner = std::process::id().to_string();
        run_script(&["start", &dir_s, "--owner-pid", &owner])?;
        cluster.env = read_env_file(&dir.join("env"))?;
        cluster.startup = t0.elapsed();
        Ok(cluster)
    }

    /// `start()`, or `None` (skip) when the binaries are not installed outside CI.
    /// Panics under CI when they are not installed.
    pub fn start_or_skip(test: &str) -> Option<Self> {
        if !require_installed(test) {
            return None;
        }
        Some(Self::start().expect("starting the live control plane"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn kubeconfig_path(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    pub fn apiserver(&self) -> &str {
        self.env.get("KSPAN_APISERVER").map(String::as_str).unwrap_or_default()
    }

    pub fn admin_token(&self) -> &str {
        self.env.get("KSPAN_ADMIN_TOKEN").map(String::as_str).unwrap_or_default()
    }

    /// Path of the cached kubectl (v1.20.2).
    pub fn kubectl_path(&self) -> PathBuf {
        PathBuf::from(self.env.get("KSPAN_KUBECTL").cloned().unwrap_or_else(|| "kubectl".into()))
    }

    /// A `kubectl` command bound to this cluster's kubeconfig.
    pub fn kubectl(&self) -> Command {
        let mut c = Command::new(self.kubectl_path());
        c.env("KUBECONFIG", self.kubeconfig_path()).stdin(Stdio::null());
        c
    }

    /// kube client configuration from `<dir>/kubeconfig` (admin token, apiserver CA).
    pub async fn config(&self) -> Result<Config> {
        config_from_kubeconfig(&self.kubeconfig_path()).await
    }

    pub async fn client(&self) -> Result<Client> {
        Ok(Client::try_from(self.config().await?)?)
    }

    /// Path of the apiserver's audit log (JSON lines, level Metadata, no RequestReceived stage).
    pub fn audit_log_path(&self) -> PathBuf {
        self.logs_dir().join("audit.log")
    }

    /// The requests `user` made so far, from the apiserver's audit log, oldest first
    /// (see [`parse_audit_log`] for what is counted). `user` is the authenticated user
    /// name: `kspan-admin` for the admin kubeconfig, [`service_account_user`] for a
    /// ServiceAccount. The controllers and the scheduler use the admin kubeconfig too,
    /// so give the code under test its own identity ([`Self::service_account_kubeconfig`])
    /// or filter by user agent.
    ///
    /// The apiserver writes a request's event when it finishes handling it, which can
    /// be a moment after the client saw the response: poll with
    /// [`Self::wait_for_audit_requests`] rather than reading once.
    pub fn audit_requests(&self, user: &str) -> Vec<AuditRequest> {
        let text = std::fs::read_to_string(self.audit_log_path()).unwrap_or_default();
        parse_audit_log(&text, Some(user))
    }

    /// Polls [`Self::audit_requests`] every 100 ms until `done` accepts them; `Err` with
    /// the last snapshot after `timeout`.
    pub async fn wait_for_audit_requests(
        &self,
        user: &str,
        timeout: Duration,
        mut done: impl FnMut(&[AuditRequest]) -> bool,
    ) -> std::result::Result<Vec<AuditRequest>, Vec<AuditRequest>> {
        let t0 = Instant::now();
        loop {
            let reqs = self.audit_requests(user);
            if done(&reqs) {
                return Ok(reqs);
            }
            if t0.elapsed() > timeout {
                return Err(reqs);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs the cached kubectl with the admin kubeconfig; stdout, or an error with stderr.
    fn kubectl_stdout(&self, args: &[&str]) -> Result<String> {
        let out = self
            .kubectl()
            .args(args)
            .output()
            .with_context(|| format!("running kubectl {}", args.join(" ")))?;
        if !out.status.success() {
            bail!(
                "kubectl {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Writes `<dir>/<namespace>-<name>.kubeconfig`: the admin kubeconfig's server and
    /// CA with the bearer token of ServiceAccount `namespace/name`, so requests made
    /// with it appear in the audit log as user `system:serviceaccount:<ns>:<name>`.
    ///
    /// Creates the ServiceAccount when it does not exist (with no RBAC permissions:
    /// bind the roles the code under test needs yourself), then waits up to 60 s for
    /// the token controller (in kube-controller-manager) to create its
    /// `<name>-token-xxxxx` secret (Kubernetes 1.20 still auto-creates these; it takes
    /// well under a second). Blocking (runs kubectl); fine from a multi-threaded
    /// tokio test.
    pub fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> Result<PathBuf> {
        use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
        let t0 = Instant::now();
        let timeout = Duration::from_secs(60);
        if let Err(e) = self.kubectl_stdout(&["get", "serviceaccount", name, "-n", namespace]) {
            if !format!("{e:#}").contains("NotFound") {
                return Err(e);
            }
            if let Err(e) =
                self.kubectl_stdout(&["create", "serviceaccount", name, "-n", namespace])
            {
                if !format!("{e:#}").contains("AlreadyExists") {
                    return Err(e);
                }
            }
        }
        let token = loop {
            let sa: ServiceAccount = serde_json::from_str(&self.kubectl_stdout(&[
                "get",
                "serviceaccount",
                name,
                "-n",
                namespace,
                "-o",
                "json",
            ])?)
            .context("parsing the ServiceAccount")?;
            let uid = sa.metadata.uid.unwrap_or_default();
            // kubectl prints `kind: List`, which k8s_openapi::List<Secret> rejects.
            #[derive(serde::Deserialize)]
            struct Items {
                items: Vec<Secret>,
            }
            let secrets: Items = serde_json::from_str(&self.kubectl_stdout(&[
                "get",
                "secrets",
                "-n",
                namespace,
                "--field-selector",
                "type=kubernetes.io/service-account-token",
                "-o",
                "json",
            ])?)
            .context("parsing the token secrets")?;
            let token = secrets.items.into_iter().find_map(|s| {
                let ann = s.metadata.annotations.unwrap_or_default();
                let ours = ann.get("kubernetes.io/service-account.name").map(String::as_str)
                    == Some(name)
                    && ann.get("kubernetes.io/service-account.uid") == Some(&uid);
                let token = s.data.unwrap_or_default().remove("token")?;
                (ours && !token.0.is_empty()).then_some(token.0)
            });
            if let Some(t) = token {
                break String::from_utf8(t).context("token is not UTF-8")?;
            }
            if t0.elapsed() > timeout {
                bail!(
                    "no token secret for service account {namespace}/{name} after {timeout:?} \
                     (is the token controller running? kube-controller-manager log tail:\n{})",
                    self.log_tail("kube-controller-manager", 10)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };

        let admin = Kubeconfig::read_from(self.kubeconfig_path())?;
        let cluster = admin
            .clusters
            .first()
            .and_then(|c| c.cluster.clone())
            .context("no cluster in the admin kubeconfig")?;
        let server = cluster.server.context("no server in the admin kubeconfig")?;
        let ca = cluster
            .certificate_authority_data
            .context("no certificate-authority-data in the admin kubeconfig")?;
        let user = format!("{namespace}-{name}");
        let text = format!(
            r#"apiVersion: v1
kind: Config
clusters:
- name: kspan-live
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: {user}
  user:
    token: "{token}"
contexts:
- name: {user}
  context:
    cluster: kspan-live
    user: {user}
    namespace: {namespace}
current-context: {user}
"#
        );
        let path = self.dir.join(format!("{namespace}-{name}.kubeconfig"));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(path)
    }

    /// The tail of one component's log (`etcd`, `kube-apiserver`, ...), for failure messages.
    pub fn log_tail(&self, component: &str, lines: usize) -> String {
        let p = self.logs_dir().join(format!("{component}.log"));
        match std::fs::read_to_string(&p) {
            Ok(t) => {
                let v: Vec<&str> = t.lines().collect();
                v[v.len().saturating_sub(lines)..].join("\n")
            }
            Err(e) => format!("({}: {e})", p.display()),
        }
    }

    /// Stops every process started for this cluster (idempotent).
    pub fn stop(&mut self) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let dir_s = self.dir.to_str().context("non-UTF-8 dir")?.to_string();
        run_script(&["stop", &dir_s])
    }
}

impl Drop for LiveCluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("warning: stopping the live cluster: {e:#}");
        }
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("live cluster state kept in {}", self.dir.display());
        }
    }
}

/// An OTLP receiver (rotel-agent) printing every received span to `<dir>/rotel.log`.
pub struct LiveReceiver {
    dir: PathBuf,
    pub env: HashMap<String, String>,
    stopped: bool,
}

impl LiveReceiver {
    pub fn start_in(dir: &Path) -> Result<Self> {
        let dir_s = dir.to_str().context("non-UTF-8 dir")?.to_string();
        let mut r = LiveReceiver { dir: dir.to_path_buf(), env: HashMap::new(), stopped: false };
        let owner = std::process::id().to_string();
        run_script(&["receiver", &dir_s, "--owner-pid", &owner])?;
        r.env = read_env_file(&dir.join("receiver.env"))?;
        Ok(r)
    }

    /// e.g. `http://127.0.0.1:43171`
    pub fn grpc_endpoint(&self) -> &str {
        self.env.get("KSPAN_OTLP_GRPC_ENDPOINT").map(String::as_str).unwrap_or_default()
    }

    pub fn http_endpoint(&self) -> &str {
        self.env.get("KSPAN_OTLP_HTTP_ENDPOINT").map(String::as_str).unwrap_or_default()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("rotel.log")
    }

    /// Current content of the receiver's output.
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn stop(&mut self) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let dir_s = self.dir.to_str().context("non-UTF-8 dir")?.to_string();
        run_script(&["stop-receiver", &dir_s])
    }
}

impl Drop for LiveReceiver {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("warning: stopping the receiver: {e:#}");
        }
    }
}

/// nginx terminating TLS in front of the [`LiveReceiver`] of the same dir
/// (`scripts/live-env.sh tls-proxy`): an `ssl http2` server passing OTLP/gRPC to the
/// receiver (`grpc_pass`), an `ssl` server (HTTP/1.1 and HTTP/2) passing OTLP/HTTP
/// (`proxy_pass`), both with a certificate for 127.0.0.1/localhost from a test CA
/// ([`Self::ca_file`]). Every request is logged as one JSON object
/// ([`Self::access_log`]), with the `x-scope-orgid` and `authorization` headers.
/// Stops nginx on drop.
pub struct TlsProxy {
    dir: PathBuf,
    /// Variables from `<dir>/tls-proxy.env`.
    pub env: HashMap<String, String>,
    stopped: bool,
}

impl TlsProxy {
    /// Starts the proxy for the receiver already running in `dir` (or reuses a running one).
    pub fn start_in(dir: &Path) -> Result<Self> {
        let dir_s = dir.to_str().context("non-UTF-8 dir")?.to_string();
        let mut p = TlsProxy { dir: dir.to_path_buf(), env: HashMap::new(), stopped: false };
        let owner = std::process::id().to_string();
        run_script(&["tls-proxy", &dir_s, "--owner-pid", &owner])?;
        p.env = read_env_file(&dir.join("tls-proxy.env"))?;
        Ok(p)
    }

    fn var(&self, k: &str) -> &str {
        self.env.get(k).map(String::as_str).unwrap_or_default()
    }

    /// PEM file of the test CA that signed the proxy's certificate.
    pub fn ca_file(&self) -> PathBuf {
        PathBuf::from(self.var("KSPAN_TLS_CA_FILE"))
    }

    /// Content of [`Self::ca_file`].
    pub fn ca_pem(&self) -> Result<String> {
        let p = self.ca_file();
        std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
    }

    /// OTLP/gRPC over TLS, e.g. `https://127.0.0.1:40123`.
    pub fn grpc_endpoint(&self) -> &str {
        self.var("KSPAN_TLS_GRPC_ENDPOINT")
    }

    /// OTLP/HTTP over TLS (base URL, no `/v1/traces`), e.g. `https://127.0.0.1:40124`.
    pub fn http_endpoint(&self) -> &str {
        self.var("KSPAN_TLS_HTTP_ENDPOINT")
    }

    pub fn access_log_path(&self) -> PathBuf {
        PathBuf::from(self.var("KSPAN_TLS_ACCESS_LOG"))
    }

    /// nginx's error log (TLS handshake failures, upstream errors).
    pub fn error_log_path(&self) -> PathBuf {
        PathBuf::from(self.var("KSPAN_TLS_ERROR_LOG"))
    }

    /// The requests so far, oldest first, one JSON object each: `time`, `msec`,
    /// `listener` (`grpc` | `http`), `method`, `path`, `request_uri`, `protocol`
    /// (`HTTP/2.0`, `HTTP/1.1`), `status` (number), `content_type`, `request_length`,
    /// `bytes_sent`, `request_time`, `upstream_status`, `grpc_status`, `x_scope_orgid`,
    /// `authorization`, `user_agent`, `ssl_protocol`, `alpn`. An absent header is `""`.
    /// nginx writes a line when the request is done: poll with
    /// [`Self::wait_for_access_log`].
    pub fn access_log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.access_log_path())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Polls [`Self::access_log`] every 100 ms until `done` accepts it; `Err` with the
    /// last snapshot after `timeout`.
    pub async fn wait_for_access_log(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&[serde_json::Value]) -> bool,
    ) -> std::result::Result<Vec<serde_json::Value>, Vec<serde_json::Value>> {
        let t0 = Instant::now();
        loop {
            let lines = self.access_log();
            if done(&lines) {
                return Ok(lines);
            }
            if t0.elapsed() > timeout {
                return Err(lines);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn stop(&mut self) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let dir_s = self.dir.to_str().context("non-UTF-8 dir")?.to_string();
        run_script(&["stop-tls-proxy", &dir_s])
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("warning: stopping the TLS proxy: {e:#}");
        }
    }
}

#[cfg(test)]
mod audit_tests {
    use super::*;

    // Shapes as written by kube-apiserver v1.20.2 (trimmed).
    const LOG: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseStarted","requestURI":"/api/v1/pods?watch=true","verb":"watch","user":{"username":"system:serviceaccount:default:kspan"},"userAgent":"kspan/0.1","objectRef":{"resource":"pods","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-23T01:02:11.000002Z","stageTimestamp":"2026-11-23T01:02:11.000100Z"}
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a0","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/events?limit=500","verb":"list","user":{"username":"system:serviceaccount:default:kspan"},"userAgent":"kspan/0.1","objectRef":{"resource":"events","namespace":"default","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-23T01:02:11.000001Z","stageTimestamp":"2026-11-23T01:02:11.000200Z"}
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"b0","stage":"ResponseComplete","requestURI":"/readyz","verb":"get","user":{"username":"kspan-admin"},"userAgent":"curl/7.88.1","responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-23T01:02:11.000003Z","stageTimestamp":"2026-11-23T01:02:11.000004Z"}
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/pods?watch=true","verb":"watch","user":{"username":"system:serviceaccount:default:kspan"},"userAgent":"kspan/0.1","objectRef":{"resource":"pods","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-23T01:02:11.000002Z","stageTimestamp":"2026-11-23T01:07:11.000000Z"}
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a2","stage":"Panic","requestURI":"/x","verb":"get","user":{"username":"system:serviceaccount:default:kspan"},"requestReceivedTimestamp":"2026-11-23T01:02:12Z","stageTimestamp":"2026-11-23T01:02:12Z"}
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Meta"#;

    #[test]
    fn one_request_per_audit_id_watch_counted_once() {
        let user = service_account_user("default", "kspan");
        let reqs = parse_audit_log(LOG, Some(&user));
        let ids: Vec<&str> = reqs.iter().map(|r| r.audit_id.as_str()).collect();
        assert_eq!(ids, ["a0", "a1"]);
        assert_eq!(reqs[0].verb, "list");
        assert_eq!(reqs[0].namespace.as_deref(), Some("default"));
        assert_eq!(reqs[0].resource.as_deref(), Some("events"));
        assert!(reqs[1].is_watch() && reqs[1].is_complete());
        assert_eq!(reqs[1].stage_timestamp, "2026-11-23T01:07:11.000000Z");
        assert_eq!(reqs[1].user_agent, "kspan/0.1");
        assert_eq!(reqs[1].response_code, Some(200));
        // An open watch (only ResponseStarted so far) is counted too.
        let open = parse_audit_log(LOG.lines().next().unwrap(), None);
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].stage, "ResponseStarted");
        assert_eq!(parse_audit_log(LOG, None).len(), 3);
    }
}
