//! kspan-rs' image without a container engine (scripts/image): it holds the very
//! binary under test, is configured as the Dockerfile's run stage says, and its
//! root filesystem is enough to run it as the non-root user. The image running
//! in a cluster is tests/live_deploy.rs.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn crate_path(relative: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The OCI blob a descriptor points to, as JSON.
fn blob(layout: &Path, descriptor: &Value) -> Value {
    let digest = descriptor["digest"].as_str().unwrap().replace(':', "/");
    serde_json::from_slice(&std::fs::read(layout.join("blobs").join(digest)).unwrap()).unwrap()
}

/// The run stage's directives (after the last FROM): USER, ENTRYPOINT, CMD, EXPOSE.
fn dockerfile_run_stage() -> Vec<(String, String)> {
    let dockerfile = std::fs::read_to_string(crate_path("Dockerfile")).unwrap();
    let stage = dockerfile.rsplit_once("\nFROM ").expect("a run stage").1;
    stage
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(directive, value)| (directive.to_string(), value.trim().to_string()))
        .collect()
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap().split(' ').next().unwrap().to_string()
}

#[test]
fn the_image_holds_the_tested_binary_configured_as_the_dockerfile_says() {
    let missing: Vec<_> = ["umoci", "skopeo"]
        .into_iter()
        .filter(|tool| Command::new(tool).arg("--version").output().is_err())
        .collect();
    if !missing.is_empty() {
        // scripts/live-env.sh install puts them in (the real node's images use them).
        assert!(!in_ci(), "{missing:?} missing under CI");
        eprintln!("SKIPPED: {missing:?} not installed (scripts/live-env.sh install)");
        return;
    }
    let out = OutDir(std::env::temp_dir().join(format!("kspan-image-{}", std::process::id())));
    let binary = env!("CARGO_BIN_EXE_kspan");
    let built = Command::new(crate_path("scripts/image"))
        .arg(&out.0)
        .args(["--binary", binary, "--tag", "t1"])
        .output()
        .unwrap();
    assert!(built.status.success(), "scripts/image: {}", String::from_utf8_lossy(&built.stderr));
    assert!(out.0.join("kspan-rs.tar").metadata().unwrap().len() > 1_000_000);

    let layout = out.0.join("oci");
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest = blob(&layout, &index["manifests"][0]);
    let config = blob(&layout, &manifest["config"])["config"].clone();
    let json = |text: &str| serde_json::from_str::<Value>(text).unwrap();
    for (directive, value) in dockerfile_run_stage() {
        match directive.as_str() {
            "USER" => assert_eq!(config["User"], value.as_str()),
            "ENTRYPOINT" => assert_eq!(config["Entrypoint"], json(&value)),
            "CMD" => assert_eq!(config["Cmd"], json(&value)),
            "EXPOSE" => assert!(config["ExposedPorts"][format!("{value}/tcp")].is_object()),
            _ => {}
        }
    }

    let bundle = out.0.join("bundle");
    let unpacked = Command::new("umoci")
        .args(["unpack", "--image", &format!("{}:t1", layout.display())])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(unpacked.status.success(), "{}", String::from_utf8_lossy(&unpacked.stderr));
    let rootfs = bundle.join("rootfs");
    let entrypoint = config["Entrypoint"][0].as_str().unwrap();
    let inside = rootfs.join(entrypoint.trim_start_matches('/'));
    assert_eq!(sha256(&inside), sha256(Path::new(binary)), "the image's {entrypoint}");

    // Nothing but the image's own files: its loader and libraries run the binary.
    let user = format!("--userspec={}", config["User"].as_str().unwrap());
    let ran =
        Command::new("chroot").arg(&user).arg(&rootfs).args([entrypoint, "--version"]).output();
    match ran {
        Ok(ran) if ran.status.success() => {
            let version = String::from_utf8_lossy(&ran.stdout);
            assert_eq!(version.trim(), concat!("kspan ", env!("CARGO_PKG_VERSION")));
        }
        // chroot needs root: the live test runs the image on a node instead.
        _ if not_root() => eprintln!("not root: the image's rootfs was not run"),
        other => panic!("the binary in the image's rootfs: {other:?}"),
    }
}

/// Removed when the test ends, passed or not.
struct OutDir(std::path::PathBuf);

impl Drop for OutDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn not_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() != "0"
}

/// Under CI every test runs: nothing missing is skipped.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}
