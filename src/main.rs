use std::io::IsTerminal;

use clap::Parser;
use kspan::cli::{Cli, Command};
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    init_logs();
    let cli = Cli::parse();
    let code = match cli.command {
        Some(Command::Replay(args)) => kspan::replay::run(*args)?,
        Some(Command::Run(args)) => runtime()?.block_on(kspan::run::run(*args))?,
        Some(Command::Record(args)) => runtime()?.block_on(kspan::run::record(args))?,
        Some(Command::Synth(args)) => kspan::synth::run(args)?,
        None => runtime()?.block_on(kspan::run::run(cli.run))?,
    };
    std::process::exit(code);
}

/// Levels from RUST_LOG (default warn); KSPAN_LOG_FORMAT=json for one JSON object per line.
fn init_logs() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("KSPAN_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
}
