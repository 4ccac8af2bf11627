use super::*;
use crate::crd::{EnvFrom, EnvVar, KeyRef, ObjectRef};

fn spec() -> McpServerSpec {
    McpServerSpec {
        name: "r".into(),
        env: vec![EnvVar {
            name: "TOKEN".into(),
            secret_key_ref: Some(KeyRef {
                name: "gh".into(),
                key: "token".into(),
                optional: false,
            }),
            ..Default::default()
        }],
        env_from: vec![EnvFrom {
            config_map_ref: Some(ObjectRef {
                name: "settings".into(),
                optional: true,
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn store(token: Option<&str>) -> Found {
    BTreeMap::from([
        (
            (Kind::Secret, "gh".to_string()),
            token.map(|t| BTreeMap::from([("token".to_string(), t.as_bytes().to_vec())])),
        ),
        ((Kind::ConfigMap, "settings".to_string()), None),
    ])
}

#[test]
fn a_rotation_changes_the_hash_and_a_missing_key_is_named_without_values() {
    let wanted = refs(&spec());
    let a = evaluate(&wanted, &store(Some("one")));
    let b = evaluate(&wanted, &store(Some("two")));
    assert!(matches!(a, Checked::Resolved(Some(_))));
    assert_ne!(a, b, "rotation rolls the pods");
    assert_eq!(a, evaluate(&wanted, &store(Some("one"))), "stable");
    assert_eq!(
        evaluate(&wanted, &store(None)),
        Checked::Missing(vec!["Secret gh".into()])
    );
    let mut wrong_key = store(Some("x"));
    wrong_key.insert(
        (Kind::Secret, "gh".into()),
        Some(BTreeMap::from([("other".to_string(), b"x".to_vec())])),
    );
    assert_eq!(
        evaluate(&wanted, &wrong_key),
        Checked::Missing(vec!["Secret gh (key token)".into()])
    );
}

fn written_by(entries: &[(&str, i64)]) -> ObjectMeta {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, Time};
    ObjectMeta {
        resource_version: Some("42".into()),
        annotations: Some(BTreeMap::from([(
            DATA_HASH_ANNOTATION.to_string(),
            "abc".to_string(),
        )])),
        managed_fields: Some(
            entries
                .iter()
                .map(|(manager, at)| ManagedFieldsEntry {
                    manager: Some(manager.to_string()),
                    time: Some(Time(
                        k8s_openapi::jiff::Timestamp::from_second(*at).unwrap(),
                    )),
                    fields_v1: Some(FieldsV1(serde_json::json!({"f:data": {"f:TOKEN": {}}}))),
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    }
}

#[test]
fn the_data_hash_stands_only_while_the_api_wrote_the_data_last() {
    assert!(holds_data(&written_by(&[("mcp-runtime-api", 100)]), "abc"));
    assert!(!holds_data(
        &written_by(&[("mcp-runtime-api", 100)]),
        "other"
    ));
    let edited = written_by(&[("mcp-runtime-api", 100), ("kubectl-edit", 200)]);
    assert!(!holds_data(&edited, "abc"));
    let same_second = written_by(&[("kubectl-edit", 100), ("mcp-runtime-api", 100)]);
    assert!(!holds_data(&same_second, "abc"));
    let rewritten = written_by(&[("kubectl-edit", 100), ("mcp-runtime-api", 200)]);
    assert!(holds_data(&rewritten, "abc"));
    // The revision is the resourceVersion, whoever wrote.
    assert_eq!(own_secret_revision(&edited).as_deref(), Some("rv-42"));
}
