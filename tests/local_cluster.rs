//! Proves the local cluster is real Kubernetes: server-side apply, the Deployment → ReplicaSet →
//! Pod machinery, kwok turning Pods Running, API-server validation, garbage collection through
//! ownerReferences, and our kwok stages reporting a kubelet's waiting reasons. Also applies what
//! `render` produces, so the API server itself judges our manifests.

mod support;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::conditions;
use mcp_runtime::render::{RenderContext, render_document};
use serde_json::json;
use support::{TestNamespace, wait_for};

fn deployment(name: &str, image: &str) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image}]}
            }
        }
    })
}

fn pod_running(pod: Option<&Pod>) -> bool {
    pod.and_then(|p| p.status.as_ref())
        .and_then(|s| s.phase.as_deref())
        == Some("Running")
}

async fn only_pod(ns: &TestNamespace, app: &str) -> Pod {
    let pods = ns.api::<Pod>();
    for _ in 0..300 {
        let list = pods
            .list(&ListParams::default().labels(&format!("app={app}")))
            .await
            .unwrap();
        if let Some(p) = list.items.into_iter().next() {
            return p;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no pod for {app} after 30s");
}

#[tokio::test]
async fn deployment_becomes_a_running_pod_on_a_kwok_node() {
    let ns = TestNamespace::new("machinery").await;
    let deployments = ns.api::<Deployment>();
    let ssa = PatchParams::apply("mcp-runtime-test").force();
    deployments
        .patch(
            "web",
            &ssa,
            &Patch::Apply(deployment("web", "registry.example/web:1")),
        )
        .await
        .unwrap();
    let d = wait_for(
        &deployments,
        "web",
        60,
        "Deployment available",
        |d: Option<&Deployment>| {
            d.and_then(|d| d.status.as_ref())
                .and_then(|s| s.available_replicas)
                == Some(1)
        },
    )
    .await;
    assert_eq!(
        d.metadata.managed_fields.unwrap()[0].manager.as_deref(),
        Some("mcp-runtime-test")
    );

    let rs = ns
        .api::<ReplicaSet>()
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(rs.items.len(), 1, "one ReplicaSet");
    let pod = only_pod(&ns, "web").await;
    let name = pod.metadata.name.clone().unwrap();
    let pod = wait_for(&ns.api::<Pod>(), &name, 60, "pod running", pod_running).await;
    assert_eq!(pod.spec.unwrap().node_name.as_deref(), Some("kwok-node-0"));
    assert!(
        pod.status.unwrap().pod_ip.is_some(),
        "kwok gives the pod an IP"
    );
}

#[tokio::test]
async fn the_api_server_validates_what_we_send() {
    let ns = TestNamespace::new("validation").await;
    let mut bad = deployment("bad", "x");
    bad["spec"]["template"]["metadata"]["labels"]["app"] = json!("other");
    let err = ns
        .api::<Deployment>()
        .patch(
            "bad",
            &PatchParams::apply("mcp-runtime-test"),
            &Patch::Apply(bad),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error, got {err}")
    };
    assert_eq!(status.code, 422);
    assert!(
        status
            .message
            .contains("`selector` does not match template `labels`"),
        "{}",
        status.message
    );

    // Server-side apply conflicts between two field managers are real too.
    let deployments = ns.api::<Deployment>();
    deployments
        .patch(
            "web",
            &PatchParams::apply("first"),
            &Patch::Apply(deployment("web", "a.io/a:1")),
        )
        .await
        .unwrap();
    let err = deployments
        .patch(
            "web",
            &PatchParams::apply("second"),
            &Patch::Apply(deployment("web", "a.io/a:2")),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected a conflict")
    };
    assert_eq!(status.code, 409, "{}", status.message);
}

#[tokio::test]
async fn deleting_an_owner_garbage_collects_what_it_owns() {
    let ns = TestNamespace::new("gc").await;
    let deployments = ns.api::<Deployment>();
    let owner = deployments
        .patch(
            "owner",
            &PatchParams::apply("t"),
            &Patch::Apply(deployment("owner", "a.io/a:1")),
        )
        .await
        .unwrap();
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "owned", "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "Deployment", "name": "owner",
            "uid": owner.metadata.uid.clone().unwrap(), "controller": true, "blockOwnerDeletion": true
        }]},
        "stringData": {"k": "v"}
    }))
    .unwrap();
    let secrets = ns.api::<Secret>();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    deployments
        .delete("owner", &Default::default())
        .await
        .unwrap();
    let uid = secret_uid(&secrets, "owned").await;
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        kube::runtime::wait::await_condition(
            secrets.clone(),
            "owned",
            conditions::is_deleted(&uid),
        ),
    )
    .await
    .expect("the garbage collector deletes the owned Secret within 60s")
    .unwrap();
}

