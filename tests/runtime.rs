//! The runtime manager and controller against the real local cluster: lifecycle, secrets,
//! Services following the transport, migration of legacy bare Pods, status reasons, a killed
//! controller, and leader election.

mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod, Secret, Service};
use kube::api::{ListParams, PostParams};
use kube::{Api, ResourceExt};
use mcp_runtime::crd::resource::Phase;
use mcp_runtime::schema::SchemaKind;
use serde_json::{Value, json};
use support::{Runtime, eventually};

fn http_server(name: &str, secret: &str) -> Value {
    json!({
        "name": name,
        "image": "ghcr.io/example/mcp:1",
        "transport": {"type": "streamable-http", "port": 8082, "path": "/mcp"},
        "env": [
            {"name": "PLAIN", "value": "p"},
            {"name": "TOKEN", "secretValue": secret}
        ]
    })
}

async fn replicas(rt: &Runtime, name: &str) -> Option<i32> {
    rt.ns
        .api::<Deployment>()
        .get(name)
        .await
        .unwrap()
        .spec
        .unwrap()
        .replicas
}

async fn replicaset_count(rt: &Runtime) -> usize {
    rt.ns
        .api::<ReplicaSet>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .len()
}

async fn template_annotation(rt: &Runtime, deployment: &str, key: &str) -> Option<String> {
    support::template_annotation(&rt.ns.api(), deployment, key).await
}

#[tokio::test]
async fn full_lifecycle_on_real_objects() {
    let rt = Runtime::new("lifecycle").await;
    let created = rt
        .manager
        .create(&http_server("GitHub", "s3cr3t-1"))
        .await
        .unwrap();
    assert_eq!(created.name_any(), "github");

    // Create: Running through kwok, with the endpoint and a schema-valid status.
    let m = rt
        .wait_status("github", 60, "running", |s| s.phase == Phase::Running)
        .await;
    let status = m.status.unwrap();
    assert_eq!(
        status.endpoint.as_deref(),
        Some(&*format!("http://mcp-github.{}.svc:8082/mcp", rt.ns.name))
    );
    SchemaKind::RuntimeStatus
        .validate(&serde_json::to_value(&status).unwrap())
        .unwrap();
    assert_eq!(replicas(&rt, "mcp-github").await, Some(1));
    rt.ns
        .api::<Service>()
        .get("mcp-github")
        .await
        .expect("HTTP server has a Service");

    // MCP readiness: the local cluster's Pods are simulated, so the probe (at the pod's IP)
    // says NotReachable and names what it could not reach, and nothing else changes.
    let ip = pod_ip(&rt, "mcp-github").await;
    let url = format!("http://{ip}:8082/mcp");
    let m = rt
        .wait_status("github", 30, "an MCP probe of the pod", move |s| {
            mcp_failed_at(s, &url)
        })
        .await;
    let mcp_ready = support::condition(m.clone(), "McpReady");
    assert_eq!(mcp_ready.status, "False");
    let status = m.status.unwrap();
    assert_eq!(
        status.phase,
        Phase::Running,
        "the probe never fails a server"
    );
    assert_eq!(status.mcp, None);
    SchemaKind::RuntimeStatus
        .validate(&serde_json::to_value(&status).unwrap())
        .unwrap();

    // Secret values live only in the Secret.
    let raw = serde_json::to_string(&rt.mcps().get("github").await.unwrap()).unwrap();
    assert!(
        !raw.contains("s3cr3t-1"),
        "secret value stored in the McpServer: {raw}"
    );
    let secret = rt
        .ns
        .api::<Secret>()
        .get("mcp-github-secrets")
        .await
        .unwrap();
    assert_eq!(secret.data.unwrap()["TOKEN"].0, b"s3cr3t-1");
    let d = rt.ns.api::<Deployment>().get("mcp-github").await.unwrap();
    assert!(!serde_json::to_string(&d).unwrap().contains("s3cr3t-1"));

    // Update: a rotated secret changes the pod template, so the pods roll.
    let before = template_annotation(&rt, "mcp-github", "mcp-runtime.dev/secret-revision").await;
    assert!(before.is_some());
    rt.manager
        .update(&http_server("GitHub", "s3cr3t-2"), None)
        .await
        .unwrap();
    let rotated = eventually(30, || {
        let (rt, before) = (&rt, &before);
        async move {
            &template_annotation(rt, "mcp-github", "mcp-runtime.dev/secret-revision").await
                != before
        }
    })
    .await;
    assert!(rotated, "secret rotation must change the pod template");

    // A hand edit of the Secret's data leaves the API's data hash stale: the controller then
    // stamps the Secret's resourceVersion instead, so the pods still roll.
    let edited = rt
        .ns
        .api::<Secret>()
        .patch(
            "mcp-github-secrets",
            &kube::api::PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..Default::default()
            },
            &kube::api::Patch::Merge(json!({"stringData": {"TOKEN": "edited-by-hand"}})),
        )
        .await
        .unwrap();
    let want = format!("rv-{}", edited.metadata.resource_version.unwrap());
    let rolled = eventually(30, || {
        let (rt, want) = (&rt, &want);
        async move {
            template_annotation(rt, "mcp-github", "mcp-runtime.dev/secret-revision")
                .await
                .as_ref()
                == Some(want)
        }
    })
    .await;
    assert!(
        rolled,
        "a hand edit of the Secret must roll the pods ({want})"
    );

    // Stop: scaled to zero, Service and Secret kept.
    rt.manager.stop("github").await.unwrap();
    rt.wait_status("github", 60, "stopped", |s| s.phase == Phase::Stopped)
        .await;
    assert_eq!(replicas(&rt, "mcp-github").await, Some(0));
    rt.ns
        .api::<Service>()
        .get("mcp-github")
        .await
        .expect("Service kept while stopped");
    rt.ns
        .api::<Secret>()
        .get("mcp-github-secrets")
        .await
        .expect("Secret kept while stopped");

    // Start again.
    rt.manager.start("github").await.unwrap();
    rt.wait_status("github", 60, "running again", |s| s.phase == Phase::Running)
        .await;
    assert_eq!(replicas(&rt, "mcp-github").await, Some(1));

    // Restart: a new pod-template annotation, hence a new ReplicaSet.
    let rs_before = replicaset_count(&rt).await;
    rt.manager.restart("github").await.unwrap();
    let restarted = eventually(30, || async {
        template_annotation(&rt, "mcp-github", "mcp-runtime.dev/restarted-at")
            .await
            .is_some()
    })
    .await;
    assert!(restarted, "restart annotation reaches the pod template");
    let rolled = eventually(30, || async { replicaset_count(&rt).await > rs_before }).await;
    assert!(rolled, "a restart rolls out a new ReplicaSet");

    // Transport change: the Service goes away.
    let mut stdio = http_server("GitHub", "s3cr3t-2");
    stdio["transport"] = json!({"type": "stdio"});
    rt.manager.update(&stdio, None).await.unwrap();
    let services = rt.ns.api::<Service>();
    let gone = eventually(30, || async {
        services.get_opt("mcp-github").await.unwrap().is_none()
    })
    .await;
    assert!(
        gone,
        "Service removed when the server stops speaking streamable-http"
    );
    let m = rt
        .wait_status("github", 60, "stdio running", |s| {
            s.phase == Phase::Running && s.endpoint.is_none()
        })
        .await;
    assert!(m.status.clone().unwrap().service_name.is_none());
    assert_eq!(
        support::condition(m, "McpReady").reason,
        "NoEndpoint",
        "an unbridged stdio server has nothing to probe"
    );

    // Remove: everything is garbage-collected.
    rt.manager.remove("github").await.unwrap();
    let clean = eventually(30, || async {
        let d = rt
            .ns
            .api::<Deployment>()
            .get_opt("mcp-github")
            .await
            .unwrap();
        let s = rt
            .ns
            .api::<Secret>()
            .get_opt("mcp-github-secrets")
            .await
            .unwrap();
        d.is_none() && s.is_none()
    })
    .await;
    assert!(
        clean,
        "Deployment and Secret garbage-collected with the McpServer"
    );
}

