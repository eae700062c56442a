use clap::Parser;
use kspan::cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let code = match cli.command {
        Some(Command::Replay(args)) => kspan::replay::run(args)?,
        Some(Command::Run(args)) => runtime()?.block_on(kspan::run::run(args))?,
        Some(Command::Record(args)) => runtime()?.block_on(kspan::run::record(args))?,
        None => runtime()?.block_on(kspan::run::run(cli.run))?,
    };
    std::process::exit(code);
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}
