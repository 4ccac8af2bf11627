use super::*;

#[test]
fn integral_floats_are_the_integers_the_schema_accepts() {
    let doc = serde_json::json!({
        "name": "a", "image": "x:1",
        "transport": {"type": "streamable-http", "port": 8080.0},
        "network": {"allow": [{"name": "n", "cidr": "10.0.0.0/8", "ports": [1e3, 443]}]},
    });
    let spec = parse_document(&doc).unwrap();
    assert_eq!(spec.network.unwrap().allow[0].ports, vec![1000, 443]);
    let fractional = serde_json::json!({"name": "a", "image": "x:1",
        "transport": {"type": "streamable-http", "port": 8080.5}});
    assert!(parse_document(&fractional).is_err());
}
