use super::*;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

fn server(name: &str) -> ObjectRef<McpServer> {
    ObjectRef::new(name).within("ns")
}

#[tokio::test]
async fn parked_servers_are_released_when_the_api_server_answers_again() {
    let health = ApiHealth::new(Gauge::default(), Counter::default());
    let parked = Parked::default();
    let mut released = Box::pin(parked.released(&health));
    let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
    health.failed(&refused);
    parked.park(server("a"));
    parked.park(server("b"));
    parked.park(server("a"));
    let nothing_yet =
        tokio::time::timeout(std::time::Duration::from_millis(50), released.next()).await;
    assert!(nothing_yet.is_err(), "released while still down");
    health.ok();
    let mut got = vec![
        released.next().await.unwrap(),
        released.next().await.unwrap(),
    ];
    got.sort_by(|x, y| x.name.cmp(&y.name));
    assert_eq!(got, vec![server("a"), server("b")]);
    // Released once: the next outage starts empty.
    health.failed(&refused);
    health.ok();
    let again = tokio::time::timeout(std::time::Duration::from_millis(50), released.next()).await;
    assert!(again.is_err(), "a server was released twice");
}
