//! The Helm chart (`deploy/helm/mcp-runtime`) and the kustomize overlays: `helm lint` passes,
//! Helm and kustomize render the same objects and the same RBAC, and what both render is
//! accepted by the real API server (`kubectl apply --dry-run=server`), including the overlays
//! for a plugin directory and the API token Secret.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::tools::{self, documents};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chart() -> String {
    root()
        .join("deploy/helm/mcp-runtime")
        .to_string_lossy()
        .into_owned()
}

fn helm_template(namespace: &str, extra: &[&str]) -> String {
    let chart = chart();
    let mut args = vec!["template", "mcp-runtime", &chart, "--namespace", namespace];
    args.extend_from_slice(extra);
    let (ok, out, err) = tools::run(&tools::helm(), &args, None);
    assert!(ok, "helm template {extra:?}: {err}");
    out
}

fn kustomize(dir: &Path) -> String {
    let (ok, out, err) = tools::run(
        &tools::kubectl(),
        &["kustomize", dir.to_str().unwrap()],
        None,
    );
    assert!(ok, "kubectl kustomize {}: {err}", dir.display());
    out
}

fn by_kind_and_name(docs: Vec<Value>) -> BTreeMap<(String, String), Value> {
    docs.into_iter()
        .map(|d| {
            let kind = d["kind"].as_str().unwrap().to_string();
            let name = d["metadata"]["name"].as_str().unwrap().to_string();
            ((kind, name), d)
        })
        .collect()
}

const RBAC: [&str; 4] = ["Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"];

/// What an RBAC object grants: rules, or the role and subjects it binds.
fn grants(o: &Value) -> Value {
    serde_json::json!({"rules": o["rules"], "roleRef": o["roleRef"], "subjects": o["subjects"]})
}

#[test]
fn helm_lint_passes() {
    let (ok, out, err) = tools::run(&tools::helm(), &["lint", "--strict", &chart()], None);
    assert!(ok, "helm lint: {out}{err}");
    assert!(out.contains("0 chart(s) failed"), "{out}");
}

