use std::sync::Arc;

use serde_json::json;

use super::*;

fn pod(name: &str, created: &str, ip: Option<&str>, running: bool) -> Arc<Pod> {
    let state = if running {
        json!({"running": {"startedAt": created}})
    } else {
        json!({"waiting": {"reason": "ContainerCreating"}})
    };
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "uid": format!("uid-{name}"), "creationTimestamp": created},
            "status": {
                "podIP": ip,
                "containerStatuses": [{
                    "name": CONTAINER, "image": "i", "imageID": "", "ready": false,
                    "restartCount": 0, "state": state,
                }],
            },
        }))
        .unwrap(),
    )
}

fn http() -> (u16, String) {
    (8080, "/mcp".into())
}

fn deployment(available: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "d", "generation": 3},
        "status": {"availableReplicas": available, "updatedReplicas": 1},
    }))
    .unwrap()
}

#[test]
fn the_probe_goes_to_the_newest_pod_that_can_answer() {
    let mut deleting = pod("deleting", "2026-12-07T10:00:09Z", Some("10.0.0.9"), true);
    Arc::make_mut(&mut deleting).metadata.deletion_timestamp =
        Some(Time(k8s_openapi::jiff::Timestamp::now()));
    let pods = [
        pod("old", "2026-12-07T10:00:00Z", Some("10.0.0.1"), true),
        pod("new", "2026-12-07T10:00:05Z", Some("10.0.0.2"), true),
        pod("starting", "2026-12-07T10:00:07Z", Some("10.0.0.3"), false),
        pod("no-ip", "2026-12-07T10:00:08Z", None, true),
        deleting,
    ];
    assert_eq!(
        probe_route(None, Some(&http()), Some("10.96.0.5"), &pods),
        Some(Route::Pod {
            url: "http://10.0.0.2:8080/mcp".into(),
            uid: "uid-new".into()
        })
    );
}

#[test]
fn without_an_answering_pod_the_probe_goes_to_the_service_and_outside_to_the_node() {
    let waiting = [pod(
        "starting",
        "2026-12-07T10:00:07Z",
        Some("10.0.0.3"),
        false,
    )];
    assert_eq!(
        probe_route(None, Some(&http()), Some("fd00::5"), &waiting),
        Some(Route::Service("http://[fd00::5]:8080/mcp".into()))
    );
    let running = [pod("p", "2026-12-07T10:00:00Z", Some("10.0.0.1"), true)];
    assert_eq!(
        probe_route(Some("http://node:30001/mcp"), Some(&http()), None, &running),
        Some(Route::Service("http://node:30001/mcp".into()))
    );
    // An unbridged stdio server has no HTTP endpoint at all.
    assert_eq!(probe_route(None, None, None, &running), None);
}

#[test]
fn a_pod_is_probed_before_the_deployment_counts_it_available_the_service_only_after() {
    let pod_route = Some(Route::Pod {
        url: "http://10.0.0.2:8080/mcp".into(),
        uid: "u".into(),
    });
    assert_eq!(
        serving(
            &Acceptance::Accepted,
            false,
            pod_route.clone(),
            Some(&deployment(0))
        ),
        Serving::Available {
            endpoint: "http://10.0.0.2:8080/mcp".into(),
            revision: "pod/u".into()
        }
    );
    let service = || Some(Route::Service("http://10.96.0.5:8080/mcp".into()));
    assert_eq!(
        serving(
            &Acceptance::Accepted,
            false,
            service(),
            Some(&deployment(0))
        ),
        Serving::NotServing
    );
    assert_eq!(
        serving(
            &Acceptance::Accepted,
            false,
            service(),
            Some(&deployment(1))
        ),
        Serving::Available {
            endpoint: "http://10.96.0.5:8080/mcp".into(),
            revision: "3/1/1".into()
        }
    );
    // Stopped or rejected: never probed, whatever runs.
    assert_eq!(
        serving(&Acceptance::Accepted, true, pod_route, None),
        Serving::NotServing
    );
    assert_eq!(
        serving(&Acceptance::Accepted, false, None, None),
        Serving::NoEndpoint
    );
}
