use std::sync::Mutex;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::{Value, json};

use super::*;
use crate::plugin::{NoPolicies, PolicyOutcome};
use crate::render::labels::SECRET_REVISION_ANNOTATION;
use crate::render::parse_document;

fn spec(doc: Value) -> McpServerSpec {
    parse_document(&doc).unwrap()
}

fn with_secret() -> McpServerSpec {
    spec(json!({
        "name": "weather",
        "image": "x.io/w:1",
        "transport": {"type": "streamable-http", "port": 8080, "path": "/mcp"},
        "env": [{"name": "TOKEN", "secretValue": "shh"}, {"name": "A", "value": "1"}],
    }))
}

fn template_annotation(d: &Desired, key: &str) -> Option<String> {
    let body = &d.object("Deployment").unwrap().body;
    body.pointer(&format!(
        "/spec/template/metadata/annotations/{}",
        key.replace('/', "~1")
    ))
    .and_then(Value::as_str)
    .map(str::to_string)
}

#[test]
fn a_document_and_its_stored_spec_build_the_same_objects() {
    let ctx = RenderContext::default();
    let inputs = Inputs {
        secret_revision: Some("rv-7".into()),
        ..Inputs::default()
    };
    let from_doc = build(&with_secret(), &inputs, &ctx, &NoPolicies).unwrap();
    let (stored, _, _) = secret::split(&with_secret(), &from_doc.names, &ctx.namespace);
    let from_stored = build(&stored, &inputs, &ctx, &NoPolicies).unwrap();
    assert_eq!(from_doc.objects, from_stored.objects);
    assert_eq!(from_doc.endpoint, from_stored.endpoint);
    assert_eq!(
        template_annotation(&from_doc, SECRET_REVISION_ANNOTATION).as_deref(),
        Some("rv-7")
    );
    // Only the document's build carries the values, and never among the applied objects.
    assert_eq!(from_doc.secrets.len(), 1);
    assert!(from_stored.secrets.is_empty());
    let applied: Vec<&Value> = from_doc.objects.iter().map(|o| &o.body).collect();
    let applied = serde_json::to_string(&applied).unwrap();
    assert!(
        !applied.contains("shh") && !applied.contains("c2ho"),
        "{applied}"
    );
    let kinds: Vec<&str> = from_doc.objects.iter().map(Object::kind).collect();
    assert_eq!(kinds, ["Deployment", "Service", "NetworkPolicy"]);
}

#[test]
fn the_secret_revision_is_stamped_only_where_the_own_secret_is_read() {
    let ctx = RenderContext::default();
    let d = build(&with_secret(), &Inputs::default(), &ctx, &NoPolicies).unwrap();
    assert_eq!(template_annotation(&d, SECRET_REVISION_ANNOTATION), None);
    // The Secret the API writes carries the hash of its data (for those who may read it).
    let annotations = d.secrets[0].metadata.annotations.as_ref().unwrap();
    assert!(annotations.contains_key(crate::render::labels::DATA_HASH_ANNOTATION));
    let plain = spec(json!({"name": "weather", "image": "x.io/w:1"}));
    let inputs = Inputs {
        secret_revision: Some("rv-7".into()),
        ..Inputs::default()
    };
    let d = build(&plain, &inputs, &ctx, &NoPolicies).unwrap();
    assert_eq!(template_annotation(&d, SECRET_REVISION_ANNOTATION), None);
}

#[test]
fn every_applied_object_is_owned_when_the_owner_is_known() {
    let owner = OwnerReference {
        api_version: "mcp-runtime.dev/v1alpha1".into(),
        kind: "McpServer".into(),
        name: "weather".into(),
        uid: "u-1".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let inputs = Inputs {
        owner: Some(owner.clone()),
        ..Inputs::default()
    };
    let d = build(
        &with_secret(),
        &inputs,
        &RenderContext::default(),
        &NoPolicies,
    )
    .unwrap();
    for o in &d.objects {
        assert_eq!(
            o.body["metadata"]["ownerReferences"],
            json!([owner]),
            "{}",
            o.kind()
        );
    }
    let unowned = build(
        &with_secret(),
        &Inputs::default(),
        &RenderContext::default(),
        &NoPolicies,
    )
    .unwrap();
    assert!(
        unowned
            .objects
            .iter()
            .all(|o| o.body["metadata"].get("ownerReferences").is_none())
    );
}

/// Remembers what it was asked about and labels the Deployment.
#[derive(Default)]
struct Recording(Mutex<Vec<(String, String, Value)>>);

impl PolicyChain for Recording {
    fn apply(
        &self,
        subject: &Subject<'_>,
        manifests: &mut Manifests,
    ) -> Result<PolicyOutcome, PolicyRejection> {
        self.0.lock().unwrap().push((
            subject.name.into(),
            subject.namespace.into(),
            subject.document.clone(),
        ));
        manifests
            .deployment
            .metadata
            .labels
            .get_or_insert_default()
            .insert("org".into(), "acme".into());
        Ok(PolicyOutcome::default())
    }
}

#[test]
fn the_policies_see_the_stored_document_and_their_change_is_applied() {
    let policies = Recording::default();
    let inputs = Inputs {
        server_name: Some("weather".into()),
        ..Inputs::default()
    };
    let d = build(
        &with_secret(),
        &inputs,
        &RenderContext::default(),
        &policies,
    )
    .unwrap();
    assert_eq!(
        d.object("Deployment").unwrap().body["metadata"]["labels"]["org"],
        "acme"
    );
    let seen = policies.0.lock().unwrap();
    let (name, namespace, document) = &seen[0];
    assert_eq!((name.as_str(), namespace.as_str()), ("weather", "default"));
    assert!(!document.to_string().contains("shh"), "{document}");
    assert_eq!(
        document["env"][0]["secretKeyRef"]["name"],
        "mcp-weather-secrets"
    );
}

#[test]
fn a_refusal_is_the_policies_answer() {
    struct Refusing;
    impl PolicyChain for Refusing {
        fn apply(
            &self,
            _: &Subject<'_>,
            _: &mut Manifests,
        ) -> Result<PolicyOutcome, PolicyRejection> {
            Err(PolicyRejection::Denied("denied by plugin p@1: no".into()))
        }
    }
    let err = build(
        &with_secret(),
        &Inputs::default(),
        &RenderContext::default(),
        &Refusing,
    )
    .unwrap_err();
    assert!(
        matches!(err, BuildError::Policy(PolicyRejection::Denied(_))),
        "{err}"
    );
    assert_eq!(err.to_string(), "denied by plugin p@1: no");
}
