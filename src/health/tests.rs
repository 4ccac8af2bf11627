use super::*;

#[test]
fn an_outage_is_recorded_and_cleared() {
    let m = crate::metrics::Metrics::new();
    let h = m.kubernetes.clone();
    assert!(h.get().reachable);
    let e = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
    h.failed(&e);
    let r = h.get();
    assert!(!r.reachable);
    assert!(r.since.is_some());
    assert!(r.error.unwrap().contains("refused"));
    assert!(
        m.encode()
            .contains("mcp_runtime_kubernetes_api_reachable 0")
    );
    h.ok();
    assert_eq!(
        h.get(),
        Reachability {
            reachable: true,
            since: None,
            error: None
        }
    );
    assert!(
        m.encode()
            .contains("mcp_runtime_kubernetes_api_reachable 1")
    );
    assert!(
        m.encode()
            .contains("mcp_runtime_kubernetes_api_errors_total 1")
    );
}

#[test]
fn a_conflict_answered_by_the_server_is_not_an_outage() {
    let h = ApiHealth::new(Gauge::default(), Counter::default());
    let e = kube::Error::Api(
        kube::core::Status::failure("conflict", "Conflict")
            .with_code(409)
            .boxed(),
    );
    h.failed(&e);
    assert!(h.get().reachable);
}
