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
