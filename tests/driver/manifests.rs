//! Manifests the live stories apply.

/// A Deployment of `replicas` pods of one container `main` running `image`,
/// requesting `cpu`, in namespace `default`.
pub fn deployment(name: &str, image: &str, replicas: u32, cpu: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: default}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
        - name: main
          image: "{image}"
          resources: {{requests: {{cpu: "{cpu}"}}}}
---"#
    )
}
