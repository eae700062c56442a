//! Tells a TLS/plain-text mismatch with the collector from other export
//! failures: after an export failed, one TLS handshake is tried on the
//! collector's address, and rustls' typed error says which the collector speaks.

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore};

/// How long the probe may take, connecting and reading each.
const TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaks {
    PlainText,
    Tls,
    /// Not reachable, or it closed without a word.
    Unknown,
}

/// What the server at `address` (`host:port`) answers to a TLS ClientHello.
/// Blocking: run it off the async runtime's threads.
pub fn probe(address: &str) -> Speaks {
    match handshake(address) {
        Ok(()) => Speaks::Tls,
        Err(e) => match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
            // Bytes that are no TLS record: an HTTP/2 or HTTP/1 server in plain text.
            Some(rustls::Error::InvalidMessage(_)) => Speaks::PlainText,
            // A certificate this probe cannot check (it trusts nothing), or an alert.
            Some(_) => Speaks::Tls,
            None => Speaks::Unknown,
        },
    }
}

fn handshake(address: &str) -> io::Result<()> {
    let target = address.to_socket_addrs()?.next().ok_or(io::ErrorKind::NotFound)?;
    let mut tcp = TcpStream::connect_timeout(&target, TIMEOUT)?;
    tcp.set_read_timeout(Some(TIMEOUT))?;
    tcp.set_write_timeout(Some(TIMEOUT))?;
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth();
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string()).map_err(io::Error::other)?;
    let mut tls = ClientConnection::new(Arc::new(config), name).map_err(io::Error::other)?;
    while tls.is_handshaking() {
        tls.complete_io(&mut tcp)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;

    /// A server that answers anything with what an HTTP/2 server in plain text
    /// answers a stranger: a GOAWAY frame.
    fn plain_text_server() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut hello = [0; 512];
            let _ = stream.read(&mut hello);
            let goaway = [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
            let _ = stream.write_all(&goaway);
        });
        address
    }

    #[test]
    fn a_plain_text_server_is_told_by_its_answer() {
        assert_eq!(probe(&plain_text_server()), Speaks::PlainText);
    }

    #[test]
    fn nobody_listening_is_unknown() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        assert_eq!(probe(&format!("127.0.0.1:{port}")), Speaks::Unknown);
    }
}
