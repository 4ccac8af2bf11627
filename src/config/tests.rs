use super::*;
use std::collections::HashMap;

struct FakeEnv(HashMap<&'static str, &'static str>, Vec<&'static str>);
impl Environment for FakeEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| v.to_string())
    }
    fn exists(&self, path: &Path) -> bool {
        self.1.iter().any(|p| Path::new(p) == path)
    }
}

fn env(vars: &[(&'static str, &'static str)], files: &[&'static str]) -> FakeEnv {
    FakeEnv(vars.iter().copied().collect(), files.to_vec())
}

#[test]
fn archestra_names_are_honoured() {
    let e = env(
        &[
            ("ARCHESTRA_ORCHESTRATOR_K8S_NAMESPACE", "platform"),
            ("ARCHESTRA_ORCHESTRATOR_KUBECONFIG", "/etc/kube/config"),
            (
                "ARCHESTRA_ORCHESTRATOR_MCP_SERVER_BASE_IMAGE",
                "registry.example/base:1",
            ),
            ("ARCHESTRA_ORCHESTRATOR_MCP_SERVER_MEMORY_LIMIT", "2Gi"),
        ],
        &["/etc/kube/config"],
    );
    let c = Settings::default().resolve(&e).unwrap();
    assert_eq!(c.namespace, "platform");
    assert_eq!(c.kubeconfig.source, KubeconfigKind::File);
    assert_eq!(c.kubeconfig.path.as_deref(), Some("/etc/kube/config"));
    assert_eq!(c.defaults.image, "registry.example/base:1");
    assert_eq!(c.defaults.resources.limits.memory.as_deref(), Some("2Gi"));
    assert_eq!(c.defaults.resources.requests.cpu.as_deref(), Some("50m"));
}

#[test]
fn own_names_win_over_archestra_names() {
    let e = env(
        &[
            ("ARCHESTRA_ORCHESTRATOR_K8S_NAMESPACE", "platform"),
            (
                "ARCHESTRA_ORCHESTRATOR_LOAD_KUBECONFIG_FROM_CURRENT_CLUSTER",
                "true",
            ),
        ],
        &[],
    );
    let s = Settings {
        namespace: Some("mine".into()),
        in_cluster: Some(false),
        ..Default::default()
    };
    let c = s.resolve(&e).unwrap();
    assert_eq!(c.namespace, "mine");
    assert_eq!(c.kubeconfig.source, KubeconfigKind::Local);
}

#[test]
fn allowed_service_accounts_are_a_checked_list_and_reach_rendering() {
    let home = ("HOME", "/home/x");
    let c = Settings::default().resolve(&env(&[home], &[])).unwrap();
    assert_eq!(c.service_accounts, ServiceAccountSettings::default());
    let set = Settings {
        allowed_service_accounts: Some(" reader, k8s-mcp,,reader ".into()),
        own_service_account: Some("mcp-runtime".into()),
        ..Default::default()
    };
    let c = set.resolve(&env(&[home], &[])).unwrap();
    assert_eq!(
        c.service_accounts.allowed,
        Some(vec!["reader".to_string(), "k8s-mcp".to_string()])
    );
    let rule = c.render_context().defaults.service_accounts;
    assert_eq!(rule.control_plane.as_deref(), Some("mcp-runtime"));
    assert!(rule.allowed.unwrap().contains("reader"));
    let bad = Settings {
        allowed_service_accounts: Some("reader,Not_A_Name".into()),
        ..Default::default()
    };
    match bad.resolve(&env(&[home], &[])) {
        Err(ConfigError::Invalid(v)) => {
            assert!(v.to_string().contains("/serviceAccounts/allowed/1"), "{v}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn node_ports_as_in_the_reference_out_of_cluster_with_a_node_host() {
    use crate::render::service::ServiceType;
    let home = ("HOME", "/home/x");
    let c = Settings::default().resolve(&env(&[home], &[])).unwrap();
    assert_eq!(c.service, ServiceSettings::default());
    assert_eq!(c.service.type_, ServiceType::ClusterIP);
    let host = ("ARCHESTRA_ORCHESTRATOR_K8S_NODE_HOST", " 192.168.49.2 ");
    let c = Settings::default()
        .resolve(&env(&[home, host], &[]))
        .unwrap();
    assert_eq!(c.service.type_, ServiceType::NodePort);
    assert_eq!(c.service.node_host.as_deref(), Some("192.168.49.2"));
    assert_eq!(
        c.render_context().defaults.service_type,
        ServiceType::NodePort
    );
    // In the cluster the reference used ClusterIP, node host or not.
    let inside = (
        "ARCHESTRA_ORCHESTRATOR_LOAD_KUBECONFIG_FROM_CURRENT_CLUSTER",
        "true",
    );
    let c = Settings::default()
        .resolve(&env(&[home, host, inside], &[]))
        .unwrap();
    assert_eq!(c.service.type_, ServiceType::ClusterIP);
    // An explicit type wins; a wrong one is named.
    let own = Settings {
        service_type: Some("NodePort".into()),
        ..Default::default()
    };
    assert_eq!(
        own.resolve(&env(&[home], &[])).unwrap().service.type_,
        ServiceType::NodePort
    );
    let bad = Settings {
        service_type: Some("LoadBalancer".into()),
        ..Default::default()
    };
    match bad.resolve(&env(&[home], &[])) {
        Err(ConfigError::Variable { var, .. }) => assert_eq!(var, "MCP_RUNTIME_SERVICE_TYPE"),
        other => panic!("{other:?}"),
    }
    // A node host that is not a host name or address is refused by the schema.
    let bad_host = ("ARCHESTRA_ORCHESTRATOR_K8S_NODE_HOST", "http://node:80/");
    match Settings::default().resolve(&env(&[home, bad_host], &[])) {
        Err(ConfigError::Invalid(v)) => {
            assert!(v.to_string().contains("/service/nodeHost"), "{v}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_reaper_interval_comes_from_either_name_and_a_bad_one_is_named() {
    let home = ("HOME", "/home/x");
    let c = Settings::default().resolve(&env(&[home], &[])).unwrap();
    assert_eq!(
        c.failed_pod_reap_interval_seconds, 600,
        "the reference's default"
    );
    let legacy = (
        "ARCHESTRA_ORCHESTRATOR_FAILED_POD_REAP_INTERVAL_SECONDS",
        " 0 ",
    );
    let c = Settings::default()
        .resolve(&env(&[home, legacy], &[]))
        .unwrap();
    assert_eq!(c.failed_pod_reap_interval_seconds, 0, "0 turns it off");
    let own = Settings {
        failed_pod_reap_interval: Some(30),
        ..Default::default()
    };
    let c = own.resolve(&env(&[home, legacy], &[])).unwrap();
    assert_eq!(c.failed_pod_reap_interval_seconds, 30);
    let bad = (
        "ARCHESTRA_ORCHESTRATOR_FAILED_POD_REAP_INTERVAL_SECONDS",
        "10m",
    );
    match Settings::default().resolve(&env(&[home, bad], &[])) {
        Err(ConfigError::Variable { var, reason }) => {
            assert_eq!(
                var,
                "ARCHESTRA_ORCHESTRATOR_FAILED_POD_REAP_INTERVAL_SECONDS"
            );
            assert!(reason.contains("seconds"), "{reason}");
        }
        other => panic!("a bad interval is refused, got {other:?}"),
    }
    let far = Settings {
        failed_pod_reap_interval: Some(90_000),
        ..Default::default()
    };
    match far.resolve(&env(&[home], &[])) {
        Err(ConfigError::Invalid(v)) => {
            assert!(
                v.to_string().contains("/failedPodReapIntervalSeconds"),
                "{v}"
            )
        }
        other => panic!("past the schema's maximum, got {other:?}"),
    }
}

#[test]
fn legacy_names_that_are_not_acted_on_are_reported_with_why() {
    let e = env(
        &[
            (
                "ARCHESTRA_ORCHESTRATOR_MCP_IDLE_HIBERNATION_ENABLED",
                "true",
            ),
            ("ARCHESTRA_ORCHESTRATOR_K8S_NAMESPACE", "platform"),
        ],
        &[],
    );
    let found = not_honoured(&e);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].0,
        "ARCHESTRA_ORCHESTRATOR_MCP_IDLE_HIBERNATION_ENABLED"
    );
    assert!(found[0].1.contains("not implemented"));
    let honoured: Vec<_> = ARCHESTRA_FALLBACKS.iter().map(|(_, v)| *v).collect();
    for (var, _) in ARCHESTRA_NOT_HONOURED {
        assert!(!honoured.contains(var), "{var} is both honoured and not");
    }
}

#[test]
fn in_cluster_only_for_the_string_true() {
    for (value, expected) in [
        ("true", KubeconfigKind::InCluster),
        ("1", KubeconfigKind::Local),
    ] {
        let e = FakeEnv(
            HashMap::from([
                (
                    "ARCHESTRA_ORCHESTRATOR_LOAD_KUBECONFIG_FROM_CURRENT_CLUSTER",
                    value,
                ),
                ("HOME", "/home/x"),
            ]),
            vec![],
        );
        let c = Settings::default().resolve(&e).unwrap();
        assert_eq!(c.kubeconfig.source, expected, "value {value}");
    }
}

#[test]
fn no_cluster_given_means_the_local_cluster() {
    let e = env(&[("HOME", "/home/x")], &[]);
    let c = Settings::default().resolve(&e).unwrap();
    assert_eq!(c.kubeconfig.source, KubeconfigKind::Local);
    assert_eq!(
        c.kubeconfig.path.as_deref(),
        Some("/home/x/.cache/mcp-runtime/cluster/kubeconfig")
    );
    let e = env(&[("HOME", "/home/x")], &["/home/x/.kube/config"]);
    let c = Settings::default().resolve(&e).unwrap();
    assert_eq!(c.kubeconfig.source, KubeconfigKind::Default);
}

#[test]
fn bad_values_are_refused_with_their_path() {
    let e = env(
        &[("ARCHESTRA_ORCHESTRATOR_K8S_NAMESPACE", "Not A Namespace")],
        &[],
    );
    let err = Settings::default().resolve(&e).unwrap_err();
    let ConfigError::Invalid(v) = err else {
        panic!("expected schema violations, got {err}");
    };
    assert_eq!(v.pairs(), vec![("/namespace", "pattern")]);

    let s = Settings {
        memory_request: Some("lots".into()),
        ..Default::default()
    };
    let ConfigError::Invalid(v) = s.resolve(&env(&[], &[])).unwrap_err() else {
        panic!("expected schema violations");
    };
    assert_eq!(
        v.pairs(),
        vec![("/defaults/resources/requests/memory", "pattern")]
    );
}

#[test]
fn a_missing_kubeconfig_file_is_named() {
    let s = Settings {
        kubeconfig: Some("/nope".into()),
        ..Default::default()
    };
    let err = s.resolve(&env(&[], &[])).unwrap_err().to_string();
    assert!(err.contains("/nope does not exist"), "{err}");
}

#[test]
fn served_namespaces_are_listed_once_each_or_every_one_and_default_to_the_own() {
    use crate::runtime::scope::Served;
    let own = Settings::default()
        .resolve(&env(&[("POD_NAMESPACE", "mcp")], &[]))
        .unwrap();
    assert_eq!(own.served(), Served::from_list(&["mcp".to_string()]));
    let listed = Settings {
        namespaces: Some(" team-a, team-b ,team-a,".into()),
        ..Default::default()
    };
    let c = listed.resolve(&env(&[], &[])).unwrap();
    assert_eq!(c.namespaces, vec!["team-a", "team-b"]);
    assert!(c.served().serves("team-b") && !c.served().serves("default"));
    let every = Settings {
        namespaces: Some("*".into()),
        ..Default::default()
    };
    assert_eq!(every.resolve(&env(&[], &[])).unwrap().served(), Served::All);
    // The reference's extra namespaces come beside the main one.
    let legacy = env(
        &[
            ("ARCHESTRA_ORCHESTRATOR_K8S_NAMESPACE", "main"),
            (
                "ARCHESTRA_ORCHESTRATOR_ENVIRONMENT_NAMESPACES",
                "extra-1,extra-2",
            ),
        ],
        &[],
    );
    let c = Settings::default().resolve(&legacy).unwrap();
    assert_eq!(c.namespaces, vec!["main", "extra-1", "extra-2"]);
    for bad in ["team-a,Team_B", "*,team-a"] {
        let s = Settings {
            namespaces: Some(bad.into()),
            ..Default::default()
        };
        let ConfigError::Invalid(v) = s.resolve(&env(&[], &[])).unwrap_err() else {
            panic!("{bad}: expected schema violations");
        };
        assert!(
            v.pairs()
                .iter()
                .any(|(path, _)| path.starts_with("/namespaces")),
            "{bad}: {:?}",
            v.pairs()
        );
    }
}

#[test]
fn namespace_settings_apply_to_their_namespace_and_a_bad_one_names_its_path() {
    let e = env(&[], &[]);
    let s = Settings {
        namespace: Some("home".into()),
        namespaces: Some("home,team-a".into()),
        namespace_settings: Some(
            r#"{"team-a": {"networkMode": "restricted", "allowedServiceAccounts": ["tools"]}}"#
                .into(),
        ),
        ..Default::default()
    };
    let c = s.resolve(&e).unwrap();
    let contexts = c.render_contexts();
    assert_eq!(
        contexts.of("team-a").network.mode,
        crate::crd::NetworkMode::Restricted
    );
    assert_eq!(
        contexts.of("home").network.mode,
        crate::crd::NetworkMode::Default
    );

    let bad = Settings {
        namespace_settings: Some(r#"{"team-a": {"networkMode": "closed"}}"#.into()),
        ..s.clone()
    };
    let err = bad.resolve(&e).unwrap_err().to_string();
    assert!(
        err.contains("/namespaceSettings/team-a/networkMode"),
        "{err}"
    );

    let not_json = Settings {
        namespace_settings: Some("team-a=restricted".into()),
        ..s.clone()
    };
    let err = not_json.resolve(&e).unwrap_err().to_string();
    assert!(err.contains("MCP_RUNTIME_NAMESPACE_SETTINGS"), "{err}");

    let unserved = Settings {
        namespace_settings: Some(r#"{"team-b": {"image": "x:1"}}"#.into()),
        ..s
    };
    let err = unserved.resolve(&e).unwrap_err().to_string();
    assert!(err.contains("team-b is not a namespace"), "{err}");
}