#[tokio::test]
async fn create_collisions_and_unknown_servers_are_named() {
    let rt = Runtime::new("errors").await;
    rt.manager.create(&http_server("dup", "x")).await.unwrap();
    let err = rt
        .manager
        .create(&http_server("DUP", "y"))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "server dup already exists");
    let err = rt.manager.stop("nope").await.unwrap_err();
    assert_eq!(err.to_string(), "server nope not found");
    let bad = json!({"name": "bad", "image": "x.io/y:1", "replicas": 0});
    let err = rt.manager.create(&bad).await.unwrap_err().to_string();
    assert!(err.contains("/replicas: must be at least 1"), "{err}");
    assert!(
        rt.mcps().get_opt("bad").await.unwrap().is_none(),
        "nothing half-applied"
    );
}

#[tokio::test]
async fn legacy_bare_pods_are_migrated_and_replicaset_pods_left_alone() {
    let rt = Runtime::new("migrate").await;
    let pods = rt.ns.api::<Pod>();
    let bare: Pod = serde_json::from_value(json!({
        "metadata": {"name": "mcp-legacy", "labels": {"app": "mcp-server", "mcp-server-id": "legacy"}},
        "spec": {"containers": [{"name": "mcp-server", "image": "x.io/legacy:1", "stdin": true}]}
    }))
    .unwrap();
    let bare = pods.create(&PostParams::default(), &bare).await.unwrap();

    // A Pod named like a server's Deployment but owned by a (real) ReplicaSet stays.
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "keeper"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"keeper": "yes"}},
                 "template": {"metadata": {"labels": {"keeper": "yes"}},
                              "spec": {"containers": [{"name": "c", "image": "x.io/k:1"}]}}}
    }))
    .unwrap();
    let rs = rt
        .ns
        .api::<ReplicaSet>()
        .create(&PostParams::default(), &rs)
        .await
        .unwrap();
    let kept: Pod = serde_json::from_value(json!({
        "metadata": {"name": "mcp-kept", "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "keeper", "uid": rs.uid().unwrap()
        }]},
        "spec": {"containers": [{"name": "c", "image": "x.io/k:1"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &kept).await.unwrap();

    for name in ["legacy", "kept"] {
        rt.manager
            .create(&json!({"name": name, "image": "x.io/mcp:1"}))
            .await
            .unwrap();
    }
    rt.wait_status("legacy", 90, "legacy running", |s| {
        s.phase == Phase::Running
    })
    .await;
    rt.wait_status("kept", 90, "kept running", |s| s.phase == Phase::Running)
        .await;

    let now = pods.get_opt("mcp-legacy").await.unwrap();
    assert!(
        now.is_none_or(|p| p.uid() != bare.uid()),
        "the bare pod was deleted"
    );
    assert!(
        pods.get_opt("mcp-kept").await.unwrap().is_some(),
        "the ReplicaSet-owned pod stays"
    );
    rt.ns
        .api::<Deployment>()
        .get("mcp-legacy")
        .await
        .expect("Deployment created after migration");

    let events: Api<Event> = rt.ns.api();
    let found = eventually(30, || async {
        let list = events.list(&ListParams::default()).await.unwrap();
        list.items.iter().any(|e| {
            e.reason.as_deref() == Some("MigratedLegacyPod")
                && e.involved_object.name.as_deref() == Some("legacy")
        })
    })
    .await;
    assert!(found, "a MigratedLegacyPod event on the McpServer");
}

#[tokio::test]
async fn status_shows_the_containers_real_reasons() {
    let rt = Runtime::new("reasons").await;
    rt.manager
        .create(&json!({"name": "pull", "image": "registry.example/imagepullbackoff:1"}))
        .await
        .unwrap();
    rt.manager
        .create(&json!({"name": "crash", "image": "registry.example/crashloopbackoff:1"}))
        .await
        .unwrap();
    rt.manager
        .create(&json!({"name": "oom", "image": "registry.example/oomkilled:1"}))
        .await
        .unwrap();
    let reason =
        |s: &mcp_runtime::crd::McpServerStatus| s.last_error.as_ref().map(|e| e.reason.clone());
    let m = rt
        .wait_status("pull", 60, "ImagePullBackOff", move |s| {
            reason(s).as_deref() == Some("ImagePullBackOff")
        })
        .await;
    assert_eq!(
        m.status.as_ref().unwrap().phase,
        Phase::Starting,
        "a pull back-off may heal: not Failed"
    );
    let m = rt
        .wait_status("crash", 60, "CrashLoopBackOff", move |s| {
            reason(s).as_deref() == Some("CrashLoopBackOff")
        })
        .await;
    assert_eq!(m.status.as_ref().unwrap().phase, Phase::Failed);
    let m = rt
        .wait_status("oom", 60, "OOMKilled", move |s| {
            reason(s).as_deref() == Some("OOMKilled")
        })
        .await;
    assert_eq!(m.status.as_ref().unwrap().phase, Phase::Failed);
    for name in ["pull", "crash", "oom"] {
        let s = rt.mcps().get(name).await.unwrap().status.unwrap();
        SchemaKind::RuntimeStatus
            .validate(&serde_json::to_value(&s).unwrap())
            .unwrap();
    }
}

#[tokio::test]
async fn an_invalid_resource_is_not_accepted_and_says_where() {
    let rt = Runtime::new("invalid").await;
    // kubectl-style: the CRD admits it (cross-field rules are not structural), the controller
    // refuses it with the JSON path.
    let mcp: mcp_runtime::crd::McpServer = serde_json::from_value(json!({
        "apiVersion": "mcp-runtime.dev/v1alpha1", "kind": "McpServer",
        "metadata": {"name": "twosources"},
        "spec": {"image": "x.io/y:1", "env": [{"name": "A", "value": "1", "configMapKeyRef": {"name": "c", "key": "k"}}]}
    }))
    .unwrap();
    rt.mcps()
        .create(&PostParams::default(), &mcp)
        .await
        .unwrap();
    let m = rt
        .wait_status("twosources", 30, "rejected", |s| s.phase == Phase::Failed)
        .await;
    let accepted = support::condition(m, "Accepted");
    assert_eq!(
        (accepted.status.as_str(), accepted.reason.as_str()),
        ("False", "InvalidSpec")
    );
    assert!(accepted.message.contains("/env/0"), "{}", accepted.message);
    assert!(
        rt.ns
            .api::<Deployment>()
            .get_opt("mcp-twosources")
            .await
            .unwrap()
            .is_none()
    );

    // Structural rules are the API server's: it refuses an out-of-range port itself.
    let bad: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "mcp-runtime.dev/v1alpha1", "kind": "McpServer",
        "metadata": {"name": "badport"},
        "spec": {"image": "x.io/y:1", "transport": {"type": "streamable-http", "port": 70000}}
    }))
    .unwrap();
    let resource = kube::api::ApiResource::erase::<mcp_runtime::crd::McpServer>(&());
    let dynamic: Api<kube::api::DynamicObject> =
        Api::namespaced_with(rt.ns.client.clone(), &rt.ns.name, &resource);
    let err = dynamic
        .create(&PostParams::default(), &bad)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("spec.transport.port"), "{err}");
}

