//! The collector's address: from `--otlp-addr`, else the standard environment
//! variables, else localhost. An address without a scheme is plain text unless
//! TLS was asked for (kspan's meaning of `--otlp-addr host:port`), where the
//! exporter on its own would take it as TLS.

use super::otlp::Transport;

const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Where spans are sent, with its scheme and, over HTTP, the signal path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    /// `host:port`, for messages about the collector.
    pub address: String,
    pub tls: bool,
}

impl Endpoint {
    /// `flag` is `--otlp-addr`; `tls` is `--otlp-secured` or `--otlp-ca-file`.
    pub fn resolve(flag: Option<&str>, transport: Transport, tls: bool) -> Endpoint {
        Endpoint::from_sources(flag, |name| std::env::var(name).ok(), transport, tls)
    }

    fn from_sources(
        flag: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
        transport: Transport,
        tls: bool,
    ) -> Endpoint {
        let env = |name| env(name).filter(|v| !v.trim().is_empty());
        // Over HTTP, the signal-specific variable is the full URL, the general one
        // a base the signal path is added to (the OTLP exporter specification).
        let (base, add_path) = match (flag, env(TRACES_ENDPOINT), env(ENDPOINT)) {
            (Some(flag), _, _) => {
                (flag.to_string(), !flag.trim_end_matches('/').ends_with("/v1/traces"))
            }
            (None, Some(traces), _) => (traces, false),
            (None, None, Some(general)) => (general, true),
            (None, None, None) => {
                let port = if transport == Transport::Grpc { 4317 } else { 4318 };
                (format!("localhost:{port}"), true)
            }
        };
        let base = base.trim().trim_end_matches('/');
        let with_scheme = match base.split_once("://") {
            Some((scheme, _)) if !scheme.contains(['/', '?', '#']) => base.to_string(),
            _ if tls => format!("https://{base}"),
            _ => format!("http://{base}"),
        };
        let tls = tls || with_scheme.starts_with("https://");
        let address = address(&with_scheme);
        let url = if transport == Transport::HttpProtobuf && add_path {
            format!("{with_scheme}/v1/traces")
        } else {
            with_scheme
        };
        Endpoint { url, address, tls }
    }
}

/// `host:port` of a URL, the port made explicit.
fn address(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let has_port = authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok());
    if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{}", if scheme == "https" { 443 } else { 80 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(
        flag: Option<&str>,
        env: &[(&str, &str)],
        transport: Transport,
        tls: bool,
    ) -> Endpoint {
        let env: Vec<(String, String)> =
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Endpoint::from_sources(
            flag,
            |name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            transport,
            tls,
        )
    }

    #[test]
    fn kspans_address_form_is_plain_text() {
        let e = resolve(Some("otel-collector.default:55680"), &[], Transport::Grpc, false);
        assert_eq!(e.url, "http://otel-collector.default:55680");
        assert_eq!(e.address, "otel-collector.default:55680");
        assert!(!e.tls);
    }

    #[test]
    fn a_schemeless_address_is_tls_when_asked_for() {
        let e = resolve(Some("127.0.0.1:4317"), &[], Transport::Grpc, true);
        assert_eq!(e.url, "https://127.0.0.1:4317");
        assert!(e.tls);
    }

    #[test]
    fn a_scheme_is_kept() {
        let e = resolve(Some("https://collector:4317/"), &[], Transport::Grpc, false);
        assert_eq!((e.url.as_str(), e.tls), ("https://collector:4317", true));
        let e = resolve(Some("http://collector"), &[], Transport::Grpc, false);
        assert_eq!(e.address, "collector:80");
    }

    #[test]
    fn the_environment_without_a_scheme_is_plain_text_too() {
        let env = [(ENDPOINT, "127.0.0.1:4318")];
        let e = resolve(None, &env, Transport::HttpProtobuf, false);
        assert_eq!(e.url, "http://127.0.0.1:4318/v1/traces");
        let env = [(TRACES_ENDPOINT, "collector:4318/custom/traces"), (ENDPOINT, "other:1")];
        let e = resolve(None, &env, Transport::HttpProtobuf, false);
        assert_eq!(e.url, "http://collector:4318/custom/traces", "the signal's own URL, as is");
        let e = resolve(None, &[(ENDPOINT, "c:4317")], Transport::Grpc, false);
        assert_eq!(e.url, "http://c:4317");
    }

    #[test]
    fn the_flag_wins_and_localhost_is_the_default() {
        let e = resolve(Some("a:1"), &[(ENDPOINT, "b:2")], Transport::Grpc, false);
        assert_eq!(e.url, "http://a:1");
        assert_eq!(resolve(None, &[], Transport::Grpc, false).url, "http://localhost:4317");
        let e = resolve(None, &[], Transport::HttpProtobuf, false);
        assert_eq!(e.url, "http://localhost:4318/v1/traces");
        let e = resolve(Some("http://c:4318/v1/traces"), &[], Transport::HttpProtobuf, false);
        assert_eq!(e.url, "http://c:4318/v1/traces");
    }
}
