//! Converts the JSON Schemas of `schemas/` into the structural OpenAPI v3 schemas a CRD needs.
//!
//! A draft 2020-12 schema with `$ref`, `oneOf`, `const`, `propertyNames` and `writeOnly` is not a
//! valid CRD schema, so the CRD is derived, not written twice: `$ref`s are inlined, `const`
//! becomes a one-value `enum`, the properties of `oneOf`/`anyOf` alternatives are merged into one
//! object (a discriminator's consts into one enum), and keywords a CRD cannot carry are dropped.
//! The API server therefore checks types, enums, patterns and ranges; the cross-field rules (one
//! source per variable, image or command) are checked by the controller against the full JSON
//! Schema, which reports them as `Accepted=False` with their JSON paths.
//!
//! Fields marked `writeOnly` (secret values) are removed, and so are alternatives that require
//! one: the API server then prunes a secret value sent to it, so an `McpServer` can never store
//! one, whoever writes it.

use serde_json::{Map, Value, json};

use crate::schema::SchemaKind;

/// Keywords carried over as they are.
const KEPT: &[&str] = &[
    "type",
    "description",
    "title",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "default",
];

/// The `spec` schema of the `McpServer` CRD.
pub fn server_spec_schema() -> Value {
    let root = SchemaKind::McpServer.document();
    let mut spec = convert(root, root);
    if let Some(obj) = spec.as_object_mut() {
        // In a resource the name defaults to metadata.name.
        if let Some(Value::Array(req)) = obj.get_mut("required") {
            req.retain(|r| r != "name");
            if req.is_empty() {
                obj.remove("required");
            }
        }
    }
    spec
}

/// The `status` schema of the `McpServer` CRD.
pub fn status_schema() -> Value {
    let root = SchemaKind::RuntimeStatus.document();
    convert(root, root)
}

fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix('#')
            .and_then(|p| root.pointer(p))
            .map(|target| resolve(root, target))
            .unwrap_or(node),
        None => node,
    }
}

fn is_write_only(root: &Value, node: &Value) -> bool {
    node.get("writeOnly") == Some(&Value::Bool(true))
        || resolve(root, node).get("writeOnly") == Some(&Value::Bool(true))
}