#[tokio::test]
async fn a_killed_controller_is_replaced_and_converges_without_duplicates() {
    let mut rt = Runtime::new("killed").await;
    for i in 0..20 {
        rt.manager
            .create(&json!({"name": format!("s{i}"), "image": "x.io/mcp:1"}))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    rt.kill_controller();
    rt.start_controller();
    for i in 0..20 {
        rt.wait_status(&format!("s{i}"), 120, "converged", |s| {
            s.phase == Phase::Running
        })
        .await;
    }
    let deployments = rt
        .ns
        .api::<Deployment>()
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(
        deployments.items.len(),
        20,
        "one Deployment per server, none duplicated"
    );
    let rs = rt
        .ns
        .api::<ReplicaSet>()
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(rs.items.len(), 20, "no extra rollouts");
    for d in deployments.items {
        let owners = d.metadata.owner_references.unwrap();
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].kind, "McpServer");
    }
}

#[tokio::test]
async fn only_one_of_two_replicas_leads_and_the_standby_takes_over() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let ns = support::TestNamespace::new("leader").await;
    let leading = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for id in ["a", "b"] {
        let (client, nsn, leading, max_seen) = (
            ns.client.clone(),
            ns.name.clone(),
            leading.clone(),
            max_seen.clone(),
        );
        tasks.push(tokio::spawn(async move {
            mcp_runtime::controller::leader::run_while_leader(
                client,
                &nsn,
                id.to_string(),
                move |_term| {
                    let (leading, max_seen) = (leading.clone(), max_seen.clone());
                    async move {
                        let now = leading.fetch_add(1, Ordering::SeqCst) + 1;
                        max_seen.fetch_max(now, Ordering::SeqCst);
                        // Stay "leading" until aborted; the guard counts down on abort.
                        struct Guard(Arc<AtomicUsize>);
                        impl Drop for Guard {
                            fn drop(&mut self) {
                                self.0.fetch_sub(1, Ordering::SeqCst);
                            }
                        }
                        let _g = Guard(leading);
                        std::future::pending::<()>().await;
                    }
                },
                std::future::pending(),
            )
            .await
            .unwrap();
        }));
    }
    let mut waited = 0;
    while leading.load(Ordering::SeqCst) == 0 && waited < 300 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(leading.load(Ordering::SeqCst), 1, "one leader");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(max_seen.load(Ordering::SeqCst), 1, "never two leaders");

    // Kill the leader without releasing the Lease: the standby takes over within the Lease.
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = ns.api();
    let holder = leases
        .get("mcp-runtime-controller")
        .await
        .unwrap()
        .spec
        .unwrap()
        .holder_identity
        .unwrap();
    let idx = if holder == "a" { 0 } else { 1 };
    tasks[idx].abort();
    let started = std::time::Instant::now();
    let mut new_holder = holder.clone();
    while started.elapsed() < Duration::from_secs(40) {
        new_holder = leases
            .get("mcp-runtime-controller")
            .await
            .unwrap()
            .spec
            .unwrap()
            .holder_identity
            .unwrap_or_default();
        if new_holder != holder && !new_holder.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_ne!(new_holder, holder, "the standby took over");
    let took = started.elapsed();
    assert!(
        took <= Duration::from_secs(mcp_runtime::controller::leader::LEASE_SECONDS + 10),
        "took {took:?}"
    );
}

