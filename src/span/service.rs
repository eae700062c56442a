//! `service.name` and `service.instance.id` from a reporting component. Some
//! components report under the name of one process instance: an external
//! provisioner as `<name>_<node>_<uuid>` (its leader-election identity after
//! its name), others with a uuid after theirs. As a service name that gives a
//! new service for every restart; the name is what comes before the instance.

/// The service a component reports as, and its instance when it named one.
pub fn split(component: &str) -> (&str, Option<&str>) {
    // `<name>_<node>_<uuid>` and `<name>_<uuid>`: the instance begins at the first `_`
    // (node names and uuids have none).
    if let Some((before, id)) = component.rsplit_once('_') {
        if is_uuid(id) {
            let name = before.split_once('_').map_or(before, |(name, _)| name);
            if !name.is_empty() {
                return (name, Some(&component[name.len() + 1..]));
            }
        }
    }
    // `<name>-<uuid>`, `<name>.<uuid>`.
    let cut = component.len().saturating_sub(37);
    if let (Some(id), Some(sep)) = (component.get(cut + 1..), component.get(cut..cut + 1)) {
        if cut > 0 && matches!(sep, "-" | ".") && is_uuid(id) {
            return (&component[..cut], Some(id));
        }
    }
    (component, None)
}

/// `8-4-4-4-12` hex digits.
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "072e4558-5ba2-4e1b-9d6c-0c6f1c0e1a3b";

    #[test]
    fn an_external_provisioner_is_named_without_its_node_and_uuid() {
        let component = format!("k8s.io/minikube-hostpath_minikube_{UUID}");
        let instance = format!("minikube_{UUID}");
        assert_eq!(split(&component), ("k8s.io/minikube-hostpath", Some(instance.as_str())));
    }

    #[test]
    fn a_csi_provisioner_is_named_after_its_driver() {
        let component = format!("ebs.csi.aws.com_ebs-csi-controller-7b9c6d8b5-xk2lp_{UUID}");
        assert_eq!(split(&component).0, "ebs.csi.aws.com");
    }

    #[test]
    fn a_trailing_uuid_is_an_instance() {
        for sep in ['_', '-', '.'] {
            let component = format!("my-operator{sep}{UUID}");
            assert_eq!(split(&component), ("my-operator", Some(UUID)), "{sep}");
        }
    }

    #[test]
    fn names_without_an_instance_stay_as_they_are() {
        for component in [
            "kubelet",
            "default-scheduler",
            "k8s.io/minikube-hostpath",
            "cert-manager-certificates-issuing",
            "a_b",
            UUID,
            "",
        ] {
            assert_eq!(split(component), (component, None));
        }
        // Not a uuid: one hex digit short.
        let short = "op_node_072e4558-5ba2-4e1b-9d6c-0c6f1c0e1a3";
        assert_eq!(split(short), (short, None));
    }
}