#[test]
fn the_chart_crd_is_the_generated_one() {
    let chart_crd = std::fs::read_to_string(
        root().join("deploy/helm/mcp-runtime/files/mcpservers.mcp-runtime.dev.yaml"),
    )
    .unwrap();
    let generated = mcp_runtime::yaml::to_string(&mcp_runtime::crd::crd()).unwrap();
    assert!(
        chart_crd == generated,
        "the chart's CRD is stale: cargo run -- crd > deploy/helm/mcp-runtime/files/mcpservers.mcp-runtime.dev.yaml"
    );
    // Rendered as a template (so `helm upgrade` upgrades it), kept on uninstall, optional.
    let crd_of = |extra: &[&str]| {
        documents(&helm_template("mcp-runtime", extra))
            .into_iter()
            .find(|d| d["kind"] == "CustomResourceDefinition")
    };
    let rendered = crd_of(&[]).expect("the chart renders the CRD");
    assert_eq!(
        rendered["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );
    // Read as Helm wrote it, the schema is this version's (an enum `off` stays a string).
    let typed: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition =
        serde_json::from_value(rendered).unwrap();
    assert_eq!(typed.spec, mcp_runtime::crd::crd().spec);
    let unkept = crd_of(&["--set", "crds.keep=false"]).unwrap();
    assert!(unkept["metadata"].get("annotations").is_none());
    assert!(crd_of(&["--set", "crds.install=false"]).is_none());
}

#[test]
fn kustomize_and_helm_grant_the_same_rbac() {
    let k = by_kind_and_name(documents(&kustomize(&root().join("deploy/kustomize/base"))));
    let h = by_kind_and_name(documents(&helm_template("mcp-runtime", &[])));
    let rbac = |m: &BTreeMap<(String, String), Value>| -> BTreeMap<(String, String), Value> {
        m.iter()
            .filter(|((kind, _), _)| RBAC.contains(&kind.as_str()))
            .map(|(k, v)| (k.clone(), grants(v)))
            .collect()
    };
    let (kr, hr) = (rbac(&k), rbac(&h));
    assert_eq!(kr.len(), 5, "kustomize RBAC objects: {:?}", kr.keys());
    assert_eq!(
        kr, hr,
        "kustomize and Helm must grant exactly the same (deploy/kustomize/base/rbac.yaml vs deploy/helm/mcp-runtime/templates/rbac.yaml)"
    );
}

#[test]
fn kustomize_and_helm_render_the_same_objects() {
    let k = by_kind_and_name(documents(&kustomize(&root().join("deploy/kustomize/base"))));
    let h = by_kind_and_name(documents(&helm_template("mcp-runtime", &[])));
    // The namespace is the base's own business (Helm: --create-namespace); the CRD is compared
    // below, where Helm's copy carries its keep annotation.
    let kinds = |m: &BTreeMap<(String, String), Value>| -> Vec<(String, String)> {
        m.keys()
            .filter(|(kind, _)| kind != "Namespace" && kind != "CustomResourceDefinition")
            .cloned()
            .collect()
    };
    assert_eq!(kinds(&k), kinds(&h));
    let key = ("Deployment".to_string(), "mcp-runtime".to_string());
    let (kd, hd) = (&k[&key], &h[&key]);
    assert_eq!(kd["spec"]["replicas"], hd["spec"]["replicas"]);
    let (kp, hp) = (
        &kd["spec"]["template"]["spec"],
        &hd["spec"]["template"]["spec"],
    );
    for field in [
        "securityContext",
        "serviceAccountName",
        "volumes",
        "terminationGracePeriodSeconds",
    ] {
        assert_eq!(kp[field], hp[field], "pod {field}");
    }
    let (kc, hc) = (&kp["containers"][0], &hp["containers"][0]);
    for field in [
        "args",
        "env",
        "ports",
        "resources",
        "securityContext",
        "volumeMounts",
    ] {
        assert_eq!(kc[field], hc[field], "container {field}");
    }
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(
            kc[probe]["httpGet"]["path"], hc[probe]["httpGet"]["path"],
            "{probe}"
        );
    }
    let svc = ("Service".to_string(), "mcp-runtime".to_string());
    assert_eq!(k[&svc]["spec"]["ports"], h[&svc]["spec"]["ports"]);
    let pdb = ("PodDisruptionBudget".to_string(), "mcp-runtime".to_string());
    assert_eq!(
        k[&pdb]["spec"]["minAvailable"],
        h[&pdb]["spec"]["minAvailable"]
    );
    // Every Helm object carries the chart's labels, from _helpers.tpl.
    for ((kind, name), o) in &h {
        let labels = &o["metadata"]["labels"];
        assert_eq!(
            labels["app.kubernetes.io/part-of"], "mcp-runtime",
            "{kind}/{name}"
        );
        assert_eq!(
            labels["app.kubernetes.io/managed-by"], "Helm",
            "{kind}/{name}"
        );
    }
}

#[test]
fn bad_values_are_refused_with_their_path() {
    for (set, path) in [
        ("replicaCount=-1", "/replicaCount"),
        ("logFormat=xml", "/logFormat"),
        ("apiToken.secretName=Not_A_Name", "/apiToken/secretName"),
        ("mcpProbe.timeoutSeconds=0", "/mcpProbe/timeoutSeconds"),
        ("network.mode=open", "/network/mode"),
        ("runtimeClassName=Not_A_Class", "/runtimeClassName"),
        (
            "allowedServiceAccounts={Bad_Name}",
            "/allowedServiceAccounts/0",
        ),
        (
            "failedPodReapIntervalSeconds=-5",
            "/failedPodReapIntervalSeconds",
        ),
        (
            "network.platformPodLabels.app=two words",
            "/network/platformPodLabels/app",
        ),
        (
            "network.platformNamespaceLabels.Bad_/x=y",
            "/network/platformNamespaceLabels",
        ),
    ] {
        let chart = chart();
        let (ok, _, err) = tools::run(
            &tools::helm(),
            &["template", "mcp-runtime", &chart, "--set", set],
            None,
        );
        assert!(!ok, "{set} must be refused");
        assert!(err.contains(path), "{set}: {err}");
    }
    let chart = chart();
    let (ok, _, err) = tools::run(
        &tools::helm(),
        &[
            "template",
            "mcp-runtime",
            &chart,
            "--set",
            "plugins.existingClaim=a",
            "--set",
            "plugins.image.reference=b",
        ],
        None,
    );
    assert!(!ok && err.contains("at most one"), "{err}");
}

fn apply_dry_run(namespace: &str, manifests: &str) -> Vec<Value> {
    let (ok, out, err) = tools::kubectl_on_cluster(
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--dry-run=server",
            "-n",
            namespace,
            "-o",
            "json",
            "-f",
            "-",
        ],
        Some(manifests),
    );
    assert!(ok, "the API server refused: {err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    match v["kind"].as_str() {
        Some("List") => v["items"].as_array().unwrap().clone(),
        _ => vec![v],
    }
}

