//! Test support for live tests against a real Kubernetes control plane.
//!
//! * [`cluster`]: start/stop etcd + kube-apiserver + kube-controller-manager +
//!   kube-scheduler (v1.20.2) through `scripts/live-env.sh`, load the kubeconfig,
//!   read the apiserver's audit log, make ServiceAccount kubeconfigs;
//!   start an OTLP receiver (rotel) that prints the spans it gets, and a TLS proxy
//!   (nginx) in front of it that logs request headers.
//! * [`nodesim`]: a node simulator playing the kubelet (nodes, pod status, kubelet events).
//! * [`rotel`]: parses the receiver's span output.
//!
//! Each integration test that uses it declares `mod support;`.

#![allow(dead_code, unused_imports)]

pub mod cluster;
pub mod nodesim;
pub mod rotel;

pub use cluster::{AuditRequest, LiveCluster, LiveReceiver, TlsProxy};
pub use nodesim::{ContainerBehaviour, NodeSim, NodeSimConfig};
