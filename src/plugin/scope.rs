//! Write scopes: JSON-pointer globs a plugin may change. `*` matches one segment, `**` any
//! number of segments (including none).

use serde_json::Value;

/// Whether `pointer` (RFC 6901) matches `glob`.
pub fn matches(glob: &str, pointer: &str) -> bool {
    let g: Vec<&str> = glob.split('/').skip(1).collect();
    let p: Vec<&str> = pointer.split('/').skip(1).collect();
    match_segments(&g, &p)
}

fn match_segments(g: &[&str], p: &[&str]) -> bool {
    match (g.first(), p.first()) {
        (None, None) => true,
        (Some(&"**"), _) => {
            match_segments(&g[1..], p) || (!p.is_empty() && match_segments(g, &p[1..]))
        }
        (Some(&"*"), Some(_)) => match_segments(&g[1..], &p[1..]),
        (Some(a), Some(b)) if a == b => match_segments(&g[1..], &p[1..]),
        _ => false,
    }
}

/// The pointers an operation writes: for an added or replaced object or array, every leaf
/// under it (so adding `/metadata/labels` with one label counts as writing that one label).
pub fn written_pointers(op: &Value) -> Vec<String> {
    let path = op
        .get("path")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut out = Vec::new();
    match op.get("value") {
        Some(v) => leaves(&path, v, &mut out),
        None => out.push(path),
    }
    if let Some(from) = op.get("from").and_then(Value::as_str)
        && op.get("op").and_then(Value::as_str) == Some("move")
    {
        out.push(from.to_string());
    }
    out
}

fn leaves(path: &str, v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                leaves(
                    &format!("{path}/{}", crate::schema::escape_pointer_segment(k)),
                    child,
                    out,
                );
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, child) in a.iter().enumerate() {
                leaves(&format!("{path}/{i}"), child, out);
            }
        }
        _ => out.push(path.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs() {
        assert!(matches("/metadata/labels/*", "/metadata/labels/team"));
        assert!(!matches("/metadata/labels/*", "/metadata/labels"));
        assert!(!matches("/metadata/labels/*", "/metadata/annotations/x"));
        assert!(matches(
            "/spec/template/**",
            "/spec/template/spec/containers/0/image"
        ));
        assert!(matches("/spec/**", "/spec"));
        assert!(matches(
            "/spec/template/spec/containers/*/securityContext/**",
            "/spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem"
        ));
        assert!(!matches(
            "/spec/template/spec/containers/*/securityContext/**",
            "/spec/template/spec/containers/0/image"
        ));
    }

    #[test]
    fn added_objects_count_as_their_leaves() {
        let op = json!({"op": "add", "path": "/metadata/labels", "value": {"a": "1", "b/c": "2"}});
        assert_eq!(
            written_pointers(&op),
            vec!["/metadata/labels/a", "/metadata/labels/b~1c"]
        );
        let op = json!({"op": "remove", "path": "/spec/replicas"});
        assert_eq!(written_pointers(&op), vec!["/spec/replicas"]);
    }
}
