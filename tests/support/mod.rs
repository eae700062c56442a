//! Test support for live tests against a real Kubernetes control plane, each
//! piece started and stopped through `scripts/live-env.sh` ([`script`]):
//!
//! * [`cluster`]: etcd + kube-apiserver + kube-controller-manager + kube-scheduler
//!   (the current release or v1.20.2): the kubeconfig, ServiceAccount kubeconfigs,
//!   the [`audit`] log;
//! * [`receiver`]: an OTLP receiver (rotel) that prints the spans it gets, parsed by
//!   [`rotel`]; [`tls_proxy`]: nginx in front of it, logging request headers;
//! * [`jaeger`]: Jaeger v2 all-in-one (in-memory) and a client of its query API;
//! * [`collector`]: an OpenTelemetry Collector running a configuration of `examples/`;
//! * [`replay`]: `kspan replay` of the build under test, to OTLP/JSON or an endpoint;
//! * [`node`]: a real node (containerd, runc, the release's kubelet) and the test images;
//! * [`nodesim`]: a node simulator playing the kubelet (nodes, pod status, kubelet events),
//!   writing what the kubelet of the API server's release writes ([`kubelet_release`]).
//!
//! Each integration test that uses it declares `mod support;`.

#![allow(dead_code, unused_imports)]

pub mod audit;
pub mod cluster;
pub mod collector;
pub mod jaeger;
pub mod kubelet_release;
pub mod node;
pub mod nodesim;
pub mod receiver;
pub mod replay;
pub mod rotel;
pub mod script;
pub mod tls_proxy;

pub use audit::AuditRequest;
pub use cluster::LiveCluster;
pub use collector::LiveCollector;
pub use jaeger::LiveJaeger;
pub use node::RealNode;
pub use nodesim::{ContainerBehaviour, NodeSim, NodeSimConfig};
pub use receiver::LiveReceiver;
pub use tls_proxy::TlsProxy;
