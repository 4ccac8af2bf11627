//! Test harness for integration tests against the real local cluster (deploy/local-cluster).
//!
//! Each test gets its own namespace, deleted when the guard drops, so tests run in parallel.
//! There is no fallback to a fake: without a cluster these tests fail and say how to start one.
#![allow(dead_code)]

pub mod bridge;
pub mod offline;
pub mod plugins;
pub mod tools;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

/// The kubeconfig of the cluster under test: `MCP_RUNTIME_TEST_KUBECONFIG`, else the one
/// deploy/local-cluster/up.sh writes.
pub fn kubeconfig_path() -> PathBuf {
    if let Ok(p) = std::env::var("MCP_RUNTIME_TEST_KUBECONFIG") {
        return PathBuf::from(p);
    }
    cache_dir().join("cluster/kubeconfig")
}

/// The project's cache (`MCP_RUNTIME_CACHE`, else `~/.cache/mcp-runtime`), as the scripts use it.
pub fn cache_dir() -> PathBuf {
    std::env::var("MCP_RUNTIME_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/mcp-runtime")
        })
}

/// A loopback port free right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn client() -> Client {
    let path = kubeconfig_path();
    let kubeconfig = Kubeconfig::read_from(&path).unwrap_or_else(|e| {
        panic!(
            "no test cluster: cannot read {} ({e}). Start one with deploy/local-cluster/up.sh \
             or set MCP_RUNTIME_TEST_KUBECONFIG",
            path.display()
        )
    });
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig of the test cluster is usable");
    config.read_timeout = Some(Duration::from_secs(60));
    Client::try_from(config).expect("client for the test cluster")
}

/// What places a pod on the local cluster's real node (deploy/local-cluster/node-up.sh): the
/// toleration of its taint and a selector of its label.
pub fn real_node_tolerations() -> serde_json::Value {
    serde_json::json!([{"key": "mcp-runtime.dev/real-node", "operator": "Exists", "effect": "NoSchedule"}])
}

pub fn real_node_selector() -> serde_json::Value {
    serde_json::json!({"mcp-runtime.dev/node": "real"})
}

/// Fails the test at once, saying what is missing, when the local cluster has no Ready real node
/// (deploy/local-cluster/node-up.sh needs root, iptables and containerd): the real-pod tests are
/// never skipped, and never wait out their timeouts for a node that is not there.
pub async fn require_real_node() {
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client().await);
    let node = nodes.get_opt("mcp-node-0").await.ok().flatten();
    let ready = node
        .as_ref()
        .and_then(|n| n.status.as_ref()?.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    assert!(
        ready,
        "the local cluster's real node mcp-node-0 is {}: deploy/local-cluster/up.sh starts it when run \
         as root on a machine with iptables (it installs containerd, runc and the CNI plugins); \
         see ~/.cache/mcp-runtime/cluster/logs/kubelet.log",
        if node.is_some() {
            "not Ready"
        } else {
            "missing"
        }
    );
}

/// A namespace of one test, deleted (with everything in it) when dropped.
pub struct TestNamespace {
    pub name: String,
    pub client: Client,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestNamespace {
    pub async fn new(test: &str) -> TestNamespace {
        let client = client().await;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let suffix = format!("{:x}", (nanos ^ (std::process::id() << 8)) + n);
        let prefix: String = test
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(40)
            .collect();
        let name = format!("t-{}-{suffix}", prefix.to_lowercase());
        let ns = Namespace {
            metadata: kube::api::ObjectMeta {
                name: Some(name.clone()),
                labels: Some([("mcp-runtime.dev/test".to_string(), "true".to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        // The ServiceAccount admission plugin refuses pods until the namespace's default
        // ServiceAccount exists; wait for the controller-manager to make it.
        let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> =
            Api::namespaced(client.clone(), &name);
        for _ in 0..200 {
            if sas.get_opt("default").await.ok().flatten().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        TestNamespace { name, client }
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let name = self.name.clone();
        let path = kubeconfig_path();
        // Drop cannot await; delete from a thread with its own runtime so a failing test still
        // cleans up after itself.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(kc) = Kubeconfig::read_from(&path) else {
                    return;
                };
                let Ok(config) =
                    Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await
                else {
                    return;
                };
                let Ok(client) = Client::try_from(config) else {
                    return;
                };
                let _ = Api::<Namespace>::all(client)
                    .delete(&name, &DeleteParams::background())
                    .await;
            });
        })
        .join();
    }
}

/// Waits for `cond` on object `name`, failing the test with `what` after `secs` seconds.
pub async fn wait_for<K>(
    api: &Api<K>,
    name: &str,
    secs: u64,
    what: &str,
    cond: impl kube::runtime::wait::Condition<K>,
) -> K
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    K::DynamicType: Default,
{
    let fut = kube::runtime::wait::await_condition(api.clone(), name, cond);
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(Ok(Some(obj))) => obj,
        Ok(Ok(None)) => panic!("{what}: {name} was deleted while waiting"),
        Ok(Err(e)) => panic!("{what}: watch failed: {e}"),
        Err(_) => panic!("{what}: timed out after {secs}s waiting for {name}"),
    }
}

/// A controller (and manager) running in-process for one test namespace, stopped on drop.
pub struct Runtime {
    pub ns: TestNamespace,
    pub manager: mcp_runtime::api::store::McpServerRuntimeManager,
    pub config: mcp_runtime::config::RuntimeConfig,
    policies: std::sync::Arc<dyn mcp_runtime::plugin::PolicyChain>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub async fn install_crd(client: &Client) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Patch, PatchParams};
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = mcp_runtime::crd::crd();
    crds.patch(
        "mcpservers.mcp-runtime.dev",
        &PatchParams::apply("mcp-runtime").force(),
        &Patch::Apply(&crd),
    )
    .await
    .expect("the CRD is accepted by the API server");
    let established = kube::runtime::wait::await_condition(
        crds,
        "mcpservers.mcp-runtime.dev",
        kube::runtime::wait::conditions::is_crd_established(),
    );
    tokio::time::timeout(Duration::from_secs(30), established)
        .await
        .unwrap()
        .unwrap();
}

