use super::*;

fn error(code: i64, supported: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "error": {"code": code, "message": "m", "data": {"supported": supported}}})
}

#[test]
fn a_discover_result_naming_the_modern_version_is_a_modern_server() {
    let answer = json!({"jsonrpc": "2.0", "id": 0, "result": {"supportedVersions": ["2025-11-25", MODERN_VERSION]}});
    let Discovery::Modern { result, supported } = read_discover(Some(&answer)) else {
        panic!("not modern");
    };
    assert_eq!(result, &answer["result"]);
    assert_eq!(supported, vec!["2025-11-25", MODERN_VERSION]);
}

#[test]
fn anything_short_of_positive_evidence_tries_the_handshake() {
    let old_only =
        json!({"jsonrpc": "2.0", "id": 0, "result": {"supportedVersions": ["2025-06-18"]}});
    let not_found =
        json!({"jsonrpc": "2.0", "id": 0, "error": {"code": METHOD_NOT_FOUND, "message": "no"}});
    let naming_ours = error(
        UNSUPPORTED_PROTOCOL_VERSION,
        json!(["2099-01-01", "2025-06-18"]),
    );
    let unsupported_without_list = json!({"jsonrpc": "2.0", "id": 0, "error": {"code": UNSUPPORTED_PROTOCOL_VERSION, "message": "m"}});
    for answer in [old_only, not_found, naming_ours, unsupported_without_list] {
        assert_eq!(
            read_discover(Some(&answer)),
            Discovery::TryHandshake,
            "{answer}"
        );
    }
    assert_eq!(read_discover(None), Discovery::TryHandshake);
}

#[test]
fn a_server_naming_only_foreign_versions_is_told_apart() {
    let answer = error(UNSUPPORTED_PROTOCOL_VERSION, json!(["2099-01-01"]));
    assert_eq!(
        read_discover(Some(&answer)),
        Discovery::SpeaksNoneOf(vec!["2099-01-01"])
    );
}

#[test]
fn initialize_answers_are_read_by_kind() {
    let ok = json!({"result": {"protocolVersion": "2025-06-18"}});
    let locked = json!({"error": {"code": UNSUPPORTED_PROTOCOL_VERSION, "message": "modern"}});
    let refused = json!({"error": {"code": INVALID_PARAMS, "message": "no"}});
    assert_eq!(read_initialize(&ok), Initialized::Handshake(&ok["result"]));
    assert_eq!(
        read_initialize(&locked),
        Initialized::LockedModern(&locked["error"])
    );
    assert_eq!(
        read_initialize(&refused),
        Initialized::Refused(&refused["error"])
    );
    assert_eq!(read_initialize(&json!({"id": 0})), Initialized::Malformed);
}

#[test]
fn every_request_names_the_client_and_our_versions() {
    assert_eq!(
        discover_params("c")["_meta"][META_PROTOCOL_VERSION],
        MODERN_VERSION
    );
    assert_eq!(discover_params("c")["_meta"][META_CLIENT_INFO]["name"], "c");
    assert_eq!(
        initialize_params("c")["protocolVersion"],
        OFFERED_HANDSHAKE_VERSION
    );
    assert_eq!(initialize_params("c")["clientInfo"]["name"], "c");
}
