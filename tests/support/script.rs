//! `scripts/live-env.sh`, the live environment's one entry point: whether it is
//! installed (skip or fail), running a subcommand, reading the env files it writes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

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
         (builds the Kubernetes releases it runs once, v1.20.2 and the current one)"
    );
    if in_ci() {
        panic!("{msg}");
    }
    eprintln!("SKIPPED {msg}");
    false
}

pub fn run_script(args: &[&str]) -> Result<()> {
    run_script_with(args, &[])
}

/// `run_script` with variables set for the script only.
pub fn run_script_with(args: &[&str], vars: &[(&str, &str)]) -> Result<()> {
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .envs(vars.iter().copied())
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

/// What a start subcommand of the script started for a dir (`start`, `receiver`,
/// `tls-proxy`), with the subcommand that stops it: stopped once, by [`Self::stop`]
/// or on drop (also while a failing test unwinds). If the test process dies first,
/// the script's watchdog stops it.
pub struct Started {
    dir: PathBuf,
    stop: &'static str,
    /// For warnings: "live cluster", "receiver", ...
    what: &'static str,
    stopped: bool,
}

impl Started {
    /// Runs `live-env.sh <start> <dir> --owner-pid <this process>` with `vars` set for
    /// the script; returns the guard and the variables of `<dir>/<env_file>`.
    pub fn start(
        dir: &Path,
        commands: [&'static str; 2],
        what: &'static str,
        env_file: &str,
        vars: &[(&str, &str)],
    ) -> Result<(Self, HashMap<String, String>)> {
        Self::start_with_args(dir, commands, what, env_file, &[], vars)
    }

    /// [`Self::start`] with `args` after `<dir>` (`collector <dir> <config> --to ...`).
    pub fn start_with_args(
        dir: &Path,
        [start, stop]: [&'static str; 2],
        what: &'static str,
        env_file: &str,
        args: &[&str],
        vars: &[(&str, &str)],
    ) -> Result<(Self, HashMap<String, String>)> {
        let dir_s = dir.to_str().context("non-UTF-8 dir")?;
        // The guard first: a half-started piece is stopped too.
        let started = Started { dir: dir.to_path_buf(), stop, what, stopped: false };
        let owner = std::process::id().to_string();
        let mut command = vec![start, dir_s];
        command.extend_from_slice(args);
        command.extend_from_slice(&["--owner-pid", &owner]);
        run_script_with(&command, vars)?;
        let env = read_env_file(&dir.join(env_file))?;
        Ok((started, env))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops what was started (idempotent).
    pub fn stop(&mut self) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let dir_s = self.dir.to_str().context("non-UTF-8 dir")?.to_string();
        run_script(&[self.stop, &dir_s])
    }

    /// [`Self::stop`], a failure printed as a warning (for `Drop`).
    pub fn stop_or_warn(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("warning: stopping the {}: {e:#}", self.what);
        }
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        self.stop_or_warn();
    }
}