#[tokio::test]
async fn hand_edits_of_managed_objects_are_undone() {
    let rt = Runtime::new("drift").await;
    rt.manager.create(&http_server("drift", "v")).await.unwrap();
    rt.wait_status("drift", 60, "running", |s| s.phase == Phase::Running)
        .await;
    let deployments = rt.ns.api::<Deployment>();
    let services = rt.ns.api::<Service>();

    // Someone scales the Deployment by hand: the spec is restored.
    let patch = json!({"spec": {"replicas": 5}});
    deployments
        .patch(
            "mcp-drift",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
    let restored = eventually(30, || async { replicas(&rt, "mcp-drift").await == Some(1) }).await;
    assert!(restored, "hand-scaled Deployment restored to 1 replica");

    // Someone deletes the Service and the Deployment: both come back.
    services
        .delete("mcp-drift", &Default::default())
        .await
        .unwrap();
    deployments
        .delete("mcp-drift", &Default::default())
        .await
        .unwrap();
    let back = eventually(30, || async {
        let svc = services.get_opt("mcp-drift").await.unwrap();
        let dep = deployments.get_opt("mcp-drift").await.unwrap();
        svc.is_some() && dep.is_some_and(|d| d.metadata.deletion_timestamp.is_none())
    })
    .await;
    assert!(back, "deleted Service and Deployment recreated");
    rt.wait_status("drift", 60, "running again", |s| s.phase == Phase::Running)
        .await;

    // The server's own Secret deleted by hand cannot be recreated (its values exist nowhere
    // else): the status says so by name, and sending the values again heals it.
    rt.ns
        .api::<Secret>()
        .delete("mcp-drift-secrets", &Default::default())
        .await
        .unwrap();
    let m = rt
        .wait_status("drift", 30, "own Secret missing", |s| {
            support::has_condition(s, "Accepted", "MissingReference")
        })
        .await;
    let accepted = support::condition(m, "Accepted");
    assert!(
        accepted.message.contains("mcp-drift-secrets"),
        "{}",
        accepted.message
    );
    rt.manager
        .update(&http_server("drift", "v2"), None)
        .await
        .unwrap();
    rt.wait_status("drift", 60, "healed by new values", |s| {
        s.phase == Phase::Running
            && s.conditions
                .iter()
                .any(|c| c.type_ == "Accepted" && c.status == "True")
    })
    .await;
}

#[tokio::test]
async fn a_missing_referenced_secret_blocks_then_heals_and_its_rotation_rolls_the_pods() {
    let rt = Runtime::new("refs").await;
    let doc = json!({"name": "refd", "image": "ghcr.io/acme/refd:1",
        "env": [{"name": "TOKEN", "secretKeyRef": {"name": "upstream-token", "key": "token"}}]});
    rt.manager.create(&doc).await.unwrap();
    let m = rt
        .wait_status("refd", 60, "not accepted", |s| {
            support::has_condition(s, "Accepted", "MissingReference")
        })
        .await;
    let accepted = support::condition(m, "Accepted");
    assert!(
        accepted.message.contains("Secret upstream-token"),
        "{}",
        accepted.message
    );
    let secrets: Api<Secret> = rt.ns.api();
    let secret = |value: &str| -> Secret {
        serde_json::from_value(json!({"metadata": {"name": "upstream-token"},
            "stringData": {"token": value}}))
        .unwrap()
    };
    secrets
        .create(&PostParams::default(), &secret("first-value"))
        .await
        .unwrap();
    // Heals by itself once the Secret appears (re-checked every 30 s at most).
    rt.wait_status("refd", 60, "running once the Secret exists", |s| {
        s.phase == Phase::Running
    })
    .await;
    let hash = "mcp-runtime.dev/references-hash";
    let first = template_annotation(&rt, "mcp-refd", hash)
        .await
        .expect("hash");
    assert!(!first.contains("first-value"));
    let before = replicaset_count(&rt).await;
    secrets
        .replace("upstream-token", &PostParams::default(), &{
            let mut s = secrets.get("upstream-token").await.unwrap();
            s.data = None;
            s.string_data = Some([("token".to_string(), "rotated".to_string())].into());
            s
        })
        .await
        .unwrap();
    let rolled = eventually(60, || async {
        template_annotation(&rt, "mcp-refd", hash).await.as_deref() != Some(first.as_str())
            && replicaset_count(&rt).await > before
    })
    .await;
    assert!(
        rolled,
        "a rotation changed the template hash and made a new ReplicaSet"
    );
}

/// The CIDRs the NetworkPolicy `mcp-<name>` lets the server reach (None: no policy).
async fn egress_cidrs(rt: &Runtime, name: &str) -> Option<Vec<String>> {
    use k8s_openapi::api::networking::v1::NetworkPolicy;
    let np = rt.ns.api::<NetworkPolicy>().get_opt(name).await.unwrap()?;
    Some(
        np.spec?
            .egress
            .unwrap_or_default()
            .into_iter()
            .flat_map(|rule| rule.to.unwrap_or_default())
            .filter_map(|peer| peer.ip_block.map(|b| b.cidr))
            .collect(),
    )
}

#[tokio::test]
async fn the_network_policy_follows_the_spec_and_hand_edits_are_undone() {
    use k8s_openapi::api::networking::v1::NetworkPolicy;
    let rt = Runtime::new("netpol").await;
    let mut server = http_server("fenced", "v");
    server["network"] = json!({"mode": "restricted", "allow": [{"name": "upstream", "cidr": "203.0.113.0/24", "ports": [443]}]});
    rt.manager.create(&server).await.unwrap();
    rt.wait_status("fenced", 60, "running", |s| s.phase == Phase::Running)
        .await;
    let has = |cidr: &'static str| {
        let rt = &rt;
        move || async move {
            egress_cidrs(rt, "mcp-fenced")
                .await
                .is_some_and(|c| c.iter().any(|c| c == cidr))
        }
    };
    assert!(
        eventually(30, has("203.0.113.0/24")).await,
        "restricted: the named CIDR is allowed"
    );
    assert_eq!(
        egress_cidrs(&rt, "mcp-fenced").await.unwrap(),
        ["203.0.113.0/24"],
        "restricted: nothing else but DNS (which has no ipBlock)"
    );

    // A spec change that touches only the NetworkPolicy still reaches it.
    server["network"]["allow"][0]["cidr"] = json!("198.51.100.0/24");
    rt.manager.update(&server, None).await.unwrap();
    assert!(
        eventually(30, has("198.51.100.0/24")).await,
        "the new allow-list is applied"
    );

    // Hand edits: egress opened to everything, then the policy deleted: both undone.
    let policies = rt.ns.api::<NetworkPolicy>();
    policies
        .patch(
            "mcp-fenced",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"egress": [{}]}})),
        )
        .await
        .unwrap();
    let restored = eventually(30, || async {
        egress_cidrs(&rt, "mcp-fenced").await.as_deref() == Some(&["198.51.100.0/24".to_string()])
    })
    .await;
    assert!(restored, "an egress opened by hand is closed again");
    policies
        .delete("mcp-fenced", &Default::default())
        .await
        .unwrap();
    assert!(
        eventually(30, has("198.51.100.0/24")).await,
        "a deleted NetworkPolicy is recreated"
    );

    // Mode off: the policy goes.
    server["network"] = json!({"mode": "off"});
    rt.manager.update(&server, None).await.unwrap();
    let gone = eventually(30, || async {
        egress_cidrs(&rt, "mcp-fenced").await.is_none()
    })
    .await;
    assert!(gone, "mode off removes the NetworkPolicy");
}

