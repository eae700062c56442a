//! `kspan record`: watchers -> a capture file of watch-event JSON lines with their
//! arrival times, for `kspan replay`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::shutdown_signal;
use crate::cli::RecordArgs;
use crate::config;
use crate::error::{Error, Result};
use crate::source::cluster::{self, Watchers};
use crate::source::record::Recorder;
use crate::source::watch::WatchStats;

pub async fn run(args: RecordArgs) -> Result<u8> {
    let settings = config::cluster(&args.cluster);
    let client = cluster::client(&settings).await?;
    let recorder = Arc::new(Recorder::create(&args.out).map_err(Error::file(&args.out))?);
    let stats = Arc::new(WatchStats::default());
    let Watchers { mut observations, tasks: mut watchers, .. } =
        cluster::start_watchers(&settings, &client, Some(recorder.clone()), stats.clone(), None)
            .await;
    let stop = async {
        match args.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => shutdown_signal().await,
        }
    };
    tokio::pin!(stop);
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            o = observations.recv() => if o.is_none() { break },
            _ = flush.tick() => recorder.flush(),
            _ = &mut stop => break,
        }
    }
    watchers.abort_all();
    recorder.flush();
    eprintln!(
        "kspan: recorded {} watch events to {}",
        stats.received.load(Ordering::Relaxed),
        args.out.display()
    );
    Ok(0)
}
