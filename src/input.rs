//! Reading documents given on the command line: JSON or YAML, from a file or stdin.
//!
//! Parse errors carry the line and column but never the text around them (it may be a secret).

use std::io::Read;
use std::path::Path;

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {source_name}: {error}")]
    Read {
        source_name: String,
        error: std::io::Error,
    },
    #[error("{source_name} is not valid JSON or YAML{location}: {reason}")]
    Parse {
        source_name: String,
        location: String,
        reason: String,
    },
}

/// Reads `path` (`-` for stdin) and parses it as JSON, or as YAML when it is not JSON.
pub fn read_document(path: &Path) -> Result<Value, InputError> {
    let source_name = path.display().to_string();
    let mut text = String::new();
    let result = if source_name == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|t| text = t)
    };
    result.map_err(|error| InputError::Read {
        source_name: source_name.clone(),
        error,
    })?;
    parse_document(&text, &source_name)
}

/// Parses JSON, or YAML (one document) when the text is not JSON.
pub fn parse_document(text: &str, source_name: &str) -> Result<Value, InputError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return serde_json::from_str(text).map_err(|e| InputError::Parse {
            source_name: source_name.into(),
            location: format!(" at line {} column {}", e.line(), e.column()),
            reason: json_reason(&e),
        });
    }
    serde_norway::from_str::<Value>(text).map_err(|e| InputError::Parse {
        source_name: source_name.into(),
        location: e
            .location()
            .map(|l| format!(" at line {} column {}", l.line(), l.column()))
            .unwrap_or_default(),
        reason: "syntax error".into(),
    })
}

fn json_reason(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof => "unexpected end of input".into(),
        Category::Syntax => "syntax error".into(),
        Category::Data => "unexpected data".into(),
        Category::Io => "read error".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_yaml_give_the_same_value() {
        let a = parse_document(r#"{"name": "x", "replicas": 2}"#, "a").unwrap();
        let b = parse_document("name: x\nreplicas: 2\n", "b").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn parse_errors_name_the_place_but_not_the_text() {
        let err = parse_document("{\"secretValue\": \"hunter2\"", "f.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("f.json") && err.contains("line 1"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = parse_document("name: [hunter2\n", "f.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
