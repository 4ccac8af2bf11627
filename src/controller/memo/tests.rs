use super::*;

fn key(ns: &str, name: &str) -> Key {
    Key::new(name).within(ns)
}

#[test]
fn failures_back_off_with_jitter_and_a_success_starts_over() {
    let memos = Memos::default();
    let a = key("ns", "a");
    let waits: Vec<Duration> = (0..12).map(|_| memos.failed(&a)).collect();
    for (n, wait) in waits.iter().enumerate() {
        let base = (FIRST_RETRY * 2u32.pow(n as u32)).min(MAX_RETRY);
        assert!(
            *wait >= base && *wait <= base * 2,
            "failure {n}: {wait:?} not within [{base:?}, {:?}]",
            base * 2
        );
    }
    memos.succeeded(&a);
    assert!(memos.failed(&a) <= FIRST_RETRY * 2);
    // Other servers have their own backoff, a namesake in another namespace too.
    assert!(memos.failed(&key("ns", "b")) <= FIRST_RETRY * 2);
    for _ in 0..5 {
        memos.failed(&a);
    }
    assert!(memos.failed(&key("other", "a")) <= FIRST_RETRY * 2);
}

#[test]
fn deleted_servers_are_forgotten() {
    let memos = Memos::default();
    memos.failed(&key("ns", "gone"));
    memos.failed(&key("ns", "kept"));
    memos.failed(&key("other", "kept"));
    memos.retain(|k| k.name == "kept" && k.namespace.as_deref() == Some("ns"));
    let kept: Vec<Key> = memos.0.lock().unwrap().keys().cloned().collect();
    assert_eq!(kept, vec![key("ns", "kept")]);
}
