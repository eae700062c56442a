//! Benchmarks of the replay path on synthetic captures (BENCHMARKS.md has the figures).
//!
//! ```sh
//! kspan synth --pods 150000 --out /tmp/c.jsonl                          # a capture
//! cargo bench --bench replay -- compare /tmp/c.jsonl --runs 5            # ingest vs full, one process
//! cargo bench --bench replay -- full /tmp/c.jsonl                        # one full run
//! cargo bench --bench replay -- ingest /tmp/c.jsonl                      # one ingest run
//! cargo bench --bench replay -- stream /tmp/c.jsonl                      # line by line, as live
//! ```
//!
//! - ingest: `kspan::source::replay::load` (read, parse, decode, order), nothing else;
//! - full: the same, then `kspan::replay::correlate` (what `kspan replay` runs) and
//!   each finished batch encoded as an OTLP ExportTraceServiceRequest with prost
//!   (what the OTLP exporter sends), the bytes discarded;
//! - stream: one line at a time through the same decoder into the correlator and the
//!   encoder, nothing kept: the memory a live `kspan run` needs for this activity.
//!
//! Each run prints one line of `key=value` figures; `scripts/bench` collects them.
//! Without arguments (as `cargo test --all-targets` runs it) it checks itself on a
//! small capture and exits.

use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use kspan::correlate::{Config, Correlator};
use kspan::observe::{Observation, Observed};
use kspan::sink::convert::ResourceOptions;
use kspan::sink::json::request;
use kspan::source::files::{read_text, ReadOutcome};
use kspan::source::replay::{self, Replay};
use kspan::span::SpanDraft;
use kspan::synth;
use prost::Message;

#[derive(Parser)]
#[command(name = "replay-bench", about = "Benchmarks of kspan's replay path")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest and full pipeline on the same input, alternately, `runs` times each.
    Compare {
        file: PathBuf,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// One ingest run (read, parse, decode, order).
    Ingest { file: PathBuf },
    /// One full run (ingest, correlate, OTLP protobuf encode).
    Full { file: PathBuf },
    /// One streaming run: line by line into the correlator and the encoder.
    Stream {
        file: PathBuf,
        /// Print the resident memory every this many lines.
        #[arg(long, default_value_t = 0)]
        every: u64,
    },
}

/// VmHWM (peak) and VmRSS (now) of this process, in KiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn events_in(input: &Replay) -> usize {
    input.observations.iter().filter(|o| matches!(o.what, Observed::Event(_))).count()
}

struct Figures {
    ingest: Duration,
    correlate: Duration,
    encode: Duration,
    events: usize,
    observations: usize,
    spans: usize,
    bytes: usize,
    errors: usize,
}

impl Figures {
    fn total(&self) -> Duration {
        self.ingest + self.correlate + self.encode
    }
}

fn encode(batch: &[SpanDraft], options: &ResourceOptions) -> usize {
    black_box(request(batch, options).encode_to_vec()).len()
}

fn ingest(file: &Path) -> (Replay, Duration) {
    let started = Instant::now();
    let input = replay::load(&[file.to_path_buf()]);
    (input, started.elapsed())
}

fn full(file: &Path) -> Figures {
    let (input, ingest) = ingest(file);
    let started = Instant::now();
    let (batches, correlator) = kspan::replay::correlate(&input, Config::default());
    let correlate = started.elapsed();
    let options = ResourceOptions::default();
    let started = Instant::now();
    let bytes = batches.iter().map(|b| encode(b, &options)).sum();
    let encode = started.elapsed();
    Figures {
        ingest,
        correlate,
        encode,
        events: events_in(&input),
        observations: input.observations.len(),
        spans: correlator.stats().spans as usize,
        bytes,
        errors: input.errors.len(),
    }
}

fn print_full(f: &Figures) {
    let (peak, _) = memory();
    println!(
        "mode=full seconds={:.3} ingest_s={:.3} correlate_s={:.3} encode_s={:.3} events={} observations={} spans={} otlp_bytes={} errors={} events_per_s={:.0} peak_rss_kib={peak}",
        f.total().as_secs_f64(),
        f.ingest.as_secs_f64(),
        f.correlate.as_secs_f64(),
        f.encode.as_secs_f64(),
        f.events,
        f.observations,
        f.spans,
        f.bytes,
        f.errors,
        f.events as f64 / f.total().as_secs_f64(),
    );
}

