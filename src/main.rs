use clap::Parser;
use kspan::cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let code = match Cli::parse().command {
        Command::Replay(args) => kspan::replay::run(args)?,
    };
    std::process::exit(code);
}
