use super::*;

#[test]
fn exit_codes_follow_the_shell() {
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(exit_code(std::process::ExitStatus::from_raw(3 << 8)), 3);
    assert_eq!(exit_code(std::process::ExitStatus::from_raw(9)), 137);
}

#[test]
fn session_ids_are_128_bit_and_distinct() {
    let (a, b) = (
        http::new_session_id().unwrap(),
        http::new_session_id().unwrap(),
    );
    assert_eq!(a.len(), 32);
    assert_ne!(a, b);
}
