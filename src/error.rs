//! The errors a command stops on. Each names the file, flag or object it is about;
//! `main` prints them and turns them into the exit status.

use std::path::PathBuf;

use crate::sink::otlp::OtlpError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file named on the command line could not be opened or written.
    #[error("{}: {source}", path.display())]
    File { path: PathBuf, source: std::io::Error },
    /// Writing the output (stdout or `--out`), or starting the runtime, failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Flags that do not fit together, said in terms of the flags.
    #[error("{0}")]
    Flags(String),
    #[error("{}: {source}", path.display())]
    Kubeconfig { path: PathBuf, source: kube::config::KubeconfigError },
    #[error(transparent)]
    ClusterConfig(#[from] kube::config::KubeconfigError),
    #[error(transparent)]
    InferConfig(#[from] kube::config::InferConfigError),
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Otlp(#[from] OtlpError),
    #[error("lease {lease}: {source}")]
    Lease { lease: String, source: kube_lease_manager::LeaseManagerError },
    #[error("--metrics-addr {addr}: {source}")]
    MetricsAddr { addr: std::net::SocketAddr, source: std::io::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn file(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::File { path, source }
    }
}
