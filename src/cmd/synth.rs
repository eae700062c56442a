//! `kspan synth`: a synthetic capture to `--out` or stdout, its summary to stderr.

use crate::cli::SynthArgs;
use crate::error::{Error, Result};
use crate::synth::{generate, SynthConfig};
use crate::time::SECOND;

/// Writes the capture for `args` to `--out` or stdout; the summary goes to stderr.
pub fn run(args: SynthArgs) -> Result<u8> {
    let config = SynthConfig::from(&args);
    let summary = match &args.out {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(Error::file(path))?;
            generate(&config, file)?
        }
        None => generate(&config, std::io::stdout().lock())?,
    };
    eprintln!(
        "synth: {} lines ({} events, {} distinct, {} objects), {} workloads, {} pods started, {:.1} MiB, {}s of capture",
        summary.lines,
        summary.events,
        summary.event_records,
        summary.objects,
        summary.workloads,
        summary.pods_created,
        summary.bytes as f64 / (1024.0 * 1024.0),
        (summary.last - summary.first) / SECOND,
    );
    Ok(0)
}
