use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use kspan::cli::{Cli, Command};
use kspan::cmd;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    init_logs();
    let cli = Cli::parse();
    let status = match cli.command {
        Some(Command::Replay(args)) => cmd::replay::run(*args).map_err(anyhow::Error::from),
        Some(Command::Run(args)) => runtime().and_then(|r| Ok(r.block_on(cmd::run::run(*args))?)),
        Some(Command::Record(args)) => {
            runtime().and_then(|r| Ok(r.block_on(cmd::record::run(args))?))
        }
        Some(Command::Synth(args)) => cmd::synth::run(args).map_err(anyhow::Error::from),
        None => runtime().and_then(|r| Ok(r.block_on(cmd::run::run(cli.run))?)),
    };
    match status {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // As `fn main() -> anyhow::Result` prints it: the error and its causes.
            eprintln!("Error: {e:?}");
            ExitCode::FAILURE
        }
    }
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

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}
