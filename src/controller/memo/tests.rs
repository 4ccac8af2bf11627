use super::*;

#[test]
fn failures_back_off_with_jitter_and_a_success_starts_over() {
    let memos = Memos::default();
    let waits: Vec<Duration> = (0..12).map(|_| memos.failed("a")).collect();
    for (n, wait) in waits.iter().enumerate() {
        let base = (FIRST_RETRY * 2u32.pow(n as u32)).min(MAX_RETRY);
        assert!(
            *wait >= base && *wait <= base * 2,
            "failure {n}: {wait:?} not within [{base:?}, {:?}]",
            base * 2
        );
    }
    memos.succeeded("a");
    assert!(memos.failed("a") <= FIRST_RETRY * 2);
    // Other servers have their own backoff.
    assert!(memos.failed("b") <= FIRST_RETRY * 2);
}

#[test]
fn deleted_servers_are_forgotten() {
    let memos = Memos::default();
    memos.failed("gone");
    memos.failed("kept");
    memos.retain(|n| n == "kept");
    let names: Vec<String> = memos.0.lock().unwrap().keys().cloned().collect();
    assert_eq!(names, vec!["kept".to_string()]);
}