#[tokio::test]
async fn helm_template_is_accepted_by_the_api_server() {
    let ns = support::TestNamespace::new("helm").await;
    for values in [
        vec![],
        vec![
            "--set",
            "plugins.configMap.name=policies",
            "--set",
            "plugins.configMap.items[0].key=org.plugin.json",
            "--set",
            "plugins.configMap.items[0].path=org/plugin.json",
        ],
        vec![
            "--set",
            "tls.secretName=api-tls",
            "--set",
            "plugins.existingClaim=policies",
            "--set",
            "metrics.requireAuth=true",
            "--set",
            "mcpProbe.intervalSeconds=0",
            "--set",
            "failedPodReapIntervalSeconds=0",
            "--set",
            "runtimeClassName=gvisor",
            "--set",
            "allowedServiceAccounts={mcp-reader,k8s-mcp}",
            "--set",
            "network.mode=restricted",
            "--set",
            "network.platformPodLabels.app=platform",
            "--set",
            "network.platformPodLabels.tier=web",
            "--set",
            "network.platformNamespaceLabels.kubernetes\\.io/metadata\\.name=platform",
        ],
    ] {
        let rendered = helm_template(&ns.name, &values);
        let accepted = apply_dry_run(&ns.name, &rendered);
        // The CRD as the API server would store it from Helm's YAML, read by kubectl's YAML 1.1
        // reader: this version's schema.
        let crd = accepted
            .iter()
            .find(|o| o["kind"] == "CustomResourceDefinition")
            .expect("the chart's CRD");
        assert!(mcp_runtime::crd::same_schema(
            &serde_json::from_value(crd.clone()).unwrap()
        ));
        let d = accepted
            .iter()
            .find(|o| o["kind"] == "Deployment")
            .expect("a Deployment");
        let env: Vec<&str> = d["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            env.contains(&"MCP_RUNTIME_PLUGIN_DIR"),
            values.iter().any(|v| v.starts_with("plugins.")),
            "{values:?}: {env:?}"
        );
        assert_eq!(
            env.contains(&"MCP_RUNTIME_TLS_CERT"),
            values.iter().any(|v| v.starts_with("tls.")),
            "{values:?}"
        );
        // Optional settings appear only when set (0 is a setting: probes off).
        for (variable, value) in [
            ("MCP_RUNTIME_MCP_PROBE_INTERVAL", "mcpProbe.intervalSeconds"),
            (
                "MCP_RUNTIME_FAILED_POD_REAP_INTERVAL",
                "failedPodReapIntervalSeconds",
            ),
            (
                "MCP_RUNTIME_ALLOWED_SERVICE_ACCOUNTS",
                "allowedServiceAccounts",
            ),
            ("MCP_RUNTIME_RUNTIME_CLASS", "runtimeClassName"),
            ("MCP_RUNTIME_NETWORK_POLICY", "network.mode"),
        ] {
            assert_eq!(
                env.contains(&variable),
                values.iter().any(|v| v.starts_with(value)),
                "{variable}: {values:?}"
            );
        }
        // Label maps become the key=value[,key=value] selectors the settings take.
        let value_of = |name: &str| {
            d["spec"]["template"]["spec"]["containers"][0]["env"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == name)
                .map(|e| e["value"].as_str().unwrap().to_string())
        };
        let selectors = values.iter().any(|v| v.starts_with("network.platform"));
        assert_eq!(
            value_of("MCP_RUNTIME_PLATFORM_POD_SELECTOR"),
            selectors.then(|| "app=platform,tier=web".to_string()),
            "{values:?}"
        );
        assert_eq!(
            value_of("MCP_RUNTIME_PLATFORM_NAMESPACE_SELECTOR"),
            selectors.then(|| "kubernetes.io/metadata.name=platform".to_string()),
            "{values:?}"
        );
        if values
            .iter()
            .any(|v| v.starts_with("allowedServiceAccounts"))
        {
            assert_eq!(
                value_of("MCP_RUNTIME_ALLOWED_SERVICE_ACCOUNTS").as_deref(),
                Some("mcp-reader,k8s-mcp")
            );
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// The overlay's objects moved into `namespace` (the base's own Namespace dropped), so the
/// API server can check them without touching the real `mcp-runtime` namespace.
fn retarget(docs: Vec<Value>, namespace: &str) -> String {
    docs.into_iter()
        .filter(|d| d["kind"] != "Namespace")
        .map(|mut d| {
            if d["metadata"].get("namespace").is_some() {
                d["metadata"]["namespace"] = namespace.into();
            }
            if let Some(subjects) = d.get_mut("subjects").and_then(Value::as_array_mut) {
                for s in subjects {
                    s["namespace"] = namespace.into();
                }
            }
            serde_norway::to_string(&d).unwrap()
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

#[tokio::test]
async fn overlays_render_and_are_accepted_by_the_api_server() {
    let ns = support::TestNamespace::new("overlays").await;
    let tree = tempfile::tempdir().unwrap();
    copy_tree(&root().join("deploy/kustomize"), tree.path());
    std::fs::write(
        tree.path().join("overlays/api-token/tokens"),
        "token-one\ntoken-two\n",
    )
    .unwrap();

    let deployment = |objs: &[Value]| -> Value {
        objs.iter()
            .find(|o| o["kind"] == "Deployment")
            .cloned()
            .expect("a Deployment")
    };
    let env_value = |d: &Value, name: &str| -> Option<String> {
        d["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str().map(String::from))
    };

    // API token: a Secret under the name serve reads, holding the file.
    let objs = apply_dry_run(
        &ns.name,
        &retarget(
            documents(&kustomize(&tree.path().join("overlays/api-token"))),
            &ns.name,
        ),
    );
    let secret = objs
        .iter()
        .find(|o| o["kind"] == "Secret")
        .expect("the token Secret");
    assert_eq!(secret["metadata"]["name"], "mcp-runtime-api-token");
    let d = deployment(&objs);
    assert_eq!(
        env_value(&d, "MCP_RUNTIME_TOKEN_SECRET").as_deref(),
        Some("mcp-runtime-api-token/tokens")
    );
    assert!(secret["data"]["tokens"].is_string());

    // Plugins from a ConfigMap: the generated (hashed) name is the one mounted, each key in its
    // plugin's folder, and every plugin.json in it is a valid plugin manifest.
    let rendered = documents(&kustomize(&tree.path().join("overlays/plugins-configmap")));
    let objs = apply_dry_run(&ns.name, &retarget(rendered, &ns.name));
    let cm = objs
        .iter()
        .find(|o| o["kind"] == "ConfigMap")
        .expect("the plugin ConfigMap");
    let d = deployment(&objs);
    let volume = d["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "plugins")
        .expect("a plugins volume")
        .clone();
    assert_eq!(volume["configMap"]["name"], cm["metadata"]["name"]);
    assert_eq!(
        env_value(&d, "MCP_RUNTIME_PLUGIN_DIR").as_deref(),
        Some("/etc/mcp-runtime/plugins")
    );
    for item in volume["configMap"]["items"].as_array().unwrap() {
        let key = item["key"].as_str().unwrap();
        let manifest: Value = serde_json::from_str(cm["data"][key].as_str().unwrap()).unwrap();
        let checked = mcp_runtime::schema::SchemaKind::Plugin.validate(&manifest);
        assert!(checked.is_ok(), "{key}: {checked:?}");
        assert!(item["path"].as_str().unwrap().ends_with("/plugin.json"));
    }

    // Plugins from a volume (an OCI image volume).
    let objs = apply_dry_run(
        &ns.name,
        &retarget(
            documents(&kustomize(&tree.path().join("overlays/plugins-volume"))),
            &ns.name,
        ),
    );
    let d = deployment(&objs);
    assert_eq!(
        env_value(&d, "MCP_RUNTIME_PLUGIN_DIR").as_deref(),
        Some("/etc/mcp-runtime/plugins")
    );
    let mounts = d["spec"]["template"]["spec"]["containers"][0]["volumeMounts"].to_string();
    assert!(mounts.contains("/etc/mcp-runtime/plugins"), "{mounts}");
}

/// The chart serving two namespaces, its RBAC applied to the real API server: the control
/// plane's ServiceAccount may run servers in exactly those two, hold its Lease at home, review
/// API callers' tokens, and nothing else (`kubectl auth can-i`, the API server's authorizer).
#[tokio::test]
async fn a_multi_namespace_chart_grants_rights_in_exactly_the_listed_namespaces() {
    let home = support::TestNamespace::new("chart-home").await;
    let a = support::TestNamespace::new("chart-team-a").await;
    let b = support::TestNamespace::new("chart-team-b").await;
    let outside = support::TestNamespace::new("chart-outside").await;
    let listed = format!("namespaces={{{},{}}}", a.name, b.name);
    let rendered = documents(&helm_template(
        &home.name,
        &["--set", &listed, "--set", "crds.install=false"],
    ));
    let rbac: Vec<Value> = rendered
        .into_iter()
        .filter(|o| {
            RBAC.contains(&o["kind"].as_str().unwrap_or_default()) || o["kind"] == "ServiceAccount"
        })
        .map(|mut o| {
            // Cluster-scoped names of their own, so that parallel runs do not collide.
            let own = |name: &Value| format!("{}-{}", name.as_str().unwrap(), home.name);
            if o["metadata"]["namespace"].is_null() {
                o["metadata"]["name"] = own(&o["metadata"]["name"]).into();
            }
            let bound = o["roleRef"]["name"].as_str().unwrap_or("system:");
            if o["roleRef"]["kind"] == "ClusterRole" && !bound.starts_with("system:") {
                o["roleRef"]["name"] = own(&o["roleRef"]["name"]).into();
            }
            o
        })
        .collect();
    let yaml = rbac
        .iter()
        .map(|o| serde_norway::to_string(o).unwrap())
        .collect::<Vec<_>>()
        .join("---\n");
    let (ok, out, err) =
        tools::kubectl_on_cluster(&["apply", "--server-side", "-f", "-"], Some(&yaml));
    assert!(ok, "{out}{err}");
    let sa = format!("system:serviceaccount:{}:mcp-runtime", home.name);
    let can = |verb: &str, resource: &str, ns: Option<&str>| {
        let mut args = vec!["auth", "can-i", verb, resource, "--as", &sa];
        if let Some(ns) = ns {
            args.extend(["-n", ns]);
        }
        let (_, out, _) = tools::kubectl_on_cluster(&args, None);
        out.trim() == "yes"
    };
    for ns in [&a.name, &b.name] {
        for (verb, resource) in [
            ("create", "mcpservers.mcp-runtime.dev"),
            ("patch", "mcpservers.mcp-runtime.dev/status"),
            ("patch", "deployments.apps"),
            ("watch", "secrets"),
            ("delete", "pods"),
            ("create", "events.events.k8s.io"),
        ] {
            assert!(can(verb, resource, Some(ns)), "{verb} {resource} in {ns}");
        }
        assert!(
            !can("update", "leases.coordination.k8s.io", Some(ns)),
            "no Lease in {ns}"
        );
        assert!(
            can("watch", &format!("namespaces/{ns}"), None),
            "the labels of {ns}"
        );
    }
    assert!(can(
        "update",
        "leases.coordination.k8s.io",
        Some(&home.name)
    ));
    assert!(can(
        "get",
        "secrets/mcp-runtime-api-token",
        Some(&home.name)
    ));
    assert!(can("create", "tokenreviews.authentication.k8s.io", None));
    assert!(can(
        "create",
        "subjectaccessreviews.authorization.k8s.io",
        None
    ));
    let outside_namespace = format!("namespaces/{}", outside.name);
    for (verb, resource, ns) in [
        ("patch", "deployments.apps", Some(home.name.as_str())),
        ("list", "secrets", Some(home.name.as_str())),
        (
            "create",
            "mcpservers.mcp-runtime.dev",
            Some(outside.name.as_str()),
        ),
        ("watch", "pods", Some(outside.name.as_str())),
        ("list", "deployments.apps", None),
        ("list", "nodes", None),
        ("list", "namespaces", None),
        ("get", outside_namespace.as_str(), None),
    ] {
        assert!(
            !can(verb, resource, ns),
            "{verb} {resource} in {ns:?} must be denied"
        );
    }
    let names: Vec<String> = rbac
        .iter()
        .filter(|o| o["metadata"]["namespace"].is_null())
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap().to_lowercase(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    let mut args = vec!["delete", "--ignore-not-found"];
    args.extend(names.iter().map(String::as_str));
    let _ = tools::kubectl_on_cluster(&args, None);
}