pub fn runtime_config(namespace: &str) -> mcp_runtime::config::RuntimeConfig {
    let settings = mcp_runtime::config::Settings {
        namespace: Some(namespace.to_string()),
        kubeconfig: Some(kubeconfig_path()),
        ..Default::default()
    };
    settings
        .resolve(&mcp_runtime::config::ProcessEnvironment)
        .expect("test settings resolve")
}

impl Runtime {
    pub async fn new(test: &str) -> Runtime {
        Runtime::new_with(test, |_| {}).await
    }

    /// Like [`Runtime::new`], with the controller's settings changed by `change`.
    pub async fn new_with(
        test: &str,
        change: impl FnOnce(&mut mcp_runtime::config::RuntimeConfig),
    ) -> Runtime {
        Runtime::new_with_policies(
            test,
            change,
            std::sync::Arc::new(mcp_runtime::plugin::NoPolicies),
        )
        .await
    }

    /// Like [`Runtime::new_with`], with a policy chain of the test's own.
    pub async fn new_with_policies(
        test: &str,
        change: impl FnOnce(&mut mcp_runtime::config::RuntimeConfig),
        policies: std::sync::Arc<dyn mcp_runtime::plugin::PolicyChain>,
    ) -> Runtime {
        let ns = TestNamespace::new(test).await;
        let mut config = runtime_config(&ns.name);
        change(&mut config);
        install_crd(&ns.client).await;
        let manager =
            mcp_runtime::api::store::McpServerRuntimeManager::new(ns.client.clone(), &ns.name);
        let mut rt = Runtime {
            ns,
            manager,
            config,
            policies,
            stop: None,
            task: None,
        };
        rt.start_controller();
        rt
    }

    pub fn start_controller(&mut self) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let client = self.ns.client.clone();
        let config = self.config.clone();
        let policies = self.policies.clone();
        self.task = Some(tokio::spawn(async move {
            let term = mcp_runtime::controller::leader::Term::new();
            let ended = term.clone();
            tokio::spawn(async move {
                let _ = rx.await;
                ended.end();
            });
            mcp_runtime::controller::run(
                client,
                &config,
                policies,
                std::sync::Arc::new(mcp_runtime::metrics::Metrics::new()),
                term,
            )
            .await
        }));
        self.stop = Some(tx);
    }

    /// Kills the controller at once (no graceful shutdown), like SIGKILL.
    pub fn kill_controller(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        self.stop = None;
    }

    pub fn mcps(&self) -> Api<mcp_runtime::crd::McpServer> {
        self.ns.api()
    }

    /// Waits until the server's status satisfies `cond`.
    pub async fn wait_status(
        &self,
        name: &str,
        secs: u64,
        what: &str,
        cond: impl Fn(&mcp_runtime::crd::McpServerStatus) -> bool + Send + 'static,
    ) -> mcp_runtime::crd::McpServer {
        wait_for(
            &self.mcps(),
            name,
            secs,
            what,
            move |m: Option<&mcp_runtime::crd::McpServer>| {
                m.and_then(|m| m.status.as_ref()).is_some_and(&cond)
            },
        )
        .await
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.kill_controller();
    }
}

/// Polls `check` every 100 ms until it holds or `secs` pass; whether it held. For conditions
/// spread over several objects, where a single watch does not fit.
pub async fn eventually<F, Fut>(secs: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if check().await {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An annotation on a Deployment's pod template (`None`: no such Deployment key).
pub async fn template_annotation(
    deployments: &Api<k8s_openapi::api::apps::v1::Deployment>,
    name: &str,
    key: &str,
) -> Option<String> {
    let d = deployments.get(name).await.unwrap();
    d.spec?.template.metadata?.annotations?.get(key).cloned()
}

/// The repository's example server documents.
pub const EXAMPLES: [&str; 3] = [
    "stdio-filesystem.yaml",
    "http-github.json",
    "secrets-and-pull.yaml",
];

/// An example document from `examples/`.
pub fn example(file: &str) -> serde_json::Value {
    let path = format!("{}/examples/{file}", env!("CARGO_MANIFEST_DIR"));
    mcp_runtime::input::read_document(path.as_ref()).unwrap()
}

/// The condition of `type_` in a server's status (panics when absent: tests expect it).
/// Whether `status` has the condition `type_` with `reason`.
pub fn has_condition(
    status: &mcp_runtime::crd::McpServerStatus,
    type_: &str,
    reason: &str,
) -> bool {
    status
        .conditions
        .iter()
        .any(|c| c.type_ == type_ && c.reason == reason)
}

pub fn condition(
    m: mcp_runtime::crd::McpServer,
    type_: &str,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    m.status
        .and_then(|s| s.conditions.into_iter().find(|c| c.type_ == type_))
        .unwrap_or_else(|| panic!("no {type_} condition"))
}