#[tokio::test]
async fn a_stdio_server_with_a_command_is_bridged_and_served_like_an_http_server() {
    let rt = Runtime::new("bridged").await;
    let server = json!({
        "name": "files",
        "image": "ghcr.io/example/mcp-files:1",
        "transport": {"type": "stdio"},
        "command": ["node", "/app/index.js"],
        "args": ["--root", "/data"]
    });
    rt.manager.create(&server).await.unwrap();
    let m = rt
        .wait_status("files", 60, "running", |s| s.phase == Phase::Running)
        .await;
    let status = m.status.clone().unwrap();
    assert_eq!(
        status.endpoint.as_deref(),
        Some(&*format!("http://mcp-files.{}.svc:8080/mcp", rt.ns.name)),
        "an endpoint like an HTTP server's"
    );
    // The real API server took the bridged Deployment: init container, shared emptyDir, the
    // original command behind `bridge --`, HTTP probes.
    let d = rt.ns.api::<Deployment>().get("mcp-files").await.unwrap();
    let pod = d.spec.unwrap().template.spec.unwrap();
    let init = pod.init_containers.unwrap_or_default();
    assert_eq!(
        init.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["install-bridge"]
    );
    let main = &pod.containers[0];
    let command = main.command.clone().unwrap_or_default();
    let dashdash = command
        .iter()
        .position(|a| a == "--")
        .expect("bridge -- <command>");
    assert_eq!(command[..2], ["/mcp-bridge/mcp-runtime", "bridge"]);
    assert_eq!(command[dashdash + 1..], ["node", "/app/index.js"]);
    assert_eq!(main.args.clone().unwrap_or_default(), ["--root", "/data"]);
    assert_eq!(
        main.readiness_probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .and_then(|h| h.path.as_deref()),
        Some("/readyz")
    );
    assert!(!main.stdin.unwrap_or(false), "no stdin: the bridge owns it");
    let svc = rt.ns.api::<Service>().get("mcp-files").await.unwrap();
    let ports: Vec<i32> = svc
        .spec
        .unwrap()
        .ports
        .unwrap_or_default()
        .iter()
        .map(|p| p.port)
        .collect();
    assert_eq!(ports, [8080]);
    // And it is probed like one, at the bridge's port (unreachable from here: the Pods are
    // simulated).
    let ip = pod_ip(&rt, "mcp-files").await;
    let url = format!("http://{ip}:8080/mcp");
    rt.wait_status("files", 30, "an MCP probe of the pod", move |s| {
        mcp_failed_at(s, &url)
    })
    .await;
}

#[tokio::test]
async fn with_the_gate_on_ready_means_the_server_answered_over_mcp() {
    // The local cluster's Pods are simulated, so no server answers: with the gate on, pods
    // that are ready are not enough, and the status says why.
    let rt = Runtime::new_with("mcpgate", |c| c.mcp_probe.gates_ready = true).await;
    rt.manager.create(&http_server("gated", "v")).await.unwrap();
    let m = rt
        .wait_status("gated", 60, "held back by the MCP probe", |s| {
            s.phase == Phase::Degraded && support::has_condition(s, "Ready", "NotReachable")
        })
        .await;
    let status = m.status.clone().unwrap();
    assert_eq!(status.ready_replicas, Some(1), "the pod itself is ready");
    let ip = pod_ip(&rt, "mcp-gated").await;
    let message = support::condition(m, "Ready").message;
    assert!(message.contains(&ip), "names the endpoint: {message}");
    // A server with nothing to probe is not held back.
    rt.manager
        .create(&json!({"name": "plain-stdio", "image": "ghcr.io/example/mcp:1", "transport": {"type": "stdio"}}))
        .await
        .unwrap();
    rt.wait_status("plain-stdio", 60, "running", |s| s.phase == Phase::Running)
        .await;
}

/// Counts how often the controller runs the policies and asks for their revision (once per
/// reconcile that gets that far).
#[derive(Default)]
struct CountingPolicies {
    runs: std::sync::atomic::AtomicUsize,
    asked: std::sync::atomic::AtomicUsize,
}

impl mcp_runtime::plugin::PolicyChain for CountingPolicies {
    fn apply(
        &self,
        _subject: &mcp_runtime::plugin::Subject<'_>,
        _manifests: &mut mcp_runtime::render::Manifests,
    ) -> Result<mcp_runtime::plugin::PolicyOutcome, mcp_runtime::plugin::PolicyRejection> {
        self.runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(Default::default())
    }

    fn revision(&self) -> Option<u64> {
        self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Some(0)
    }
}

#[tokio::test]
async fn reconciles_with_unchanged_inputs_run_no_policies() {
    use std::sync::atomic::Ordering::SeqCst;
    let counting = std::sync::Arc::new(CountingPolicies::default());
    let rt = Runtime::new_with_policies("memo", |_| {}, counting.clone()).await;
    rt.manager.create(&http_server("memo", "v")).await.unwrap();
    rt.wait_status("memo", 60, "probed", |s| {
        s.phase == Phase::Running && support::has_condition(s, "McpReady", "NotReachable")
    })
    .await;
    let (runs, asked) = (counting.runs.load(SeqCst), counting.asked.load(SeqCst));
    assert!(runs >= 1);

    // The probe's retry (5 s after its failure) and a label added to the McpServer both
    // reconcile it; neither changes what is rendered, so the policies do not run.
    rt.mcps()
        .patch(
            "memo",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
        )
        .await
        .unwrap();
    let reconciled = eventually(30, || async { counting.asked.load(SeqCst) >= asked + 2 }).await;
    assert!(reconciled, "the server was reconciled again");
    assert_eq!(
        counting.runs.load(SeqCst),
        runs,
        "no policy run for unchanged inputs"
    );

    // A spec change does run them (once per changed input).
    rt.manager
        .update(&http_server("memo", "v2"), None)
        .await
        .unwrap();
    let ran = eventually(30, || async { counting.runs.load(SeqCst) > runs }).await;
    assert!(ran, "a changed server runs the policies");
}

