//! The Helm chart (deploy/helm/kspan-rs) against deploy/: with its defaults,
//! `helm template` renders what `kubectl kustomize` renders, cluster-wide and
//! namespaced (same objects, same RBAC grants, same Deployment and Service); its
//! values change what they say; and `helm install` into a live control plane
//! creates objects the API server accepts, with the rights they should give, which
//! `helm uninstall` removes.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use support::script::{require_installed, script};
use support::LiveCluster;

const CHART: &str = "deploy/helm/kspan-rs";

fn crate_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// `scripts/live-env.sh paths`: where helm and kubectl are.
fn paths() -> HashMap<String, String> {
    let out = Command::new("bash").arg(script()).arg("paths").output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

struct Tools {
    helm: PathBuf,
    kubectl: PathBuf,
    /// Helm's own config, cache and data: none in the user's home.
    home: PathBuf,
}

impl Tools {
    fn new(test: &str) -> Option<Tools> {
        if !require_installed(test) {
            return None;
        }
        let paths = paths();
        let home = std::env::temp_dir().join(format!("kspan-helm-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&home).unwrap();
        Some(Tools {
            helm: PathBuf::from(&paths["HELM"]),
            kubectl: Path::new(&paths["BIN"]).join("kubectl"),
            home,
        })
    }

    fn helm(&self, args: &[&str], kubeconfig: Option<&Path>) -> Output {
        let mut helm = Command::new(&self.helm);
        for (var, dir) in [
            ("HELM_CONFIG_HOME", "config"),
            ("HELM_CACHE_HOME", "cache"),
            ("HELM_DATA_HOME", "data"),
        ] {
            helm.env(var, self.home.join(dir));
        }
        if let Some(kubeconfig) = kubeconfig {
            helm.env("KUBECONFIG", kubeconfig);
        }
        helm.args(args).output().expect("helm runs")
    }

    /// `helm template` of the chart, release `kspan` in `namespace`, with `--set`s.
    fn template(&self, namespace: &str, sets: &[&str]) -> Objects {
        let out = self.render(namespace, sets);
        assert!(out.status.success(), "helm template: {}", String::from_utf8_lossy(&out.stderr));
        parse(&String::from_utf8(out.stdout).unwrap())
    }

    fn render(&self, namespace: &str, sets: &[&str]) -> Output {
        let chart = crate_path(CHART);
        let mut args = vec!["template", "kspan", chart.to_str().unwrap(), "--namespace", namespace];
        for set in sets {
            args.extend(["--set", set]);
        }
        self.helm(&args, None)
    }

    fn kustomize(&self, dir: &str) -> Objects {
        let out =
            Command::new(&self.kubectl).args(["kustomize"]).arg(crate_path(dir)).output().unwrap();
        assert!(
            out.status.success(),
            "kubectl kustomize: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        parse(&String::from_utf8(out.stdout).unwrap())
    }
}

impl Drop for Tools {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// (kind, namespace, name) -> the object.
type Objects = BTreeMap<(String, String, String), Value>;

fn parse(yaml: &str) -> Objects {
    let mut objects = Objects::new();
    for document in serde_yaml::Deserializer::from_str(yaml) {
        let object = Value::deserialize(document).unwrap();
        if object.is_null() {
            continue;
        }
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let key = (
            s(&object["kind"]),
            s(&object["metadata"]["namespace"]),
            s(&object["metadata"]["name"]),
        );
        assert!(objects.insert(key.clone(), object).is_none(), "{key:?} twice");
    }
    objects
}

/// What a Role or ClusterRole grants, one (API group or "url", resource or
/// URL, verb) at a time: rules split or merged differently grant the same.
fn grants(rules: &Value) -> BTreeSet<(String, String, String)> {
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let mut grants = BTreeSet::new();
    for rule in rules.as_array().unwrap() {
        for verb in list(&rule["verbs"]) {
            for url in list(&rule["nonResourceURLs"]) {
                grants.insert(("url".into(), url, verb.clone()));
            }
            for group in list(&rule["apiGroups"]) {
                for resource in list(&rule["resources"]) {
                    grants.insert((group.clone(), resource, verb.clone()));
                }
            }
        }
    }
    grants
}

/// Removes `labels` at `pointer` from both, after checking the chart's include
/// every one of kustomize's (the chart adds who manages them).
fn take_labels(pointer: &str, helm: &mut Value, kustomize: &mut Value, what: &str) {
    let ours = helm.pointer_mut(pointer).map(Value::take).unwrap_or_default();
    let theirs = kustomize.pointer_mut(pointer).map(Value::take).unwrap_or_default();
    for (label, value) in theirs.as_object().into_iter().flatten() {
        assert_eq!(ours.get(label), Some(value), "{what}: label {label} at {pointer}");
    }
}

/// The chart renders the objects kustomize renders (but the Namespace, which
/// `helm install --create-namespace` makes), each the same but for labels added.
fn assert_same_deploy(mut helm: Objects, mut kustomize: Objects, namespace: &str) {
    kustomize.remove(&("Namespace".into(), String::new(), namespace.into()));
    assert_eq!(
        helm.keys().collect::<Vec<_>>(),
        kustomize.keys().collect::<Vec<_>>(),
        "the same kinds, names and namespaces"
    );
    for (key, theirs) in &mut kustomize {
        let ours = helm.get_mut(key).unwrap();
        let what = format!("{key:?}");
        take_labels("/metadata/labels", ours, theirs, &what);
        take_labels("/spec/template/metadata/labels", ours, theirs, &what);
        if key.0.ends_with("Role") {
            assert_eq!(grants(&ours["rules"]), grants(&theirs["rules"]), "{what}: grants");
            ours["rules"].take();
            theirs["rules"].take();
        }
        // Everything else: bindings' roleRef and subjects, the whole Deployment
        // spec (args, env, probes, securityContext, resources), the Service's.
        ours["metadata"].take();
        theirs["metadata"].take();
        assert_eq!(ours, theirs, "{what}");
    }
}

#[test]
fn the_chart_renders_deploy_cluster_wide() {
    let Some(tools) = Tools::new("the_chart_renders_deploy_cluster_wide") else { return };
    let helm = tools.template("kspan", &[]);
    let kustomize = tools.kustomize("deploy");
    assert!(kustomize.contains_key(&("ClusterRole".into(), String::new(), "kspan".into())));
    assert_same_deploy(helm, kustomize, "kspan");
}

#[test]
fn the_chart_renders_deploy_namespaced() {
    let Some(tools) = Tools::new("the_chart_renders_deploy_namespaced") else { return };
    let helm = tools.template("shop", &["namespaced=true"]);
    let kustomize = tools.kustomize("deploy/overlays/namespaced");
    assert!(!kustomize.keys().any(|(kind, _, _)| kind.starts_with("Cluster")));
    assert_same_deploy(helm, kustomize, "shop");
}

fn container(objects: &Objects, namespace: &str) -> Value {
    objects[&("Deployment".into(), namespace.into(), "kspan".into())]["spec"]["template"]["spec"]
        ["containers"][0]
        .clone()
}

fn env(container: &Value) -> BTreeMap<String, Value> {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e["value"].clone()))
        .collect()
}

#[test]
fn values_change_what_they_say() {
    let Some(tools) = Tools::new("values_change_what_they_say") else { return };
    let objects = tools.template(
        "tracing",
        &[
            "image.repository=registry.example/kspan-rs,image.tag=0.1.0,image.pullPolicy=Always",
            "collectorEndpoint=http://collector.tracing:4317",
            "otel.OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf,otel.OTEL_SERVICE_NAME=kspan-prod",
            "replicas=3,shutdownGraceSeconds=40,clusterName=prod,logLevel=debug",
            "resources.limits.memory=1Gi",
        ],
    );
    let deployment = &objects[&("Deployment".into(), "tracing".into(), "kspan".into())];
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"], 50);
    let c = container(&objects, "tracing");
    assert_eq!(c["image"], "registry.example/kspan-rs:0.1.0");
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(c["resources"]["limits"]["memory"], "1Gi");
    assert!(c["args"].as_array().unwrap().contains(&"--shutdown-grace=40s".into()));
    let env = env(&c);
    assert_eq!(env["OTEL_EXPORTER_OTLP_ENDPOINT"], "http://collector.tracing:4317");
    assert_eq!(env["OTEL_EXPORTER_OTLP_PROTOCOL"], "http/protobuf");
    assert_eq!(env["OTEL_SERVICE_NAME"], "kspan-prod");
    assert_eq!(env["KSPAN_CLUSTER_NAME"], "prod");
    assert_eq!(env["RUST_LOG"], "debug");

    // One replica without leader election: no Lease, no Role on it.
    let single = tools.template("kspan", &["leaderElection.enabled=false,replicas=1"]);
    assert!(!container(&single, "kspan")["args"]
        .as_array()
        .unwrap()
        .contains(&"--leader-elect".into()));
    assert!(!single.keys().any(|(_, _, name)| name == "kspan-lease"));

    // Refused, saying why.
    for (sets, reason) in [
        ("leaderElection.enabled=false", "replicas > 1 needs leaderElection.enabled"),
        ("otel.RUST_LOG=trace", "otel: RUST_LOG is no OTEL_* variable"),
    ] {
        let out = tools.render("kspan", &[sets]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(reason), "{sets}: {stderr}");
    }
}

/// `kubectl auth can-i` as the chart's ServiceAccount.
fn can_i(cluster: &LiveCluster, namespace: &str, args: &[&str]) -> bool {
    let user = format!("--as=system:serviceaccount:{namespace}:kspan");
    let out = cluster.kubectl().args(["auth", "can-i", &user]).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "yes"
}

fn get_json(cluster: &LiveCluster, args: &[&str]) -> Option<Value> {
    let out = cluster.kubectl().args(["get", "-o", "json"]).args(args).output().unwrap();
    out.status.success().then(|| serde_json::from_slice(&out.stdout).unwrap())
}

/// Polls until the Deployment's ReplicaSet has made its Pods (accepted by the API
/// server's admission: the ServiceAccount exists, the spec is valid). No node runs
/// them here.
fn wait_for_pods(cluster: &LiveCluster, namespace: &str, count: usize) {
    let t0 = Instant::now();
    loop {
        let pods =
            get_json(cluster, &["pods", "-n", namespace, "-l", "app.kubernetes.io/name=kspan-rs"])
                .unwrap();
        let made = pods["items"].as_array().unwrap().len();
        if made == count {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "{made} of {count} Pods in {namespace}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn helm_install_and_uninstall_in_a_live_cluster() {
    let test = "helm_install_and_uninstall_in_a_live_cluster";
    let Some(tools) = Tools::new(test) else { return };
    let Some(cluster) = LiveCluster::start_or_skip(test) else { return };
    let kubeconfig = cluster.kubeconfig_path();
    let chart = crate_path(CHART);
    let chart = chart.to_str().unwrap();
    let helm = |args: &[&str]| {
        let out = tools.helm(args, Some(&kubeconfig));
        assert!(out.status.success(), "helm {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };

    // Cluster-wide, as the README says.
    helm(&["install", "kspan", chart, "-n", "kspan", "--create-namespace"]);
    // Namespaced, beside it: its Role, not the ClusterRole.
    helm(&[
        "install",
        "kspan",
        chart,
        "-n",
        "shop",
        "--create-namespace",
        "--set",
        "namespaced=true",
    ]);

    let rendered = tools.template("kspan", &[]);
    let role = &rendered[&("ClusterRole".into(), String::new(), "kspan".into())];
    let stored = get_json(&cluster, &["clusterrole", "kspan"]).expect("the ClusterRole");
    assert_eq!(grants(&stored["rules"]), grants(&role["rules"]));
    let binding = get_json(&cluster, &["clusterrolebinding", "kspan"]).expect("the binding");
    assert_eq!(binding["subjects"][0]["namespace"], "kspan");
    for namespace in ["kspan", "shop"] {
        let deployment = get_json(&cluster, &["deployment", "kspan", "-n", namespace]).unwrap();
        assert_eq!(deployment["spec"]["template"]["spec"]["serviceAccountName"], "kspan");
        assert!(get_json(&cluster, &["serviceaccount", "kspan", "-n", namespace]).is_some());
        assert!(get_json(&cluster, &["service", "kspan-metrics", "-n", namespace]).is_some());
        assert!(get_json(&cluster, &["rolebinding", "kspan-lease", "-n", namespace]).is_some());
        wait_for_pods(&cluster, namespace, 2);
        // Its own Lease, in its own namespace.
        assert!(can_i(&cluster, namespace, &["update", "leases", "-n", namespace]));
    }

    // The rights the API server now gives each ServiceAccount.
    assert!(can_i(&cluster, "kspan", &["watch", "pods", "--all-namespaces"]));
    assert!(can_i(&cluster, "kspan", &["list", "nodes"]));
    assert!(can_i(&cluster, "kspan", &["create", "events.events.k8s.io", "-n", "kspan"]));
    assert!(can_i(&cluster, "kspan", &["get", "/apis/batch/v1"]));
    assert!(!can_i(&cluster, "kspan", &["get", "secrets", "-n", "kspan"]));
    assert!(!can_i(&cluster, "kspan", &["create", "pods", "-n", "kspan"]));
    assert!(can_i(&cluster, "shop", &["watch", "deployments.apps", "-n", "shop"]));
    assert!(!can_i(&cluster, "shop", &["watch", "deployments.apps", "-n", "default"]));
    assert!(!can_i(&cluster, "shop", &["list", "nodes"]));
    assert!(!can_i(&cluster, "shop", &["update", "leases", "-n", "kspan"]));

    helm(&["uninstall", "kspan", "-n", "kspan", "--wait"]);
    helm(&["uninstall", "kspan", "-n", "shop", "--wait"]);
    for object in [
        &["clusterrole", "kspan"][..],
        &["clusterrolebinding", "kspan"],
        &["deployment", "kspan", "-n", "kspan"],
        &["serviceaccount", "kspan", "-n", "kspan"],
        &["role", "kspan-lease", "-n", "kspan"],
        &["deployment", "kspan", "-n", "shop"],
        &["role", "kspan", "-n", "shop"],
        &["rolebinding", "kspan", "-n", "shop"],
    ] {
        assert!(get_json(&cluster, object).is_none(), "{object:?} left after helm uninstall");
    }
    assert!(!can_i(&cluster, "kspan", &["watch", "pods", "--all-namespaces"]));
}
