//! The OpenAPI document served at `/openapi.json`: `schemas/openapi.json`, with the JSON Schemas
//! it names by file (`mcp-server.schema.json`, `runtime-status.schema.json`) bundled under
//! `components/schemas`, so that a client of the served document (schemathesis, a client
//! generator) resolves every `$ref` without our repository at hand. The committed file keeps
//! the file references: in the repository they resolve, and the schemas have one source.

use std::sync::LazyLock;

use serde_json::Value;

use crate::schema::SchemaKind;

/// The committed document, with file references.
pub const SOURCE: &str = include_str!("../../schemas/openapi.json");

/// The schemas bundled, as (file name referred to, component name).
const BUNDLED: &[(SchemaKind, &str)] = &[
    (SchemaKind::McpServer, "McpServer"),
    (SchemaKind::RuntimeStatus, "RuntimeStatus"),
];

static SERVED: LazyLock<String> = LazyLock::new(|| bundle().to_string());

/// The self-contained document, as served.
pub fn served() -> &'static str {
    &SERVED
}

/// The committed document with every file reference replaced by its bundled component.
pub fn bundle() -> Value {
    // Both are embedded at build time and checked by tests: a parse failure is a build defect.
    let mut doc: Value = serde_json::from_str(SOURCE).unwrap_or_default();
    for (kind, component) in BUNDLED {
        let target = format!("#/components/schemas/{component}");
        rewrite_refs(&mut doc, &|r| {
            (r == kind.file_name()).then(|| target.clone())
        });
        let mut schema = kind.document().clone();
        let mut defs = serde_json::Map::new();
        if let Some(root) = schema.as_object_mut() {
            // `$id` would make tools resolve the internal references against a URL.
            root.remove("$id");
            root.remove("$schema");
            // Client generators model components, not a component's `$defs`: each definition
            // becomes a component of its own, `McpServer` + `envVar` = `McpServerEnvVar`.
            if let Some(Value::Object(d)) = root.remove("$defs") {
                defs = d;
            }
        }
        let local = |r: &str| local_ref(r, component, &target);
        rewrite_refs(&mut schema, &local);
        doc["components"]["schemas"][component] = schema;
        for (name, mut def) in defs {
            rewrite_refs(&mut def, &local);
            doc["components"]["schemas"][def_component(component, &name)] = def;
        }
    }
    namespaced(&mut doc);
    let server = doc["components"]["schemas"]["McpServer"].clone();
    for (name, derived) in [
        ("McpServerReplace", replace_body(&server)),
        ("McpServerPatch", patch_body(&server)),
    ] {
        let description = doc["components"]["schemas"][name]["description"].clone();
        let mut derived = derived;
        derived["description"] = description;
        doc["components"]["schemas"][name] = derived;
    }
    doc
}

/// Where a reference inside the bundled schema `component` (at `target`) points once bundled:
/// `#/$defs/x` to the component made of that definition, any other local pointer into the
/// component itself.
fn local_ref(r: &str, component: &str, target: &str) -> Option<String> {
    let rest = r.strip_prefix("#/")?;
    Some(match rest.strip_prefix("$defs/") {
        Some(def) => {
            let (name, below) = def.split_once('/').map_or((def, ""), |(n, b)| (n, b));
            let at = format!("#/components/schemas/{}", def_component(component, name));
            if below.is_empty() {
                at
            } else {
                format!("{at}/{below}")
            }
        }
        None => format!("{target}/{rest}"),
    })
}

/// The component name of the definition `name` of the bundled schema `component`.
fn def_component(component: &str, name: &str) -> String {
    let mut chars = name.chars();
    let first = chars.next().map(|c| c.to_ascii_uppercase());
    format!(
        "{component}{}{}",
        first.into_iter().collect::<String>(),
        chars.as_str()
    )
}

/// The namespace a namespaced route addresses, as a path parameter.
fn namespace_parameter() -> Value {
    serde_json::json!({
        "name": "namespace",
        "in": "path",
        "required": true,
        "description": "The namespace of the servers: one this control plane serves (MCP_RUNTIME_NAMESPACES); any other is a 404. Without it (`/v1/servers`), the control plane's own namespace.",
        "schema": {"type": "string", "maxLength": 63, "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}
    })
}

/// Adds `/v1/namespaces/{namespace}/...` for every server and render route of the document
/// (same operations, an operationId of their own, a 404 for a namespace not served), and a
/// 403 to every `/v1` operation: a Kubernetes identity is authorised by RBAC, call by call.
/// Derived here so that the two forms cannot drift apart.
fn namespaced(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    let problem = paths
        .values()
        .flat_map(|item| item.as_object().into_iter().flatten())
        .find_map(|(_, op)| op.pointer("/responses/401").cloned());
    let mut added = Vec::new();
    for (path, item) in paths.iter_mut() {
        if !path.starts_with("/v1/") {
            continue;
        }
        for op in item
            .as_object_mut()
            .into_iter()
            .flat_map(|o| o.values_mut())
        {
            if let (Some(responses), Some(p)) = (op.get_mut("responses"), &problem) {
                responses["403"] = p.clone();
            }
        }
        let Some(rest) = path
            .strip_prefix("/v1")
            .filter(|r| r.starts_with("/servers") || *r == "/render")
        else {
            continue;
        };
        let mut copy = item.clone();
        let mut parameters = vec![namespace_parameter()];
        parameters.extend(copy["parameters"].as_array().cloned().unwrap_or_default());
        copy["parameters"] = Value::Array(parameters);
        for op in copy
            .as_object_mut()
            .into_iter()
            .flat_map(|o| o.values_mut())
        {
            if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                op["operationId"] = format!("{id}InNamespace").into();
            }
            if let (Some(responses), Some(p)) = (op.get_mut("responses"), &problem) {
                responses["404"] = p.clone();
            }
        }
        added.push((format!("/v1/namespaces/{{namespace}}{rest}"), copy));
    }
    paths.extend(added);
}

/// A PUT body: the server document without `name` (the URL names the server).
fn replace_body(server: &Value) -> Value {
    let mut body = server.clone();
    if let Some(props) = body["properties"].as_object_mut() {
        props.remove("name");
    }
    if let Some(required) = body["required"].as_array_mut() {
        required.retain(|r| r != "name");
    }
    if let Some(o) = body.as_object_mut() {
        // Its references point into McpServer's `$defs`; its examples carry names.
        for key in ["examples", "title", "$defs"] {
            o.remove(key);
        }
    }
    body
}

/// A PATCH body (JSON merge patch): the document's top-level fields but `name`, none required.
/// Their values are not constrained here: a merge patch's `null` removes a field at any depth,
/// and nested objects merge into the stored ones, so only the merged document can be checked
/// (it is, against mcp-server.schema.json: a 422 with every violated path).
fn patch_body(server: &Value) -> Value {
    let mut properties = serde_json::Map::new();
    for (key, schema) in server["properties"].as_object().into_iter().flatten() {
        if key != "name" {
            let mut any = serde_json::Map::new();
            if let Some(d) = schema.get("description") {
                any.insert("description".into(), d.clone());
            }
            properties.insert(key.clone(), Value::Object(any));
        }
    }
    serde_json::json!({
        "type": "object",
        "additionalProperties": false,
        "properties": properties,
    })
}

/// Replaces each `$ref` in `value` for which `to` gives a new target.
fn rewrite_refs(value: &mut Value, to: &dyn Fn(&str) -> Option<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(r) if key == "$ref" => {
                        if let Some(new) = to(r) {
                            *r = new;
                        }
                    }
                    other => rewrite_refs(other, to),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, to)),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