fn stream(file: &Path, every: u64) -> anyhow::Result<()> {
    let started = Instant::now();
    let reader = BufReader::with_capacity(1 << 20, std::fs::File::open(file)?);
    let mut correlator = Correlator::new(Config::default());
    let options = ResourceOptions::default();
    let (mut lines, mut events, mut errors, mut bytes) = (0u64, 0u64, 0usize, 0usize);
    for line in reader.lines() {
        let line = line?;
        lines += 1;
        let mut outcome = ReadOutcome::default();
        read_text(file, &line, false, &mut outcome);
        errors += outcome.errors.len();
        for item in outcome.items {
            let at = item.arrival.or(item.decoded.time).unwrap_or(0);
            if matches!(item.decoded.what, Observed::Event(_)) {
                events += 1;
            }
            let spans = correlator.ingest(Observation { at, what: item.decoded.what });
            if !spans.is_empty() {
                bytes += encode(&spans, &options);
            }
        }
        if every > 0 && lines % every == 0 {
            let (peak, now) = memory();
            println!(
                "mode=stream-progress lines={lines} events={events} rss_kib={now} peak_rss_kib={peak} tracked_objects={} open_episodes={} pending={}",
                correlator.tracked_objects(),
                correlator.open_episodes(),
                correlator.pending()
            );
        }
    }
    let last = correlator.finish();
    if !last.is_empty() {
        bytes += encode(&last, &options);
    }
    let seconds = started.elapsed().as_secs_f64();
    let (peak, now) = memory();
    println!(
        "mode=stream seconds={seconds:.3} lines={lines} events={events} spans={} otlp_bytes={bytes} errors={errors} events_per_s={:.0} rss_kib={now} peak_rss_kib={peak}",
        correlator.stats().spans,
        events as f64 / seconds,
    );
    Ok(())
}

fn stats(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (values[0], values[values.len() / 2], values[values.len() - 1])
}

fn compare(file: &Path, runs: usize) {
    let (mut ingests, mut fulls, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let mut events = 0;
    for run in 1..=runs.max(1) {
        let (input, took) = ingest(file);
        events = events_in(&input);
        drop(input);
        let f = full(file);
        let ratio = f.total().as_secs_f64() / took.as_secs_f64();
        println!(
            "mode=compare-run run={run} ingest_s={:.3} full_s={:.3} full_ingest_s={:.3} correlate_s={:.3} encode_s={:.3} ratio={ratio:.2} events={events}",
            took.as_secs_f64(),
            f.total().as_secs_f64(),
            f.ingest.as_secs_f64(),
            f.correlate.as_secs_f64(),
            f.encode.as_secs_f64(),
        );
        ingests.push(took.as_secs_f64());
        fulls.push(f.total().as_secs_f64());
        ratios.push(ratio);
    }
    let (i, f, r) = (stats(&mut ingests), stats(&mut fulls), stats(&mut ratios));
    println!(
        "mode=compare runs={runs} events={events} ingest_s_min={:.3} ingest_s_median={:.3} ingest_s_max={:.3} full_s_min={:.3} full_s_median={:.3} full_s_max={:.3} ratio_min={:.2} ratio_median={:.2} ratio_max={:.2}",
        i.0, i.1, i.2, f.0, f.1, f.2, r.0, r.1, r.2
    );
}

/// `cargo test --all-targets`: a small capture through every mode, zero errors.
fn self_check() -> anyhow::Result<()> {
    let file = std::env::temp_dir().join(format!("kspan-bench-check-{}.jsonl", std::process::id()));
    let config = synth::SynthConfig {
        pods: 240,
        pods_per_workload: 20,
        rollouts: 2,
        ..synth::SynthConfig::default()
    };
    let summary = synth::generate(&config, std::fs::File::create(&file)?)?;
    let f = full(&file);
    print_full(&f);
    anyhow::ensure!(f.errors == 0, "the synthetic capture must replay without errors");
    anyhow::ensure!(f.events as u64 == summary.events, "every Event line is an observation");
    anyhow::ensure!(f.spans > 0 && f.bytes > 0, "spans were built and encoded");
    stream(&file, 0)?;
    compare(&file, 1);
    std::fs::remove_file(&file)?;
    println!("replay bench: self-check passed");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let bench = args.iter().any(|a| a == "--bench");
    let args: Vec<String> = args.into_iter().filter(|a| a != "--bench").collect();
    if args.len() == 1 {
        if bench {
            eprintln!("usage: cargo bench --bench replay -- <synth|compare|full|ingest|stream> ...; see scripts/bench");
            return Ok(());
        }
        return self_check();
    }
    match Cli::parse_from(args).command {
        Command::Compare { file, runs } => compare(&file, runs),
        Command::Ingest { file } => {
            let (input, took) = ingest(&file);
            let (peak, _) = memory();
            println!(
                "mode=ingest seconds={:.3} events={} observations={} errors={} events_per_s={:.0} peak_rss_kib={peak}",
                took.as_secs_f64(),
                events_in(&input),
                input.observations.len(),
                input.errors.len(),
                events_in(&input) as f64 / took.as_secs_f64(),
            );
        }
        Command::Full { file } => print_full(&full(&file)),
        Command::Stream { file, every } => stream(&file, every)?,
    }
    Ok(())
}
