use super::load::check_version;

#[test]
fn contract_versions() {
    assert!(check_version("mcp-runtime:plugin/hooks@0.1.0").is_ok());
    assert!(check_version("mcp-runtime:plugin/hooks@0.1.7").is_ok());
    assert!(check_version("mcp-runtime:plugin/hooks@0.1").is_err());
    assert!(check_version("mcp-runtime:plugin/hooks@x").is_err());
    let e = check_version("mcp-runtime:plugin/hooks@0.2.0").unwrap_err();
    assert_eq!(
        e,
        "built against mcp-runtime:plugin@0.2.0, this host speaks mcp-runtime:plugin@0.1.0"
    );
}