/// The own-Secret check trusts the watch cache only when the cache holds the Secret. Right after
/// a create the cache may not have seen it yet; one GET then tells "not seen yet" (wait for the
/// watch) from "gone" (MissingReference), so a new server never flashes a missing reference.
#[tokio::test]
async fn own_secret_not_yet_in_the_cache_is_not_missing() {
    use mcp_runtime::runtime::references::{Checked, OwnSecret, check};
    let ns = support::TestNamespace::new("unseen").await;
    let spec: mcp_runtime::crd::McpServerSpec = serde_json::from_value(json!({
        "name": "Unseen", "image": "ghcr.io/example/unseen:1",
        "transport": {"type": "stdio"},
        "env": [{"name": "API_KEY",
                 "secretKeyRef": {"name": "mcp-unseen-secrets", "key": "API_KEY"}}]
    }))
    .unwrap();
    let own = |exists| OwnSecret {
        name: "mcp-unseen-secrets",
        exists,
    };
    let checked = check(&ns.client, &ns.name, &spec, own(false))
        .await
        .unwrap();
    match checked {
        Checked::Missing(m) => assert!(m[0].contains("mcp-unseen-secrets"), "{m:?}"),
        other => panic!("no Secret anywhere is missing, got {other:?}"),
    }
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "mcp-unseen-secrets"},
        "stringData": {"API_KEY": "k-unseen"}
    }))
    .unwrap();
    ns.api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    assert_eq!(
        check(&ns.client, &ns.name, &spec, own(false))
            .await
            .unwrap(),
        Checked::Unseen,
        "in the API server but not in the cache: wait for the watch"
    );
    assert_eq!(
        check(&ns.client, &ns.name, &spec, own(true)).await.unwrap(),
        Checked::Resolved(None),
        "in the cache: no request, nothing else to check"
    );
}

/// An evicted pod (phase Failed) of a server is deleted by the reaper once its ReplicaSet has
/// replaced it, with an Event on the server; a bare failed pod with our labels is left alone.
#[tokio::test]
async fn failed_pods_are_reaped_and_bare_ones_left_alone() {
    use kube::api::{Patch, PatchParams};
    let rt = Runtime::new_with("reaper", |c| c.failed_pod_reap_interval_seconds = 1).await;
    rt.manager
        .create(&json!({"name": "evicted", "image": "x.io/mcp:1"}))
        .await
        .unwrap();
    rt.wait_status("evicted", 90, "running", |s| s.phase == Phase::Running)
        .await;
    let pods: Api<Pod> = rt.ns.api();
    let selector = ListParams::default().labels("mcp-runtime.dev/server");
    let first = pods.list(&selector).await.unwrap().items;
    assert_eq!(first.len(), 1, "one pod before the eviction");
    let victim = first[0].clone();

    // A bare pod with the server's labels that no scheduler places (so kwok leaves it alone),
    // without the ReplicaSet's pod-template-hash (else the ReplicaSet adopts it, then deletes it
    // as one pod too many).
    let mut labels = victim.labels().clone();
    labels.remove("pod-template-hash");
    let mut bare: Pod = serde_json::from_value(json!({
        "metadata": {"name": "bare-failed", "labels": labels},
        "spec": {"nodeSelector": {"nowhere": "true"},
                 "containers": [{"name": "c", "image": "x.io/mcp:1"}]}
    }))
    .unwrap();
    bare = pods.create(&PostParams::default(), &bare).await.unwrap();

    let failed = json!({"status": {"phase": "Failed", "reason": "Evicted",
                                   "message": "The node was low on resource: memory."}});
    for name in [victim.name_any(), bare.name_any()] {
        pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(&failed))
            .await
            .unwrap();
    }

    let reaped = eventually(30, || async {
        pods.get_opt(&victim.name_any())
            .await
            .unwrap()
            .is_none_or(|p| p.uid() != victim.uid())
    })
    .await;
    assert!(reaped, "the evicted pod was deleted");
    let events: Api<Event> = rt.ns.api();
    let event = eventually(30, || async {
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("FailedPodDeleted")
                    && e.involved_object.name.as_deref() == Some("evicted")
                    && e.message.as_deref().is_some_and(|m| {
                        m.contains(&victim.name_any()) && m.contains("Evicted: The node was low")
                    })
            })
    })
    .await;
    assert!(
        event,
        "a FailedPodDeleted event on the McpServer naming the pod and why"
    );
    let replaced = eventually(30, || async {
        pods.list(&selector).await.unwrap().items.iter().any(|p| {
            p.uid() != victim.uid()
                && p.uid() != bare.uid()
                && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        })
    })
    .await;
    assert!(replaced, "the ReplicaSet's replacement runs");
    // Several sweeps (1 s apart) later, the bare pod is still there.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let still = pods.get_opt("bare-failed").await.unwrap();
    assert!(
        still.is_some_and(|p| p.uid() == bare.uid()),
        "a failed pod no ReplicaSet controls is not ours to delete"
    );
}

