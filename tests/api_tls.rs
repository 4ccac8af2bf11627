//! The API listener over TLS (rustls): a client that trusts the certificate's CA gets answers,
//! a plain-HTTP client gets none. No cluster needed: /healthz and auth answer before any
//! cluster call.

use std::process::Command;
use std::sync::Arc;

use mcp_runtime::api::{self, Tokens};

#[path = "support/offline.rs"]
mod offline;
use mcp_runtime::config::Tls;
use mcp_runtime::plugin::PluginSet;

/// A P-256 private key at `out`.
fn ec_key(out: &str) {
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        out,
    ]);
}

fn openssl(args: &[&str]) {
    let ok = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs")
        .status
        .success();
    assert!(ok, "openssl {args:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_speaks_tls_when_given_a_certificate() {
    let dir = std::env::temp_dir().join(format!("mcp-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = |f: &str| dir.join(f).display().to_string();
    ec_key(&p("ca.key"));
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &p("ca.key"),
        "-subj",
        "/CN=test-ca",
        "-days",
        "1",
        "-out",
        &p("ca.crt"),
    ]);
    ec_key(&p("tls.key"));
    openssl(&[
        "req",
        "-new",
        "-key",
        &p("tls.key"),
        "-subj",
        "/CN=localhost",
        "-out",
        &p("tls.csr"),
    ]);
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("tls.csr"),
        "-CA",
        &p("ca.crt"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &p("ext"),
        "-out",
        &p("tls.crt"),
    ]);

    let router = offline::router(Tokens::parse("t0ken"), Arc::new(PluginSet::empty()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let tls = Tls {
        cert_file: p("tls.crt"),
        key_file: p("tls.key"),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        api::serve(listener, router, Some(&tls), async move {
            let _ = stopped.await;
        })
        .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "5"])
            .args(args)
            .output()
            .expect("curl runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let url = format!("https://localhost:{port}/healthz");
    let (ok, body) = curl(&[
        "--cacert",
        &p("ca.crt"),
        "--resolve",
        &format!("localhost:{port}:127.0.0.1"),
        &url,
    ]);
    assert!(ok && body == "ok", "TLS /healthz: {ok} {body}");
    let (_, body) = curl(&[
        "--cacert",
        &p("ca.crt"),
        "--resolve",
        &format!("localhost:{port}:127.0.0.1"),
        &format!("https://localhost:{port}/v1/servers"),
    ]);
    assert!(
        body.contains("Unauthorized"),
        "auth still applies over TLS: {body}"
    );
    let (ok, body) = curl(&[&format!("http://127.0.0.1:{port}/healthz")]);
    assert!(!(ok && body == "ok"), "plain HTTP must not be answered");
    let (ok, _) = curl(&[&url, "--resolve", &format!("localhost:{port}:127.0.0.1")]);
    assert!(
        !ok,
        "a client that does not trust the CA fails the handshake"
    );

    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(15), server)
        .await
        .expect("graceful shutdown")
        .unwrap()
        .unwrap();
}
