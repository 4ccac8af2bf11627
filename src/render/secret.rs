//! The server's own Secrets: one for secret environment values, one for registry credentials.
//!
//! Only these two objects ever hold secret values; the Deployment reads them through
//! `secretKeyRef` and volumes, never inline.

use std::collections::BTreeMap;

use base64::Engine;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::crd::{EnvSource, ImagePullSecret, McpServerSpec};

use super::labels;
use super::names::ServerNames;

/// Key → value of every `secretValue` in the spec; empty when there is none.
pub fn secret_data(spec: &McpServerSpec) -> BTreeMap<String, ByteString> {
    spec.env
        .iter()
        .filter_map(|e| match e.source() {
            Some(EnvSource::Secret(v)) => {
                Some((e.name.clone(), ByteString(v.expose().as_bytes().to_vec())))
            }
            _ => None,
        })
        .collect()
}

/// A hash of the Secret data for the pod-template annotation. Domain-separated and cut to 16
/// hex digits: enough to notice a change, and it is only a fingerprint of data already
/// readable by whoever can read the Secret.
pub fn data_hash(data: &BTreeMap<String, ByteString>) -> String {
    let mut h = Sha256::new();
    h.update(b"mcp-runtime/secret-hash/v1\0");
    for (k, v) in data {
        h.update((k.len() as u64).to_be_bytes());
        h.update(k.as_bytes());
        h.update((v.0.len() as u64).to_be_bytes());
        h.update(&v.0);
    }
    hex::encode(&h.finalize()[..8])
}

/// The Opaque Secret with the secret environment values, or `None` when there are none.
pub fn env_secret(spec: &McpServerSpec, names: &ServerNames, namespace: &str) -> Option<Secret> {
    let data = secret_data(spec);
    if data.is_empty() {
        return None;
    }
    let mut metadata = meta(spec, names, &names.secret, namespace);
    metadata
        .annotations
        .get_or_insert_default()
        .insert(labels::DATA_HASH_ANNOTATION.into(), data_hash(&data));
    Some(Secret {
        metadata,
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Default::default()
    })
}

/// The `kubernetes.io/dockerconfigjson` Secret built from registry credentials, if any.
pub fn pull_secret(spec: &McpServerSpec, names: &ServerNames, namespace: &str) -> Option<Secret> {
    let mut auths = serde_json::Map::new();
    for p in &spec.image_pull_secrets {
        if let ImagePullSecret::Credentials {
            registry,
            username,
            password,
            email,
        } = p
        {
            let auth = base64::engine::general_purpose::STANDARD
                .encode(format!("{username}:{}", password.expose()));
            auths.insert(
                registry.clone(),
                json!({
                    "username": username,
                    "password": password.expose(),
                    "email": email.clone().unwrap_or_default(),
                    "auth": auth,
                }),
            );
        }
    }
    if auths.is_empty() {
        return None;
    }
    let config = json!({ "auths": auths }).to_string();
    Some(Secret {
        metadata: meta(spec, names, &names.pull_secret, namespace),
        type_: Some("kubernetes.io/dockerconfigjson".into()),
        data: Some(BTreeMap::from([(
            ".dockerconfigjson".to_string(),
            ByteString(config.into_bytes()),
        )])),
        ..Default::default()
    })
}

fn meta(spec: &McpServerSpec, names: &ServerNames, name: &str, namespace: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()),
        labels: Some(labels::labels(spec, names)),
        annotations: Some(labels::annotations(spec)),
        ..Default::default()
    }
}

/// Splits the secret values out of a document: the spec to store (secret values replaced by
/// references to the server's own Secrets) and those Secrets. What the cluster stores in the
/// `McpServer` then never holds a secret value, and rendering the stored spec gives the same
/// Deployment as rendering the document.
pub fn split(
    spec: &McpServerSpec,
    names: &ServerNames,
    namespace: &str,
) -> (McpServerSpec, Option<Secret>, Option<Secret>) {
    let env_secret = env_secret(spec, names, namespace);
    let pull = pull_secret(spec, names, namespace);
    let mut stored = spec.clone();
    for var in &mut stored.env {
        if var.secret_value.take().is_some() {
            var.secret_key_ref = Some(crate::crd::KeyRef {
                name: names.secret.clone(),
                key: var.name.clone(),
                optional: false,
            });
        }
    }
    stored
        .image_pull_secrets
        .retain(|p| matches!(p, ImagePullSecret::Existing { .. }));
    if pull.is_some() {
        stored.image_pull_secrets.push(ImagePullSecret::Existing {
            name: names.pull_secret.clone(),
        });
    }
    (stored, env_secret, pull)
}
