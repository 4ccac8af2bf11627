use super::*;

#[tokio::test]
async fn a_lost_lease_ends_the_term_and_a_shutdown_only_ends_it() {
    let lost = Term::new();
    lost.lose();
    assert!(lost.is_ending());
    lost.lost().await;
    lost.ending().await;

    let ended = Term::new();
    ended.end();
    ended.ending().await;
    assert!(
        tokio::time::timeout(Duration::from_millis(20), ended.lost())
            .await
            .is_err(),
        "a shutdown is not a lost Lease"
    );
}

#[tokio::test(start_paused = true)]
async fn work_that_ignores_its_term_is_aborted_after_the_drain() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let _keep = tx;
        std::future::pending::<()>().await
    });
    finish(handle).await;
    assert!(rx.await.is_err(), "the task was dropped");
}