async fn secret_uid(api: &kube::Api<Secret>, name: &str) -> String {
    match api.get_opt(name).await.unwrap() {
        Some(s) => s.metadata.uid.unwrap(),
        None => String::new(),
    }
}

#[tokio::test]
async fn broken_images_report_a_kubelets_waiting_reasons() {
    let ns = TestNamespace::new("broken").await;
    let deployments = ns.api::<Deployment>();
    let ssa = PatchParams::apply("t");
    for (name, image) in [
        ("pull", "registry.example/imagepullbackoff:1"),
        ("crash", "registry.example/crashloopbackoff:1"),
        ("oom", "registry.example/oomkilled:1"),
    ] {
        deployments
            .patch(name, &ssa, &Patch::Apply(deployment(name, image)))
            .await
            .unwrap();
    }
    let waiting = |pod: &Pod| {
        let cs = &pod.status.as_ref()?.container_statuses.as_ref()?[0];
        let reason = cs.state.as_ref()?.waiting.as_ref()?.reason.clone()?;
        let last = cs
            .last_state
            .as_ref()
            .and_then(|l| l.terminated.as_ref())
            .and_then(|t| t.reason.clone());
        Some((reason, last))
    };
    for (app, reason, last) in [
        ("pull", "ImagePullBackOff", None),
        ("crash", "CrashLoopBackOff", Some("Error")),
        ("oom", "CrashLoopBackOff", Some("OOMKilled")),
    ] {
        let name = only_pod(&ns, app).await.metadata.name.unwrap();
        let pod = wait_for(
            &ns.api::<Pod>(),
            &name,
            60,
            "waiting reason",
            |p: Option<&Pod>| {
                p.and_then(|p| p.status.as_ref())
                    .and_then(|s| s.container_statuses.as_ref())
                    .is_some()
            },
        )
        .await;
        assert_eq!(
            waiting(&pod),
            Some((reason.to_string(), last.map(str::to_string))),
            "{app}"
        );
    }
}

/// Everything `render` produces for the repository's examples is accepted by the API server
/// (its validation, not ours), and the Deployment turns into a Running pod.
#[tokio::test]
async fn rendered_examples_are_accepted_by_the_api_server() {
    let ns = TestNamespace::new("render").await;
    let ctx = RenderContext {
        namespace: ns.name.clone(),
        ..Default::default()
    };
    let ssa = PatchParams::apply("mcp-runtime").force();
    // The ServiceAccount admission plugin refuses pods whose ServiceAccount does not exist.
    let sa: k8s_openapi::api::core::v1::ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "payments-mcp"}})).unwrap();
    ns.api().create(&PostParams::default(), &sa).await.unwrap();
    for file in support::EXAMPLES {
        let doc = support::example(file);
        let m = render_document(&doc, &ctx).unwrap();
        for s in [&m.secret, &m.pull_secret].into_iter().flatten() {
            let name = s.metadata.name.clone().unwrap();
            ns.api::<Secret>()
                .patch(&name, &ssa, &Patch::Apply(s))
                .await
                .unwrap_or_else(|e| panic!("{file}: Secret {name} refused: {e}"));
        }
        let name = m.names.deployment.clone();
        ns.api::<Deployment>()
            .patch(&name, &ssa, &Patch::Apply(&m.deployment))
            .await
            .unwrap_or_else(|e| panic!("{file}: Deployment refused: {e}"));
        if let Some(svc) = &m.service {
            ns.api::<Service>()
                .patch(&m.names.service, &ssa, &Patch::Apply(svc))
                .await
                .unwrap_or_else(|e| panic!("{file}: Service refused: {e}"));
        }
        if doc.get("nodeSelector").is_some() {
            // No node carries `pool: mcp`: the real scheduler must say so.
            let selector = format!("mcp-runtime.dev/server={}", m.names.instance);
            let mut unschedulable = false;
            for _ in 0..300 {
                let pods = ns
                    .api::<Pod>()
                    .list(&ListParams::default().labels(&selector))
                    .await
                    .unwrap();
                unschedulable = pods.items.iter().any(|p| {
                    p.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|cs| {
                            cs.iter().any(|c| {
                                c.type_ == "PodScheduled"
                                    && c.reason.as_deref() == Some("Unschedulable")
                            })
                        })
                });
                if unschedulable {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            assert!(unschedulable, "{file}: pod should be Unschedulable");
            continue;
        }
        let want = m.deployment.spec.as_ref().unwrap().replicas;
        wait_for(
            &ns.api::<Deployment>(),
            &name,
            60,
            "rendered Deployment available",
            move |d: Option<&Deployment>| {
                d.and_then(|d| d.status.as_ref())
                    .and_then(|s| s.available_replicas)
                    == want
            },
        )
        .await;
    }
}
