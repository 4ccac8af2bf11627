use super::*;

#[test]
fn failures_back_off_to_the_interval_and_answers_wait_the_interval() {
    let interval = Duration::from_secs(120);
    let waits: Vec<u128> = (1..=20)
        .map(|n| next_probe(false, n, interval).as_millis())
        .collect();
    assert_eq!(
        waits,
        [
            200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 500, 1000, 2000, 4000, 8000, 16000,
            32000, 64000, 120000, 120000
        ]
    );
    assert_eq!(next_probe(true, 0, interval), interval);
    let long = Duration::from_secs(3600);
    assert_eq!(next_probe(false, 30, long), MAX_RETRY);
}

fn server(name: &str) -> ObjectRef<McpServer> {
    ObjectRef::new(name).within("ns")
}

#[tokio::test]
async fn a_probe_starts_once_reports_and_triggers_a_reconcile() {
    let settings = McpProbeSettings {
        interval_seconds: 60,
        timeout_seconds: 1,
        gates_ready: false,
    };
    let (r, mut ended) = Readiness::new(settings, Arc::new(Metrics::new()), Term::new());
    let closed = crate::mcp::probe::tests::closed_port();
    let serving = || Serving::Available {
        endpoint: format!("http://127.0.0.1:{closed}/mcp"),
        revision: "1".into(),
    };
    assert_eq!(
        r.observe(&server("a"), serving()),
        (McpObservation::Probing, None)
    );
    // Running: no second probe, no requeue.
    assert_eq!(
        r.observe(&server("a"), serving()),
        (McpObservation::Probing, None)
    );
    let done = tokio::time::timeout(Duration::from_secs(10), ended.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.name, "a");
    let (observed, again) = r.observe(&server("a"), serving());
    assert!(
        matches!(&observed, McpObservation::Failed(f) if f.reason() == "NotReachable"),
        "{observed:?}"
    );
    // The first retry, less the moment since the probe ended.
    let again = again.expect("a retry is scheduled");
    assert!(again <= STARTING_RETRY && !again.is_zero(), "{again:?}");
    // Not serving: forgotten; serving again: probed at once.
    assert_eq!(
        r.observe(&server("a"), Serving::NotServing),
        (McpObservation::NotServing, None)
    );
    assert_eq!(
        r.observe(&server("a"), serving()),
        (McpObservation::Probing, None)
    );
}

#[tokio::test]
async fn probes_end_with_the_term() {
    let settings = McpProbeSettings {
        interval_seconds: 60,
        timeout_seconds: 5,
        gates_ready: false,
    };
    let metrics = Arc::new(Metrics::new());
    let term = Term::new();
    let (r, mut ended) = Readiness::new(settings, metrics.clone(), term.clone());
    // A listener that accepts and never answers: the probe would wait its 5 s timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let serving = Serving::Available {
        endpoint: format!("http://127.0.0.1:{port}/mcp"),
        revision: "1".into(),
    };
    r.observe(&server("a"), serving);
    assert_eq!(metrics.leader_tasks.get(), 1);
    term.lose();
    tokio::time::timeout(Duration::from_secs(2), r.stop())
        .await
        .expect("the probe ended with its term, before its timeout");
    assert_eq!(metrics.leader_tasks.get(), 0);
    assert!(ended.try_recv().is_err(), "an ended term triggers nothing");
}

#[test]
fn an_interval_of_zero_turns_the_probe_off() {
    let settings = McpProbeSettings {
        interval_seconds: 0,
        timeout_seconds: 1,
        gates_ready: false,
    };
    let (r, _ended) = Readiness::new(settings, Arc::new(Metrics::new()), Term::new());
    let serving = Serving::Available {
        endpoint: "http://x/mcp".into(),
        revision: "1".into(),
    };
    assert_eq!(
        r.observe(&server("a"), serving),
        (McpObservation::Disabled, None)
    );
}
