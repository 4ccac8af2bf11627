//! The in-cluster manifests (`deploy/kustomize/base`): applied with `kubectl apply -k` to the
//! real local cluster, the control plane's Deployment comes up, and its ServiceAccount can do
//! what the controller needs in its namespace and nothing else (checked with `kubectl auth
//! can-i`, which asks the API server's own authorizer).

mod support;

use std::path::PathBuf;

use k8s_openapi::api::apps::v1::Deployment;

fn run(args: &[&str]) -> (bool, String) {
    let (ok, out, err) = support::tools::kubectl_on_cluster(args, None);
    (ok, format!("{out}{err}"))
}

#[test]
fn the_kustomize_crd_is_the_generated_one() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let base = std::fs::read_to_string(root.join("deploy/kustomize/base/crd.yaml")).unwrap();
    let generated = mcp_runtime::yaml::to_string(&mcp_runtime::crd::crd()).unwrap();
    assert!(
        base == generated,
        "deploy/kustomize/base/crd.yaml is stale: cargo run -- crd > deploy/kustomize/base/crd.yaml"
    );
}

#[tokio::test]
async fn the_base_installs_and_grants_least_privilege() {
    let base = format!("{}/deploy/kustomize/base", env!("CARGO_MANIFEST_DIR"));
    // A previous run's namespace may still be terminating, or be left whole by a run that
    // failed before its cleanup: start from none.
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(support::client().await);
    if let Some(ns) = namespaces.get_opt("mcp-runtime").await.unwrap() {
        if ns.metadata.deletion_timestamp.is_none() {
            let (ok, out) = run(&["delete", "namespace", "mcp-runtime", "--wait=false"]);
            assert!(ok, "{out}");
        }
        let uid = ns.metadata.uid.unwrap_or_default();
        let gone = kube::runtime::wait::await_condition(
            namespaces.clone(),
            "mcp-runtime",
            kube::runtime::wait::conditions::is_deleted(&uid),
        );
        let _ = tokio::time::timeout(std::time::Duration::from_secs(90), gone).await;
    }
    let (ok, out) = run(&["apply", "--server-side", "--force-conflicts", "-k", &base]);
    assert!(ok, "kubectl apply -k: {out}");
    let client = support::client().await;
    // The CRD the base installed is this version's, so `serve` raises no stale-CRD warning.
    let crds: kube::Api<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    > = kube::Api::all(client.clone());
    let installed = crds.get("mcpservers.mcp-runtime.dev").await.unwrap();
    assert!(
        mcp_runtime::crd::same_schema(&installed),
        "the CRD kubectl installed from deploy/kustomize/base differs from the generated one"
    );
    let deployments: kube::Api<Deployment> = kube::Api::namespaced(client, "mcp-runtime");
    support::wait_for(
        &deployments,
        "mcp-runtime",
        60,
        "control plane available",
        |d: Option<&Deployment>| {
            d.and_then(|d| d.status.as_ref())
                .and_then(|s| s.available_replicas)
                == Some(2)
        },
    )
    .await;

    let sa = "system:serviceaccount:mcp-runtime:mcp-runtime";
    let can = |verb: &str, resource: &str, ns: Option<&str>| {
        let mut args = vec!["auth", "can-i", verb, resource, "--as", sa];
        if let Some(ns) = ns {
            args.extend(["-n", ns]);
        }
        run(&args)
            .1
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    for (verb, resource) in [
        ("patch", "deployments.apps"),
        ("watch", "pods"),
        ("get", "pods/log"),
        ("create", "secrets"),
        ("delete", "services"),
        ("patch", "mcpservers.mcp-runtime.dev/status"),
        ("update", "leases.coordination.k8s.io"),
        ("create", "events.events.k8s.io"),
    ] {
        assert_eq!(
            can(verb, resource, Some("mcp-runtime")),
            "yes",
            "{verb} {resource} in its namespace"
        );
    }
    for (verb, resource, ns) in [
        ("get", "secrets", Some("default")),
        ("patch", "deployments.apps", Some("default")),
        ("list", "nodes", None),
        (
            "create",
            "customresourcedefinitions.apiextensions.k8s.io",
            None,
        ),
        ("create", "pods/exec", Some("mcp-runtime")),
        (
            "create",
            "roles.rbac.authorization.k8s.io",
            Some("mcp-runtime"),
        ),
    ] {
        assert_eq!(
            can(verb, resource, ns),
            "no",
            "{verb} {resource} in {ns:?} must be denied"
        );
    }
    // The whole lifecycle with nothing but the ServiceAccount's token (TokenRequest), both for
    // the controller and for the manager the API uses; MCP pods under PSA `restricted`.
    let (ok, token) = run(&[
        "create",
        "token",
        "mcp-runtime",
        "-n",
        "mcp-runtime",
        "--duration=10m",
    ]);
    assert!(ok, "{token}");
    let admin: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(support::kubeconfig_path()).unwrap())
            .unwrap();
    let mut limited = admin.clone();
    limited["users"][0]["user"] = serde_json::json!({"token": token.trim()});
    let path = std::env::temp_dir().join(format!("sa-kubeconfig-{}", std::process::id()));
    std::fs::write(&path, serde_norway::to_string(&limited).unwrap()).unwrap();
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let sa_client = kube::Client::try_from(config).unwrap();
    let settings = mcp_runtime::config::Settings {
        namespace: Some("mcp-runtime".into()),
        kubeconfig: Some(path.clone()),
        ..Default::default()
    };
    let runtime_config = settings
        .resolve(&mcp_runtime::config::ProcessEnvironment)
        .unwrap();
    let (c, cfg) = (sa_client.clone(), runtime_config.clone());
    let controller = tokio::spawn(async move {
        mcp_runtime::controller::run(
            c,
            &cfg,
            std::sync::Arc::new(mcp_runtime::plugin::NoPolicies),
            std::sync::Arc::new(mcp_runtime::metrics::Metrics::new()),
            mcp_runtime::controller::leader::Term::new(),
        )
        .await
    });
    let manager =
        mcp_runtime::api::store::McpServerRuntimeManager::new(sa_client.clone(), "mcp-runtime");
    // Existing objects the server refers to (made by the admin, as a platform team would): the
    // controller must read and watch them with its own rights.
    let (ok, out) = run(&[
        "create",
        "configmap",
        "least-settings",
        "-n",
        "mcp-runtime",
        "--from-literal=region=eu",
    ]);
    assert!(ok, "{out}");
    let (ok, out) = run(&[
        "create",
        "secret",
        "generic",
        "least-upstream",
        "-n",
        "mcp-runtime",
        "--from-literal=token=t0",
    ]);
    assert!(ok, "{out}");
    let doc = serde_json::json!({"name": "least", "image": "ghcr.io/acme/least:1",
        "transport": {"type": "streamable-http"}, "env": [
            {"name": "K", "secretValue": "v"},
            {"name": "REGION", "configMapKeyRef": {"name": "least-settings", "key": "region"}},
            {"name": "UPSTREAM", "secretKeyRef": {"name": "least-upstream", "key": "token"}}]});
    manager
        .create(&doc)
        .await
        .expect("create with the ServiceAccount only");
    let mcps: kube::Api<mcp_runtime::crd::McpServer> =
        kube::Api::namespaced(sa_client.clone(), "mcp-runtime");
    let phase = |p: mcp_runtime::crd::resource::Phase| {
        move |m: Option<&mcp_runtime::crd::McpServer>| {
            m.and_then(|m| m.status.as_ref())
                .is_some_and(|s| s.phase == p)
        }
    };
    support::wait_for(
        &mcps,
        "least",
        60,
        "running as the ServiceAccount",
        phase(mcp_runtime::crd::resource::Phase::Running),
    )
    .await;
    // A changed ConfigMap reaches the server through the ConfigMap watch (the periodic
    // re-check is 5 min away): its data hash on the pod template changes.
    let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(support::client().await, "mcp-runtime");
    let hash_of = || {
        support::template_annotation(&deployments, "mcp-least", "mcp-runtime.dev/references-hash")
    };
    let before = hash_of().await.expect("a references hash");
    let (ok, out) = run(&[
        "patch",
        "configmap",
        "least-settings",
        "-n",
        "mcp-runtime",
        "--type=merge",
        "-p",
        r#"{"data":{"region":"us"}}"#,
    ]);
    assert!(ok, "{out}");
    let changed = support::eventually(60, || async {
        hash_of().await.is_some_and(|h| h != before)
    })
    .await;
    assert!(changed, "the ConfigMap change rolled the server");
    manager.stop("least").await.unwrap();
    support::wait_for(
        &mcps,
        "least",
        60,
        "stopped",
        phase(mcp_runtime::crd::resource::Phase::Stopped),
    )
    .await;
    manager.restart("least").await.unwrap();
    manager.start("least").await.unwrap();
    support::wait_for(
        &mcps,
        "least",
        60,
        "running again",
        phase(mcp_runtime::crd::resource::Phase::Running),
    )
    .await;
    manager.remove("least").await.unwrap();
    controller.abort();
    let _ = std::fs::remove_file(&path);

    let (ok, _) = run(&["delete", "namespace", "mcp-runtime", "--wait=false"]);
    assert!(ok);
    let _ = run(&[
        "delete",
        "clusterrole,clusterrolebinding",
        "mcp-runtime-read-cluster",
    ]);
}

/// `kubectl apply -f deploy/crd/` reads YAML 1.1, where an unquoted `off` is `false` (kustomize
/// reads YAML 1.2 and would not show it): what the API server would store from the committed
/// file is this version's schema.
#[test]
fn kubectl_reads_the_committed_crd_as_generated() {
    let file = format!(
        "{}/deploy/crd/mcpservers.mcp-runtime.dev.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let (ok, out) = run(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "--dry-run=server",
        "-o",
        "json",
        "-f",
        &file,
    ]);
    assert!(ok, "{out}");
    let json = &out[out.find('{').expect("a JSON object")..];
    let stored = serde_json::from_str(json).unwrap();
    assert!(
        mcp_runtime::crd::same_schema(&stored),
        "kubectl read deploy/crd differently from the generated CRD"
    );
}
