//! Test support for live tests against a real Kubernetes control plane.
//!
//! * [`cluster`]: start/stop etcd + kube-apiserver + kube-controller-manager +
//!   kube-scheduler (v1.20.2) through `scripts/live-env.sh`, load the kubeconfig;
//!   start an OTLP receiver (rotel) that prints the spans it gets.
//! * [`nodesim`]: a node simulator playing the kubelet (nodes, pod status, kubelet events).
//! * [`rotel`]: parses the receiver's span output.
//!
//! Each integration test that uses it declares `mod support;`.

#![allow(dead_code, unused_imports)]

pub mod cluster;
pub mod nodesim;
pub mod rotel;

pub use cluster::{LiveCluster, LiveReceiver};
pub use nodesim::{ContainerBehaviour, NodeSim, NodeSimConfig};
