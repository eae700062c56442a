//! `kspan run` as a child process of a live test, and what it serves.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::rotel::{self, Span};
use crate::support::LiveReceiver;

/// `kspan run` as a child process; SIGTERM (graceful flush) when stopped or dropped.
pub struct Kspan {
    child: Child,
    pub log: PathBuf,
}

impl Kspan {
    pub fn start(dir: &Path, args: &[&str]) -> Kspan {
        Kspan::start_named(dir, "kspan", args)
    }

    /// Like [`Kspan::start`], logging to `<dir>/<name>.log` (several side by side).
    pub fn start_named(dir: &Path, name: &str, args: &[&str]) -> Kspan {
        Kspan::start_logging(dir, name, args, "info")
    }

    /// Like [`Kspan::start_named`], with `RUST_LOG=<filter>`.
    pub fn start_logging(dir: &Path, name: &str, args: &[&str], filter: &str) -> Kspan {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_kspan"))
            .arg("run")
            .args(["--metrics-addr", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", filter)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("kspan starts");
        Kspan { child, log }
    }

    /// The address of /metrics, /healthz and /readyz (from the log).
    pub fn metrics_address(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let line = log.lines().find(|l| l.contains("serving /metrics")).expect("metrics served");
        let at = line.find("address=").expect("address logged") + "address=".len();
        let rest = &line[at..];
        let clean: String =
            rest.chars().filter(|c| c.is_ascii_digit() || *c == '.' || *c == ':').collect();
        clean.trim_end_matches(':').to_string()
    }

    /// GET a path of the metrics server: (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&self.metrics_address(), path)
    }

    /// A value of /metrics, e.g. `kspan_leader`; None while it is not served yet.
    pub fn served_metric(&self, name: &str) -> Option<f64> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        if !log.contains("serving /metrics") {
            return None;
        }
        let (_, body) = self.get("/metrics");
        body.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }

    /// SIGKILL: nothing is flushed, no lease released.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the process, from /proc (KiB).
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// One metric from /metrics, summed over its label sets (0 when absent).
    pub fn metric(&self, name: &str) -> f64 {
        metric(&self.get("/metrics").1, name)
    }

    /// [`Self::stop`], printing kspan-rs' summary (its last log line); then every span
    /// `receiver` got.
    pub fn stop_and_read(&mut self, receiver: &LiveReceiver) -> Vec<Span> {
        println!("{}", self.stop().lines().last().unwrap_or_default());
        rotel::parse(&receiver.output())
    }

    /// SIGTERM, then wait: what is pending must be delivered before exit.
    pub fn stop(&mut self) -> String {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "kspan exited with {status}");
                return std::fs::read_to_string(&self.log).unwrap_or_default();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("kspan did not exit within 30 s of SIGTERM");
    }
}

impl Drop for Kspan {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// A metric of a Prometheus text exposition, summed over its label sets (0 when absent).
/// GET `path` of kspan-rs' metrics server at `address` (`host:port`): (status, body).
pub fn http_get(address: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("metrics server reachable");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: kspan\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

pub fn metric(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with([' ', '{'])))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until every watcher has its initial list: activity after this is all seen.
pub fn wait_for_sync(kspan: &Kspan) {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(30) {
        if std::fs::read_to_string(&kspan.log).is_ok_and(|l| l.contains("initial lists synced")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "kspan did not sync within 30 s: {}",
        std::fs::read_to_string(&kspan.log).unwrap_or_default()
    );
}