/// Converts one schema node (following `$ref`, with the referring node's own keywords winning).
///
/// Long (over 80 lines): one arm per JSON Schema keyword the structural schema keeps, drops or
/// rewrites; a table in code, read keyword by keyword.
fn convert(node: &Value, root: &Value) -> Value {
    let mut out = Map::new();
    let target = resolve(root, node);
    if !std::ptr::eq(target, node)
        && let Value::Object(m) = convert(target, root)
    {
        out = m;
    }
    let Some(obj) = node.as_object() else {
        return Value::Object(out);
    };
    for key in KEPT {
        if let Some(v) = obj.get(*key) {
            out.insert((*key).into(), v.clone());
        }
    }
    if let Some(Value::String(p)) = obj.get("pattern") {
        out.insert("pattern".into(), go_regex(p).into());
    }
    // A CRD needs a type wherever JSON Schema lets an enum imply it.
    if let Some(Value::Array(options)) = obj.get("enum")
        && let Some(t) = options.first().and_then(json_type)
        && options.iter().all(|o| json_type(o) == Some(t))
    {
        out.entry("type").or_insert(t.into());
    }
    if let Some(c) = obj.get("const") {
        out.insert("enum".into(), json!([c]));
        if let Some(t) = json_type(c) {
            out.entry("type").or_insert(t.into());
        }
    }
    if obj.get("format").and_then(Value::as_str) == Some("date-time") {
        out.insert("format".into(), "date-time".into());
    }
    let mut properties = Map::new();
    if let Some(Value::Object(props)) = obj.get("properties") {
        for (k, v) in props {
            if !is_write_only(root, v) {
                properties.insert(k.clone(), convert(v, root));
            }
        }
    }
    if let Some(Value::Array(req)) = obj.get("required") {
        let req: Vec<Value> = req
            .iter()
            .filter(|r| r.as_str().is_some_and(|r| properties.contains_key(r)))
            .cloned()
            .collect();
        if !req.is_empty() {
            out.insert("required".into(), Value::Array(req));
        }
    }
    // Alternatives: merge the properties of every object alternative that does not need a
    // write-only field; required only what all of them require.
    for key in ["oneOf", "anyOf"] {
        let Some(Value::Array(branches)) = obj.get(key) else {
            continue;
        };
        let kept: Vec<&Value> = branches
            .iter()
            .filter(|b| !requires_write_only(root, b))
            .collect();
        let object_branches: Vec<&Value> = kept
            .iter()
            .copied()
            .filter(|b| b.get("properties").is_some())
            .collect();
        if object_branches.is_empty() {
            continue;
        }
        out.insert("type".into(), "object".into());
        let mut common: Option<Vec<Value>> = None;
        for b in &object_branches {
            let converted = convert(b, root);
            if let Some(Value::Object(props)) = converted.get("properties") {
                for (k, v) in props {
                    // A default of one alternative must not leak into the others (a stdio
                    // transport would get `port: 8080` and then fail its own schema).
                    let mut v = v.clone();
                    if let Some(m) = v.as_object_mut() {
                        m.remove("default");
                    }
                    merge_property(&mut properties, k, &v);
                }
            }
            let req = converted
                .get("required")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            common = Some(match common {
                None => req,
                Some(c) => c.into_iter().filter(|r| req.contains(r)).collect(),
            });
        }
        if let Some(c) = common.filter(|c| !c.is_empty()) {
            out.insert("required".into(), Value::Array(c));
        }
    }
    if !properties.is_empty() {
        out.insert("properties".into(), Value::Object(properties));
        out.entry("type").or_insert("object".into());
    }
    if let Some(items) = obj.get("items") {
        out.insert("items".into(), convert(items, root));
    }
    if let Some(ap) = obj.get("additionalProperties").filter(|v| v.is_object()) {
        out.insert("additionalProperties".into(), convert(ap, root));
    }
    Value::Object(out)
}

fn requires_write_only(root: &Value, branch: &Value) -> bool {
    let Some(req) = branch.get("required").and_then(Value::as_array) else {
        return false;
    };
    req.iter().filter_map(Value::as_str).any(|r| {
        branch
            .get("properties")
            .and_then(|p| p.get(r))
            .is_some_and(|p| is_write_only(root, p))
    })
}

/// Adds property `k` to `props`; two one-value enums of the same property become one enum.
fn merge_property(props: &mut Map<String, Value>, k: &str, v: &Value) {
    match props.get_mut(k) {
        None => {
            props.insert(k.to_string(), v.clone());
        }
        Some(existing) => {
            if let (Some(Value::Array(a)), Some(Value::Array(b))) =
                (existing.get("enum").cloned(), v.get("enum"))
            {
                let mut merged = a;
                for x in b {
                    if !merged.contains(x) {
                        merged.push(x.clone());
                    }
                }
                existing["enum"] = Value::Array(merged);
            }
        }
    }
}

/// ECMA-262 `\uXXXX` escapes become RE2's `\x{XXXX}` (the API server compiles patterns with
/// Go's regexp).
fn go_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\'
            && i + 5 < chars.len()
            && chars[i + 1] == 'u'
            && chars[i + 2..i + 6].iter().all(|c| c.is_ascii_hexdigit())
        {
            out.push_str("\\x{");
            out.extend(&chars[i + 2..i + 6]);
            out.push('}');
            i += 6;
        } else if chars[i] == '\\' && i + 1 < chars.len() {
            out.push(chars[i]);
            out.push(chars[i + 1]);
            i += 2;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

fn json_type(v: &Value) -> Option<&'static str> {
    match v {
        Value::String(_) => Some("string"),
        Value::Bool(_) => Some("boolean"),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some("integer"),
        Value::Number(_) => Some("number"),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
