//! Progress of a long replay on stderr: bytes read of the total, Events/s, traces
//! emitted, time left. Only on a terminal, never under CI, and only once the replay
//! has run a second: a log, a pipe or a short replay gets the summary line alone.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use indicatif::{
    HumanBytes, HumanCount, HumanDuration, ProgressBar, ProgressDrawTarget, ProgressStyle,
};

/// How long a replay runs before it shows progress: a short one only flickers.
const QUIET_FOR: Duration = Duration::from_secs(1);

/// Where a replay is, as the bar shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub bytes_read: u64,
    pub bytes_total: u64,
    pub events: u64,
    pub traces: u64,
}

/// The time left at the rate bytes were read so far; none before anything is
/// read, or when the total is unknown or reached.
pub fn eta(bytes_read: u64, bytes_total: u64, elapsed: Duration) -> Option<Duration> {
    if bytes_read == 0 || bytes_read >= bytes_total {
        return None;
    }
    let left = (bytes_total - bytes_read) as f64 / bytes_read as f64;
    Some(elapsed.mul_f64(left))
}

/// `count` over `elapsed`, per second (0 before any time has passed).
pub fn per_second(count: u64, elapsed: Duration) -> u64 {
    match elapsed.as_secs_f64() {
        s if s > 0.0 => (count as f64 / s) as u64,
        _ => 0,
    }
}

/// The progress line: `1.2 GiB / 3.4 GiB · 250,000 Events/s · 1,234 traces · ETA 40 seconds`.
pub fn line(counts: Counts, elapsed: Duration) -> String {
    let mut line = format!(
        "{} / {} · {} Events/s · {} traces",
        HumanBytes(counts.bytes_read),
        HumanBytes(counts.bytes_total),
        HumanCount(per_second(counts.events, elapsed)),
        HumanCount(counts.traces),
    );
    if let Some(left) = eta(counts.bytes_read, counts.bytes_total, elapsed) {
        line += &format!(" · ETA {}", HumanDuration(left));
    }
    line
}

/// Whether progress may be drawn: stderr is a terminal and this is no CI run.
pub fn wanted() -> bool {
    let ci = std::env::var("CI")
        .is_ok_and(|v| !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false")));
    !ci && std::io::stderr().is_terminal()
}

/// Shared by the reading and the correlating (one thread) and the delivery, which
/// print through [`Progress::suspend`] so that no line lands inside the bar.
pub struct Progress {
    wanted: bool,
    started: Instant,
    bytes_total: u64,
    events: AtomicU64,
    traces: AtomicU64,
    /// Made on the first update after [`QUIET_FOR`].
    bar: OnceLock<ProgressBar>,
}

impl Progress {
    pub fn new(bytes_total: u64, wanted: bool) -> Progress {
        Progress {
            wanted,
            started: Instant::now(),
            bytes_total,
            events: AtomicU64::new(0),
            traces: AtomicU64::new(0),
            bar: OnceLock::new(),
        }
    }

    pub fn event(&self) {
        self.events.fetch_add(1, Ordering::Relaxed);
    }

    pub fn traces(&self, traces: u64) {
        self.traces.store(traces, Ordering::Relaxed);
    }

    /// Redraws (indicatif limits how often) with `bytes_read` read so far.
    pub fn update(&self, bytes_read: u64) {
        let elapsed = self.started.elapsed();
        if !self.wanted || elapsed < QUIET_FOR {
            return;
        }
        let bar = self.bar.get_or_init(|| {
            let bar =
                ProgressBar::with_draw_target(Some(self.bytes_total), ProgressDrawTarget::stderr());
            // Cut to the terminal's width: a wrapped line is redrawn as two.
            bar.set_style(
                ProgressStyle::with_template("{bar:20} {wide_msg}").expect("a valid template"),
            );
            bar
        });
        let counts = Counts {
            bytes_read,
            bytes_total: self.bytes_total,
            events: self.events.load(Ordering::Relaxed),
            traces: self.traces.load(Ordering::Relaxed),
        };
        bar.set_position(bytes_read);
        bar.set_message(line(counts, elapsed));
    }

    /// Runs `print` with the bar, if any, out of the way.
    pub fn suspend<R>(&self, print: impl FnOnce() -> R) -> R {
        match self.bar.get() {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    /// Clears the bar: the summary follows.
    pub fn finish(&self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_is_the_time_left_at_the_rate_so_far() {
        let ten = Duration::from_secs(10);
        assert_eq!(eta(250, 1000, ten), Some(Duration::from_secs(30)));
        assert_eq!(eta(999, 1000, ten), Some(ten.mul_f64(1.0 / 999.0)));
        assert_eq!(eta(0, 1000, ten), None, "nothing read: no rate yet");
        assert_eq!(eta(1000, 1000, ten), None, "all read");
        assert_eq!(eta(0, 0, ten), None, "nothing to read (the bundled example)");
        // A file that grew while it was read.
        assert_eq!(eta(1200, 1000, ten), None);
    }

    #[test]
    fn rates_are_per_second() {
        assert_eq!(per_second(500_000, Duration::from_secs(2)), 250_000);
        assert_eq!(per_second(3, Duration::from_millis(1500)), 2);
        assert_eq!(per_second(10, Duration::ZERO), 0);
    }

    #[test]
    fn the_line_says_bytes_rate_traces_and_eta() {
        let counts =
            Counts { bytes_read: 1 << 30, bytes_total: 4 << 30, events: 600_000, traces: 1234 };
        assert_eq!(
            line(counts, Duration::from_secs(20)),
            "1.00 GiB / 4.00 GiB · 30,000 Events/s · 1,234 traces · ETA 60 seconds"
        );
        let done = Counts { bytes_read: 4 << 30, ..counts };
        assert_eq!(
            line(done, Duration::from_secs(80)),
            "4.00 GiB / 4.00 GiB · 7,500 Events/s · 1,234 traces"
        );
    }

    /// Not wanted (a pipe, CI): nothing is drawn, however long the replay.
    #[test]
    fn unwanted_progress_never_draws() {
        let progress =
            Progress { started: Instant::now() - 2 * QUIET_FOR, ..Progress::new(100, false) };
        progress.update(50);
        assert!(progress.bar.get().is_none());
    }

    /// Wanted: the first second draws nothing; after it, a bar at the bytes read.
    #[test]
    fn progress_waits_a_second() {
        let progress = Progress::new(100, true);
        progress.update(10);
        assert!(progress.bar.get().is_none(), "a short replay shows nothing");
        let progress = Progress { started: Instant::now() - 2 * QUIET_FOR, ..progress };
        progress.update(50);
        assert_eq!(progress.bar.get().map(ProgressBar::position), Some(50));
        progress.finish();
    }
}
