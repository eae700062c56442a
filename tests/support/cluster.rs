//! A real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler) for live tests, started and stopped through `scripts/live-env.sh`.
//!
//! The binaries are built once by `scripts/live-env.sh install` and cached under
//! `${KSPAN_CACHE:-$HOME/.cache/kspan-rs}`. When they are missing, [`LiveCluster::start_or_skip`]
//! fails the test under `CI=true` and returns `None` (skip) otherwise.
//!
//! Also here: the apiserver's audit log ([`LiveCluster::audit_requests`]) and kubeconfigs
//! for ServiceAccounts ([`LiveCluster::service_account_kubeconfig`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::audit::{parse_audit_log, AuditRequest};
use super::script::{require_installed, Started};

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

/// A running control plane. Stops its processes on drop (also when a test panics).
pub struct LiveCluster {
    dir: PathBuf,
    started: Started,
    /// Removes the state dir on drop unless `KSPAN_KEEP_LIVE_DIR` is set.
    owns_dir: bool,
    /// Variables from `<dir>/env` (KUBECONFIG, KSPAN_APISERVER, KSPAN_ADMIN_TOKEN, PIDs...).
    pub env: HashMap<String, String>,
    pub startup: Duration,
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
        let (started, env) = Started::start(dir, ["start", "stop"], "live cluster", "env", &[])?;
        Ok(LiveCluster {
            dir: dir.to_path_buf(),
            started,
            owns_dir: false,
            env,
            startup: t0.elapsed(),
        })
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

    /// The Kubernetes release running (`v1.37.2`, `v1.20.2`: `KSPAN_K8S_VERSION` or
    /// the script's default).
    pub fn k8s_version(&self) -> &str {
        self.env.get("KSPAN_K8S_VERSION").map(String::as_str).unwrap_or_default()
    }

    /// The minor version of that release (20 for v1.20.2).
    pub fn k8s_minor(&self) -> u32 {
        self.k8s_version().split('.').nth(1).and_then(|m| m.parse().ok()).unwrap_or_default()
    }

    /// Path of the cached kubectl of that release.
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
    /// bind the roles the code under test needs yourself) and a token secret for it
    /// (`<name>-kspan-token`: since 1.24 none is made by itself; 1.20 makes
    /// `<name>-token-xxxxx` too), then waits up to 60 s for the token controller (in
    /// kube-controller-manager) to fill one (well under a second). Blocking (runs
    /// kubectl); fine from a multi-threaded tokio test.
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
        let secret = self.dir.join(format!("{namespace}-{name}-token.yaml"));
        std::fs::write(
            &secret,
            format!(
                "apiVersion: v1\nkind: Secret\ntype: kubernetes.io/service-account-token\n\
                 metadata:\n  name: {name}-kspan-token\n  namespace: {namespace}\n  \
                 annotations:\n    kubernetes.io/service-account.name: {name}\n"
            ),
        )?;
        self.kubectl_stdout(&["apply", "-f", secret.to_str().context("non-UTF-8 dir")?])?;
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
        self.started.stop()
    }
}

impl Drop for LiveCluster {
    fn drop(&mut self) {
        // Before the dir goes (the guard's own drop then has nothing left to do).
        self.started.stop_or_warn();
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("live cluster state kept in {}", self.dir.display());
        }
    }
}
