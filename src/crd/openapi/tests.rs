use super::*;

#[test]
fn unicode_escapes_become_re2_escapes() {
    assert_eq!(
        go_regex(r"^[^\u0000-\u001f]*\.x$"),
        r"^[^\x{0000}-\x{001f}]*\.x$"
    );
}

#[test]
fn secret_values_cannot_be_stored_in_a_resource() {
    let spec = server_spec_schema();
    let env = &spec["properties"]["env"]["items"]["properties"];
    assert!(env.get("secretValue").is_none());
    assert!(env.get("secretKeyRef").is_some());
    let pull = &spec["properties"]["imagePullSecrets"]["items"];
    assert_eq!(pull["properties"].as_object().unwrap().len(), 1, "{pull}");
    assert_eq!(pull["required"], json!(["name"]));
}

#[test]
fn discriminated_unions_become_one_object_with_an_enum() {
    let spec = server_spec_schema();
    let t = &spec["properties"]["transport"];
    assert_eq!(
        t["properties"]["type"]["enum"],
        json!(["stdio", "streamable-http"])
    );
    assert_eq!(t["required"], json!(["type"]));
    assert_eq!(t["properties"]["port"]["maximum"], 65535);
    assert!(
        t["properties"]["port"].get("default").is_none(),
        "default of one branch only"
    );
}

#[test]
fn no_keyword_a_crd_refuses_is_left() {
    fn walk(v: &Value, path: &str) {
        if let Value::Object(m) = v {
            for (k, child) in m {
                let banned = [
                    "$ref",
                    "$defs",
                    "$schema",
                    "$id",
                    "oneOf",
                    "anyOf",
                    "not",
                    "const",
                    "examples",
                    "writeOnly",
                    "propertyNames",
                    "if",
                    "then",
                    "uniqueItems",
                ];
                if path.ends_with("/properties") {
                    walk(child, &format!("{path}/{k}"));
                    continue;
                }
                assert!(!banned.contains(&k.as_str()), "{k} at {path}");
                if k == "additionalProperties" {
                    assert!(child.is_object(), "additionalProperties: false at {path}");
                }
                walk(child, &format!("{path}/{k}"));
            }
        }
    }
    walk(&server_spec_schema(), "");
    walk(&status_schema(), "");
}
