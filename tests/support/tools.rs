//! The command-line tools the scripts build into the cache (deploy/local-cluster/versions.env
//! says which versions and where): kubectl and helm.

use std::path::PathBuf;
use std::process::{Command, Stdio};

fn versions(key: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("deploy/local-cluster/versions.env")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} in versions.env"))
        .to_string()
}

use super::cache_dir as cache;

pub fn kubectl() -> PathBuf {
    cache().join(format!(
        "bin/k8s-{}-etcd-{}-kwok-{}/kubectl",
        versions("K8S_VERSION"),
        versions("ETCD_VERSION"),
        versions("KWOK_VERSION")
    ))
}

/// Built by deploy/local-cluster/build-helm.sh (scripts/test.sh runs it).
pub fn helm() -> PathBuf {
    let path = cache().join(format!("bin/helm-{}/helm", versions("HELM_VERSION")));
    assert!(
        path.exists(),
        "{} is missing: run deploy/local-cluster/build-helm.sh",
        path.display()
    );
    path
}

/// Runs a tool; (success, stdout, stderr). `stdin` is fed to it when given.
pub fn run(tool: &PathBuf, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", tool.display()));
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// kubectl against the cluster under test.
pub fn kubectl_on_cluster(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let kc = super::kubeconfig_path();
    let mut all = vec!["--kubeconfig", kc.to_str().unwrap()];
    all.extend_from_slice(args);
    run(&kubectl(), &all, stdin)
}

/// The documents of a multi-document YAML stream, as JSON values (empty documents dropped).
pub fn documents(yaml: &str) -> Vec<serde_json::Value> {
    use serde::Deserialize;
    serde_norway::Deserializer::from_str(yaml)
        .map(|d| serde_json::Value::deserialize(d).expect("valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

/// The official MCP Python SDK's interpreter (scripts/plugin-tools.sh installs it): 1.x, which
/// speaks the handshake era only.
pub fn mcp_python() -> PathBuf {
    sdk_python("MCP_SDK_VERSION")
}

/// The 2.x SDK's interpreter: both eras.
#[allow(dead_code)]
pub fn mcp2_python() -> PathBuf {
    sdk_python("MCP_SDK2_VERSION")
}

fn sdk_python(key: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let script = std::fs::read_to_string(root.join("scripts/plugin-tools.sh")).unwrap();
    let version = script
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} in scripts/plugin-tools.sh"));
    let p = cache().join(format!("tools/mcp-sdk-{version}/bin/python"));
    assert!(
        p.exists(),
        "{} missing: run scripts/plugin-tools.sh",
        p.display()
    );
    p
}