/// A server runs in the RuntimeClass it names, or in the control plane's default; a RuntimeClass
/// that does not exist is named in the server's status (the API server refuses its pods).
#[tokio::test]
async fn runtime_classes_from_the_spec_or_the_default_and_a_missing_one_is_named() {
    use k8s_openapi::api::node::v1::RuntimeClass;
    use kube::api::DeleteParams;
    let client = support::client().await;
    let classes: Api<RuntimeClass> = Api::all(client);
    // Cluster-scoped: a name of this test's own, removed at the end.
    let class = format!("mcp-sandbox-{}", std::process::id());
    let rc: RuntimeClass =
        serde_json::from_value(json!({"metadata": {"name": class}, "handler": "runsc"})).unwrap();
    let _ = classes.delete(&class, &DeleteParams::default()).await;
    classes.create(&PostParams::default(), &rc).await.unwrap();
    let default = class.clone();
    let rt = Runtime::new_with("runtimeclass", move |c| {
        c.defaults.runtime_class_name = Some(default)
    })
    .await;
    rt.manager
        .create(&json!({"name": "sandboxed", "image": "x.io/mcp:1"}))
        .await
        .unwrap();
    rt.manager
        .create(&json!({"name": "missing", "image": "x.io/mcp:1",
                        "runtimeClassName": "no-such-class"}))
        .await
        .unwrap();
    rt.wait_status("sandboxed", 90, "running", |s| s.phase == Phase::Running)
        .await;
    let pods: Api<Pod> = rt.ns.api();
    let running = pods
        .list(&ListParams::default().labels("mcp-runtime.dev/server"))
        .await
        .unwrap()
        .items;
    assert_eq!(running.len(), 1, "only the sandboxed server has a pod");
    assert_eq!(
        running[0]
            .spec
            .as_ref()
            .unwrap()
            .runtime_class_name
            .as_deref(),
        Some(class.as_str()),
        "the default RuntimeClass"
    );
    let m = rt
        .wait_status("missing", 90, "FailedCreate", |s| {
            s.last_error
                .as_ref()
                .is_some_and(|e| e.reason == "FailedCreate")
        })
        .await;
    let e = m.status.unwrap().last_error.unwrap();
    assert!(e.message.contains("no-such-class"), "{}", e.message);
    let d = rt.ns.api::<Deployment>().get("mcp-missing").await.unwrap();
    assert_eq!(
        d.spec
            .unwrap()
            .template
            .spec
            .unwrap()
            .runtime_class_name
            .as_deref(),
        Some("no-such-class"),
        "the server's own class wins over the default"
    );
    classes
        .delete(&class, &DeleteParams::default())
        .await
        .unwrap();
}

/// For a platform outside the cluster (the reference system's local development): Services are
/// NodePorts, the status carries the URL on the node with the port the API server allocated,
/// the NetworkPolicy admits node-port traffic, and the MCP probe goes to that URL. Here a bridge
/// on 127.0.0.1 at the allocated port stands in for kube-proxy, so the probe gets a real MCP
/// answer (the official SDK's server) through the node endpoint.
#[tokio::test]
async fn node_ports_for_a_platform_outside_the_cluster() {
    use k8s_openapi::api::networking::v1::NetworkPolicy;
    use mcp_runtime::config::ServiceSettings;
    use mcp_runtime::render::service::ServiceType;
    let rt = Runtime::new_with("nodeport", |c| {
        c.service = ServiceSettings {
            type_: ServiceType::NodePort,
            node_host: Some("127.0.0.1".into()),
        }
    })
    .await;
    rt.manager
        .create(&http_server("outside", "s3cr3t-np"))
        .await
        .unwrap();
    let m = rt
        .wait_status("outside", 90, "a node endpoint", |s| {
            s.phase == Phase::Running && s.node_endpoint.is_some()
        })
        .await;
    let service = rt.ns.api::<Service>().get("mcp-outside").await.unwrap();
    let spec = service.spec.unwrap();
    assert_eq!(spec.type_.as_deref(), Some("NodePort"));
    assert_eq!(
        spec.session_affinity.as_deref(),
        Some("ClientIP"),
        "a session stays on its pod"
    );
    let node_port = spec.ports.unwrap()[0].node_port.expect("allocated");
    let status = m.status.unwrap();
    let url = format!("http://127.0.0.1:{node_port}/mcp");
    assert_eq!(status.node_endpoint.as_deref(), Some(url.as_str()));
    assert_eq!(
        status.endpoint.as_deref(),
        Some(&*format!("http://mcp-outside.{}.svc:8082/mcp", rt.ns.name)),
        "the in-cluster URL stays"
    );
    SchemaKind::RuntimeStatus
        .validate(&serde_json::to_value(&status).unwrap())
        .unwrap();
    let np = rt
        .ns
        .api::<NetworkPolicy>()
        .get("mcp-outside")
        .await
        .unwrap();
    let from = serde_json::to_value(&np.spec.unwrap().ingress.unwrap()[0].from).unwrap();
    assert!(
        from.as_array()
            .unwrap()
            .iter()
            .any(|p| p["ipBlock"]["cidr"] == "0.0.0.0/0"),
        "node-port traffic admitted: {from}"
    );

    // An MCP server where the node port leads (kube-proxy's part, played by a bridge).
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _bridge = Killed(
        std::process::Command::new(env!("CARGO_BIN_EXE_mcp-runtime"))
            .args([
                "bridge",
                "--listen",
                &format!("127.0.0.1:{node_port}"),
                "--",
            ])
            .arg(support::tools::mcp_python())
            .arg(format!(
                "{}/tests/fixtures/mcp/server.py",
                env!("CARGO_MANIFEST_DIR")
            ))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let m = rt
        .wait_status(
            "outside",
            90,
            "McpReady=True through the node endpoint",
            // The bridge speaks both eras: discovered at 2026-07-28.
            |s| support::has_condition(s, "McpReady", "Discovered"),
        )
        .await;
    let mcp = m.status.unwrap().mcp.expect("status.mcp");
    assert!(!mcp.server_info.name.is_empty());
    assert!(mcp.tools.unwrap_or(0) > 0, "{mcp:?}");
}

/// A server may not run as the control plane's ServiceAccount, and with a list only as one of
/// those: the manager (and so the API) refuses with the path before storing anything, and a
/// server written past it (kubectl) is not accepted by the controller and gets no Deployment.
#[tokio::test]
async fn service_accounts_outside_the_allowed_ones_are_refused() {
    use k8s_openapi::api::core::v1::ServiceAccount;
    use mcp_runtime::config::ServiceAccountSettings;
    use mcp_runtime::render::service_account::{RULE, ServiceAccounts};
    let rt = Runtime::new_with("serviceaccounts", |c| {
        c.service_accounts = ServiceAccountSettings {
            allowed: Some(vec!["mcp-reader".into()]),
            control_plane: Some("mcp-runtime".into()),
        }
    })
    .await;
    let sas: Api<ServiceAccount> = rt.ns.api();
    let reader: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "mcp-reader"}})).unwrap();
    sas.create(&PostParams::default(), &reader).await.unwrap();
    let manager = rt.manager.clone().with_service_accounts(ServiceAccounts {
        allowed: Some(["mcp-reader".to_string()].into()),
        control_plane: Some("mcp-runtime".into()),
    });

    for (name, account) in [("own", "mcp-runtime"), ("admin", "cluster-admin-sa")] {
        let doc = json!({"name": name, "image": "x.io/mcp:1", "serviceAccountName": account});
        match manager.create(&doc).await {
            Err(mcp_runtime::runtime::Error::Render {
                source: mcp_runtime::render::RenderError::Invalid(v),
                ..
            }) => assert_eq!(v.pairs(), vec![("/serviceAccountName", RULE)], "{v}"),
            other => panic!("{account} must be refused: {other:?}"),
        }
        assert!(
            rt.mcps().get_opt(name).await.unwrap().is_none(),
            "nothing stored"
        );
    }

    manager
        .create(&json!({"name": "reader", "image": "x.io/mcp:1",
                        "serviceAccountName": "mcp-reader"}))
        .await
        .unwrap();
    rt.wait_status("reader", 90, "running", |s| s.phase == Phase::Running)
        .await;
    let d = rt.ns.api::<Deployment>().get("mcp-reader").await.unwrap();
    let pod_spec = d.spec.unwrap().template.spec.unwrap();
    assert_eq!(pod_spec.service_account_name.as_deref(), Some("mcp-reader"));
    assert_eq!(pod_spec.automount_service_account_token, Some(false));

    // Written straight to the API server, past the manager.
    let spec = mcp_runtime::render::parse_document(
        &json!({"name": "rogue", "image": "x.io/mcp:1", "serviceAccountName": "mcp-runtime"}),
    )
    .unwrap();
    rt.mcps()
        .create(
            &PostParams::default(),
            &mcp_runtime::crd::McpServer::new("rogue", spec),
        )
        .await
        .unwrap();
    let m = rt
        .wait_status("rogue", 60, "not accepted", |s| {
            support::has_condition(s, "Accepted", "InvalidSpec")
        })
        .await;
    let accepted = support::condition(m, "Accepted");
    assert!(
        accepted.message.contains("/serviceAccountName")
            && accepted.message.contains("control plane"),
        "{}",
        accepted.message
    );
    assert!(
        rt.ns
            .api::<Deployment>()
            .get_opt("mcp-rogue")
            .await
            .unwrap()
            .is_none(),
        "no Deployment for a refused server"
    );
}

