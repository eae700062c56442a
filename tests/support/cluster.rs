//! A real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler) for live tests, started and stopped through `scripts/live-env.sh`.
//!
//! The binaries are built once by `scripts/live-env.sh install` and cached under
//! `${KSPAN_CACHE:-$HOME/.cache/kspan-rs}`. When they are missing, [`LiveCluster::start_or_skip`]
//! fails the test under `CI=true` and returns `None` (skip) otherwise.

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
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join("live-env.sh")
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
        let base = std::env::temp_dir();
        let unique = format!(
            "kspan-live-{}-{}",
            std::process::id(),
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
        self.env
            .get("KSPAN_APISERVER")
            .map(String::as_str)
            .unwrap_or_default()
    }

    pub fn admin_token(&self) -> &str {
        self.env
            .get("KSPAN_ADMIN_TOKEN")
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// Path of the cached kubectl (v1.20.2).
    pub fn kubectl_path(&self) -> PathBuf {
        PathBuf::from(
            self.env
                .get("KSPAN_KUBECTL")
                .cloned()
                .unwrap_or_else(|| "kubectl".into()),
        )
    }

    /// A `kubectl` command bound to this cluster's kubeconfig.
    pub fn kubectl(&self) -> Command {
        let mut c = Command::new(self.kubectl_path());
        c.env("KUBECONFIG", self.kubeconfig_path())
            .stdin(Stdio::null());
        c
    }

    /// kube client configuration from `<dir>/kubeconfig` (admin token, apiserver CA).
    pub async fn config(&self) -> Result<Config> {
        let kc = Kubeconfig::read_from(self.kubeconfig_path())?;
        let mut cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
        cfg.read_timeout = Some(Duration::from_secs(295));
        Ok(cfg)
    }

    pub async fn client(&self) -> Result<Client> {
        Ok(Client::try_from(self.config().await?)?)
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
        let mut r = LiveReceiver {
            dir: dir.to_path_buf(),
            env: HashMap::new(),
            stopped: false,
        };
        let owner = std::process::id().to_string();
        run_script(&["receiver", &dir_s, "--owner-pid", &owner])?;
        r.env = read_env_file(&dir.join("receiver.env"))?;
        Ok(r)
    }

    /// e.g. `http://127.0.0.1:43171`
    pub fn grpc_endpoint(&self) -> &str {
        self.env
            .get("KSPAN_OTLP_GRPC_ENDPOINT")
            .map(String::as_str)
            .unwrap_or_default()
    }

    pub fn http_endpoint(&self) -> &str {
        self.env
            .get("KSPAN_OTLP_HTTP_ENDPOINT")
            .map(String::as_str)
            .unwrap_or_default()
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
