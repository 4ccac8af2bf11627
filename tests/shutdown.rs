//! Graceful shutdown of `mcp-runtime serve`: SIGTERM stops taking work, ends the API and the
//! controller, releases the Lease so a standby can lead at once, and the process exits well
//! within a pod's grace period.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;

#[tokio::test]
async fn sigterm_releases_the_lease_and_exits() {
    let ns = support::TestNamespace::new("shutdown").await;
    support::install_crd(&ns.client).await;
    let port = support::free_port();
    let token = std::env::temp_dir().join(format!("shutdown-token-{}", std::process::id()));
    std::fs::write(&token, "t\n").unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-runtime"))
        .args([
            "serve",
            "--namespace",
            &ns.name,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--kubeconfig")
        .arg(support::kubeconfig_path())
        .arg("--token-file")
        .arg(&token)
        .env("POD_NAME", "replica-under-test")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let leases: kube::Api<Lease> = ns.api();
    let holder = |l: &Lease| {
        l.spec
            .as_ref()
            .and_then(|s| s.holder_identity.clone())
            .unwrap_or_default()
    };
    let led = support::eventually(30, || async {
        leases
            .get_opt("mcp-runtime-controller")
            .await
            .unwrap()
            .is_some_and(|l| holder(&l) == "replica-under-test")
    })
    .await;
    assert!(led, "the replica took the Lease");

    let pid = child.id().unwrap() as i32;
    // SAFETY: sending a signal to our own child.
    unsafe { libc_kill(pid, 15) };
    let started = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exited within 20 s")
        .unwrap();
    assert!(status.success(), "clean exit: {status:?}");
    let lease = leases.get("mcp-runtime-controller").await.unwrap();
    assert_eq!(holder(&lease), "", "the Lease was released on the way out");
    eprintln!("shutdown took {:?}", started.elapsed());
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
