use super::*;

/// Every `$ref` of `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(r) if k == "$ref" => out.push(r.clone()),
                    other => refs(other, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_reference_of_the_served_document_resolves_inside_it() {
    let doc: Value = serde_json::from_str(served()).unwrap();
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 50, "{}", all.len());
    for r in &all {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{r} is not local"));
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
    // Client generators model components, not definitions nested in one.
    assert!(all.iter().all(|r| !r.contains("$defs")), "{all:?}");
    assert!(all.contains(&"#/components/schemas/McpServerEnvVar".to_string()));
    assert!(all.contains(&"#/components/schemas/RuntimeStatusCondition".to_string()));
}

#[test]
fn a_put_body_has_no_name_and_a_patch_body_no_required_field() {
    let doc = bundle();
    let put = &doc["components"]["schemas"]["McpServerReplace"];
    assert!(put["properties"].get("name").is_none());
    assert!(put["properties"].get("image").is_some());
    assert!(
        !put["required"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "name")
    );
    let patch = &doc["components"]["schemas"]["McpServerPatch"];
    assert!(patch.get("required").is_none());
    assert_eq!(patch["additionalProperties"], false);
    assert!(patch["properties"]["replicas"].get("type").is_none());
    assert!(patch["properties"].get("name").is_none());
    assert!(
        patch["description"]
            .as_str()
            .unwrap()
            .contains("merge patch")
    );
}

#[test]
fn the_bundled_schemas_are_the_committed_ones() {
    let doc = bundle();
    let bundled = &doc["components"]["schemas"]["McpServer"];
    let committed = SchemaKind::McpServer.document();
    assert_eq!(
        bundled["properties"].as_object().map(|p| p.len()),
        committed["properties"].as_object().map(|p| p.len())
    );
    assert_eq!(bundled["required"], committed["required"]);
    assert!(bundled.get("$id").is_none());
}
