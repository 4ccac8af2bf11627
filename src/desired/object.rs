//! One object of a desired state, kind-erased: what server-side apply needs (the resource, the
//! name, the body with `apiVersion` and `kind`), so one apply path and one prune serve every
//! kind the controller owns.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use kube::core::ApiResource;
use serde::Serialize;
use serde_json::{Map, Value};

/// An object to apply.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    pub resource: ApiResource,
    pub name: String,
    /// The whole object as JSON, `apiVersion` and `kind` first.
    pub body: Value,
    /// JSON pointers of lists the object must hold exactly as desired: server-side apply keeps
    /// list entries other managers added, which a Service's ports must not have.
    pub exclusive: &'static [&'static str],
}

impl Object {
    /// `obj` as an object of its kind, owned by `owner` when given.
    pub fn of<K>(obj: &K, owner: Option<&OwnerReference>) -> serde_json::Result<Object>
    where
        K: Resource<DynamicType = ()> + Serialize,
    {
        let resource = ApiResource::erase::<K>(&());
        let name = obj.meta().name.clone().unwrap_or_default();
        let mut body = Map::new();
        body.insert("apiVersion".into(), resource.api_version.clone().into());
        body.insert("kind".into(), resource.kind.clone().into());
        if let Value::Object(mut fields) = serde_json::to_value(obj)? {
            if let Some(owner) = owner
                && let Some(Value::Object(meta)) = fields.get_mut("metadata")
            {
                meta.insert("ownerReferences".into(), serde_json::to_value([owner])?);
            }
            body.append(&mut fields);
        }
        Ok(Object {
            resource,
            name,
            body: Value::Object(body),
            exclusive: &[],
        })
    }

    /// The same object, whose lists at `pointers` must hold exactly the desired entries.
    pub fn exclusive(mut self, pointers: &'static [&'static str]) -> Object {
        self.exclusive = pointers;
        self
    }

    pub fn kind(&self) -> &str {
        &self.resource.kind
    }
}

/// What tells whether an object changed since it was applied: its `generation` when it has
/// one (a Deployment's moves only with its spec, not with its status), else its
/// `resourceVersion` (any write).
pub fn fingerprint(meta: &ObjectMeta) -> Option<String> {
    match meta.generation {
        Some(g) => Some(format!("g{g}")),
        None => meta.resource_version.as_ref().map(|rv| format!("rv{rv}")),
    }
}