/// Who wrote an object, as `managedFields` says: (manager, operation, subresource).
fn writers(meta: &kube::api::ObjectMeta) -> std::collections::BTreeSet<(String, String, String)> {
    meta.managed_fields
        .iter()
        .flatten()
        .map(|f| {
            (
                f.manager.clone().unwrap_or_default(),
                f.operation.clone().unwrap_or_default(),
                f.subresource.clone().unwrap_or_default(),
            )
        })
        .collect()
}

/// Every write names its field manager: the API facade's (`mcp-runtime-api`: the spec, a stop,
/// the server's own Secret) and the controller's (`mcp-runtime`: its children and the status),
/// so `managedFields` shows who wrote what; nothing is left to a default.
#[tokio::test]
async fn every_write_names_its_field_manager() {
    let rt = Runtime::new("managers").await;
    rt.manager
        .create(&http_server("fm", "s3cr3t-fm"))
        .await
        .unwrap();
    rt.wait_status("fm", 30, "running", |s| s.phase == Phase::Running)
        .await;
    rt.manager.stop("fm").await.unwrap();
    let stopped = rt
        .wait_status("fm", 30, "stopped", |s| s.phase == Phase::Stopped)
        .await;
    let of = |w: &[(&str, &str, &str)]| -> std::collections::BTreeSet<(String, String, String)> {
        w.iter()
            .map(|(m, o, s)| (m.to_string(), o.to_string(), s.to_string()))
            .collect()
    };
    assert_eq!(
        writers(&stopped.metadata),
        of(&[
            ("mcp-runtime", "Apply", "status"),
            ("mcp-runtime-api", "Update", "")
        ])
    );
    let deployment = rt.ns.api::<Deployment>().get("mcp-fm").await.unwrap();
    let by_us = writers(&deployment.metadata);
    assert!(by_us.contains(&("mcp-runtime".into(), "Apply".into(), String::new())));
    for (manager, ..) in &by_us {
        assert!(
            ["mcp-runtime", "kube-controller-manager"].contains(&manager.as_str()),
            "{by_us:?}"
        );
    }
    let service = rt.ns.api::<Service>().get("mcp-fm").await.unwrap();
    assert_eq!(
        writers(&service.metadata),
        of(&[("mcp-runtime", "Apply", "")])
    );
    let policy = rt
        .ns
        .api::<k8s_openapi::api::networking::v1::NetworkPolicy>()
        .get("mcp-fm")
        .await
        .unwrap();
    assert_eq!(
        writers(&policy.metadata),
        of(&[("mcp-runtime", "Apply", "")])
    );
    let secret = rt.ns.api::<Secret>().get("mcp-fm-secrets").await.unwrap();
    assert_eq!(
        writers(&secret.metadata),
        of(&[("mcp-runtime-api", "Apply", "")])
    );
}

/// The IP of the server's pod (its Deployment `deployment`), once it has one: where the MCP
/// probe goes from the moment the pod runs.
async fn pod_ip(rt: &Runtime, deployment: &str) -> String {
    let params = ListParams::default().labels(&format!("mcp-runtime.dev/server={deployment}"));
    for _ in 0..60 {
        let pods = rt.ns.api::<Pod>().list(&params).await.unwrap();
        if let Some(ip) = pods
            .items
            .iter()
            .find_map(|p| p.status.as_ref()?.pod_ip.clone())
        {
            return ip;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("{deployment}: no pod with an IP after 30 s");
}

/// Whether the status says the MCP probe could not reach `url`.
fn mcp_failed_at(s: &mcp_runtime::crd::McpServerStatus, url: &str) -> bool {
    s.conditions
        .iter()
        .any(|c| c.type_ == "McpReady" && c.reason == "NotReachable" && c.message.contains(url))
}
