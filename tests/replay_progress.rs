//! Progress on a long replay: drawn on a terminal (a pty, through util-linux's
//! `script`), never when stderr is piped or under CI, and cleared before the summary.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const KSPAN: &str = env!("CARGO_BIN_EXE_kspan");

/// Input that takes well over a second to replay: a capture of about 170 MB
/// (about a second on its own on a quiet machine: too close), given four times
/// under four names (hard links: no more disk).
fn long_input(dir: &Path) -> Vec<std::path::PathBuf> {
    let capture = dir.join("long-1.jsonl");
    let out = Command::new(KSPAN)
        .args(["synth", "--pods", "8000", "--out", capture.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "synth: {}", String::from_utf8_lossy(&out.stderr));
    let mut input = vec![capture.clone()];
    for i in 2..=4 {
        let link = dir.join(format!("long-{i}.jsonl"));
        std::fs::hard_link(&capture, &link).unwrap();
        input.push(link);
    }
    input
}

fn replay_args(input: &[std::path::PathBuf]) -> Vec<String> {
    let paths = input.iter().map(|p| p.to_str().unwrap().to_string());
    std::iter::once("replay".to_string())
        .chain(paths)
        .chain(["--out", "/dev/null"].map(String::from))
        .collect()
}

/// `kspan replay` with stderr (and stdout) on a pty: what the terminal got.
fn replay_on_terminal(input: &[std::path::PathBuf], ci: Option<&str>) -> (Output, Duration) {
    let command = std::iter::once(KSPAN.to_string())
        .chain(replay_args(input))
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut script = Command::new("script");
    script.args(["--quiet", "--return", "--command", &command, "/dev/null"]).env_remove("CI");
    if let Some(ci) = ci {
        script.env("CI", ci);
    }
    let t0 = Instant::now();
    let out = script.output().expect("util-linux's script runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    (out, t0.elapsed())
}

#[test]
fn progress_shows_on_a_terminal_only() {
    let dir = tempdir();
    let input = long_input(&dir);

    let t0 = Instant::now();
    let piped = Command::new(KSPAN).args(replay_args(&input)).env_remove("CI").output().unwrap();
    let took = t0.elapsed();
    assert!(piped.status.success());
    let stderr = String::from_utf8(piped.stderr).unwrap();
    assert!(took > Duration::from_secs(2), "replay too short ({took:?}) to show progress surely");
    assert!(stderr.starts_with("replayed "), "piped stderr has the summary alone: {stderr:?}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");

    let (terminal, took) = replay_on_terminal(&input, None);
    let seen = String::from_utf8_lossy(&terminal.stdout);
    assert!(took > Duration::from_secs(1));
    let size: u64 = input.iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
    let total = format!(" / {}", indicatif_bytes(size));
    for part in [total.as_str(), " Events/s · ", " traces"] {
        assert!(seen.contains(part), "no {part:?} on the terminal: {seen:?}");
    }
    // Erased (ESC [2K) after its last drawing, before the summary.
    let summary = seen.find("replayed ").expect("the summary");
    let last = seen.rfind("Events/s").unwrap();
    assert!(last < summary && seen[last..summary].contains("\x1b[2K"), "{:?}", &seen[last..]);

    let (ci, _) = replay_on_terminal(&input, Some("true"));
    let seen = String::from_utf8_lossy(&ci.stdout);
    assert!(seen.starts_with("replayed ") && !seen.contains("Events/s"), "under CI: {seen:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The size as the bar writes it (binary units, two decimals).
fn indicatif_bytes(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1u64 << 20) as f64)
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kspan-progress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
