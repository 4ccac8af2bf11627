//! The JSON Schemas of `schemas/`, compiled once, and the checks every input goes through.
//!
//! This module owns the translation of `jsonschema` errors into [`Violation`]s: a JSON pointer,
//! the rule that failed and a message. Messages are written here from the schema side only and
//! never quote the offending value, so a secret value in a rejected document cannot leak into an
//! error, a log line or an HTTP problem body.

use std::fmt;
use std::sync::LazyLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde::Serialize;
use serde_json::Value;

/// The schemas mcp-runtime validates against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum SchemaKind {
    /// One MCP server (`schemas/mcp-server.schema.json`).
    McpServer,
    /// The status an MCP server reports (`schemas/runtime-status.schema.json`).
    RuntimeStatus,
    /// The control plane's settings (`schemas/runtime-config.schema.json`).
    RuntimeConfig,
    /// A plugin manifest (`schemas/plugin.schema.json`).
    Plugin,
}

impl SchemaKind {
    pub const ALL: [SchemaKind; 4] = [
        SchemaKind::McpServer,
        SchemaKind::RuntimeStatus,
        SchemaKind::RuntimeConfig,
        SchemaKind::Plugin,
    ];

    /// The schema document as shipped in `schemas/`.
    pub fn source(self) -> &'static str {
        match self {
            SchemaKind::McpServer => include_str!("../schemas/mcp-server.schema.json"),
            SchemaKind::RuntimeStatus => include_str!("../schemas/runtime-status.schema.json"),
            SchemaKind::RuntimeConfig => include_str!("../schemas/runtime-config.schema.json"),
            SchemaKind::Plugin => include_str!("../schemas/plugin.schema.json"),
        }
    }

    /// File name under `schemas/`.
    pub fn file_name(self) -> &'static str {
        match self {
            SchemaKind::McpServer => "mcp-server.schema.json",
            SchemaKind::RuntimeStatus => "runtime-status.schema.json",
            SchemaKind::RuntimeConfig => "runtime-config.schema.json",
            SchemaKind::Plugin => "plugin.schema.json",
        }
    }

    /// The parsed schema document.
    pub fn document(self) -> &'static Value {
        &compiled(self).document
    }

    /// Checks `instance`, returning every violation at once.
    pub fn validate(self, instance: &Value) -> Result<(), Violations> {
        let schema = compiled(self);
        let mut out = Vec::new();
        for error in schema.validator.iter_errors(instance) {
            collect(&schema.document, &error, &mut out);
        }
        if out.is_empty() {
            return Ok(());
        }
        out.sort();
        out.dedup();
        Err(Violations {
            schema: self,
            violations: out,
        })
    }
}

/// One broken rule: where (JSON pointer into the checked document), which rule, and why.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Violation {
    /// JSON pointer (RFC 6901) of the offending value; empty for the document itself.
    pub path: String,
    /// The JSON Schema keyword that failed (`required`, `pattern`, `additionalProperties` …).
    pub rule: String,
    /// What is wrong, without quoting the value.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{path}: {} ({})", self.message, self.rule)
    }
}

/// All violations of one document.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub struct Violations {
    pub schema: SchemaKind,
    pub violations: Vec<Violation>,
}

impl Violations {
    /// The `(path, rule)` pairs, handy for assertions and summaries.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.violations
            .iter()
            .map(|v| (v.path.as_str(), v.rule.as_str()))
            .collect()
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} violation(s) of {}:",
            self.violations.len(),
            self.schema.file_name()
        )?;
        for v in &self.violations {
            write!(f, "\n  {v}")?;
        }
        Ok(())
    }
}

struct Compiled {
    document: Value,
    validator: Validator,
}

fn compile(kind: SchemaKind) -> Compiled {
    // The schemas are part of the binary and covered by tests; failing here is a build defect,
    // not an input error, so a panic with the schema's name is the honest outcome.
    let document: Value = serde_json::from_str(kind.source())
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", kind.file_name()));
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&document)
        .unwrap_or_else(|e| panic!("{} does not compile: {e}", kind.file_name()));
    Compiled {
        document,
        validator,
    }
}

fn compiled(kind: SchemaKind) -> &'static Compiled {
    static MCP_SERVER: LazyLock<Compiled> = LazyLock::new(|| compile(SchemaKind::McpServer));
    static STATUS: LazyLock<Compiled> = LazyLock::new(|| compile(SchemaKind::RuntimeStatus));
    static CONFIG: LazyLock<Compiled> = LazyLock::new(|| compile(SchemaKind::RuntimeConfig));
    static PLUGIN: LazyLock<Compiled> = LazyLock::new(|| compile(SchemaKind::Plugin));
    match kind {
        SchemaKind::McpServer => &MCP_SERVER,
        SchemaKind::RuntimeStatus => &STATUS,
        SchemaKind::RuntimeConfig => &CONFIG,
        SchemaKind::Plugin => &PLUGIN,
    }
}

/// A schema that is not one of ours (a plugin's settings schema), compiled.
pub struct CustomSchema {
    document: Value,
    validator: Validator,
}

impl CustomSchema {
    /// Compiles `document` (draft 2020-12 unless it says otherwise); the error says why not.
    pub fn compile(document: &Value) -> Result<CustomSchema, String> {
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(document)
            .map_err(|e| e.to_string())?;
        Ok(CustomSchema {
            document: document.clone(),
            validator,
        })
    }

    /// Every violation of `instance`, with the same paths and messages as ours.
    pub fn violations(&self, instance: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        for error in self.validator.iter_errors(instance) {
            collect(&self.document, &error, &mut out);
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Escapes one JSON-pointer segment (RFC 6901).
pub fn escape_pointer_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn child(path: &str, segment: &str) -> String {
    format!("{path}/{}", escape_pointer_segment(segment))
}

/// Turns one `jsonschema` error into violations, looking into `oneOf`/`anyOf` to report the
/// branch the author most likely meant instead of "matches none of the alternatives".
///
/// Long (over 80 lines): one arm per error kind of `jsonschema`, each with its message.
fn collect(root: &Value, error: &ValidationError<'_>, out: &mut Vec<Violation>) {
    let path = error.instance_path().as_str().to_string();
    let push = |out: &mut Vec<Violation>, path: String, rule: &str, message: String| {
        out.push(Violation {
            path,
            rule: rule.to_string(),
            message,
        })
    };
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            for name in unexpected {
                push(
                    out,
                    child(&path, name),
                    "additionalProperties",
                    "unknown field".into(),
                );
            }
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            push(
                out,
                child(&path, name),
                "required",
                "missing required field".into(),
            );
        }
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            let rule = error.kind().keyword();
            // The branch with strictly the fewest errors is the one the author meant (a
            // discriminated union whose `type` matched, for example). With a tie, say which
            // alternatives exist instead of guessing.
            // A branch whose `const` failed (a discriminator such as `type`) was not meant.
            let score = |errors: &Vec<ValidationError<'static>>| {
                let discriminator_failed = errors
                    .iter()
                    .any(|e| matches!(e.kind(), ValidationErrorKind::Constant { .. }));
                (discriminator_failed, errors.len())
            };
            let fewest = context.iter().map(score).min().unwrap_or((false, 0));
            let best: Vec<_> = context.iter().filter(|c| score(c) == fewest).collect();
            let fewest = fewest.1;
            if best.len() == 1 && fewest > 0 {
                for e in best[0] {
                    collect(root, e, out);
                }
            } else {
                let titles = branch_titles(root, error.schema_path().as_str());
                let message = match (rule, titles.is_empty()) {
                    ("oneOf", false) => format!("must match exactly one of: {}", titles.join(", ")),
                    ("oneOf", true) => "must match exactly one alternative".into(),
                    (_, false) => format!("must match at least one of: {}", titles.join(", ")),
                    (_, true) => "must match at least one alternative".into(),
                };
                push(out, path, rule, message);
            }
        }
        ValidationErrorKind::PropertyNames { error: inner } => {
            // The inner error's instance is the offending key (a key, never a value).
            let key = inner.instance().as_str().unwrap_or_default().to_string();
            push(
                out,
                child(&path, &key),
                "propertyNames",
                format!("invalid key: {}", describe(inner.kind())),
            );
        }
        ValidationErrorKind::Not { schema } => {
            // Mutual exclusion (`not: {anyOf: [{required: [..]}]}`): point at the fields that
            // must not be there. Field names are safe to show; values are not shown.
            let forbidden = required_names(schema);
            let present: Vec<&String> = forbidden
                .iter()
                .filter(|f| error.instance().get(f.as_str()).is_some())
                .collect();
            if present.is_empty() {
                push(out, path.clone(), "not", "is not allowed here".into());
            }
            for f in present {
                push(
                    out,
                    child(&path, f),
                    "not",
                    "not allowed together with the other fields given here".into(),
                );
            }
        }
        kind => {
            let message = describe(kind);
            push(out, path, kind.keyword(), message);
        }
    }
}

/// Field names listed in `required` of a schema or of its `anyOf`/`oneOf` branches.
fn required_names(schema: &Value) -> Vec<String> {
    let mut out: Vec<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    for key in ["anyOf", "oneOf"] {
        for branch in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.extend(required_names(branch));
        }
    }
    out
}

/// Titles of the alternatives of the `oneOf`/`anyOf` at `schema_path`, when they have any.
fn branch_titles(root: &Value, schema_path: &str) -> Vec<String> {
    let node = root.pointer(schema_path).or_else(|| {
        // Paths through `$ref` are reported relative to the referenced definition.
        schema_path
            .find("/$defs/")
            .and_then(|i| root.pointer(&schema_path[i..]))
    });
    node.and_then(Value::as_array)
        .map(|branches| {
            branches
                .iter()
                .filter_map(|b| b.get("title").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn describe(kind: &ValidationErrorKind) -> String {
    use ValidationErrorKind as K;
    match kind {
        K::Type { kind } => format!("wrong type, expected {}", type_name(kind)),
        K::Enum { options } => format!("must be one of {options}"),
        K::Constant { expected_value } => format!("must be {expected_value}"),
        K::Pattern { pattern } => format!("does not match the pattern {pattern}"),
        K::Format { format } => format!("is not a valid {format}"),
        K::Minimum { limit } => format!("must be at least {limit}"),
        K::Maximum { limit } => format!("must be at most {limit}"),
        K::ExclusiveMinimum { limit } => format!("must be greater than {limit}"),
        K::ExclusiveMaximum { limit } => format!("must be less than {limit}"),
        K::MinLength { limit } => format!("must be at least {limit} character(s) long"),
        K::MaxLength { limit } => format!("must be at most {limit} characters long"),
        K::MinItems { limit } => format!("must have at least {limit} item(s)"),
        K::MaxItems { limit } => format!("must have at most {limit} items"),
        K::MinProperties { limit } => format!("must have at least {limit} field(s)"),
        K::MaxProperties { limit } => format!("must have at most {limit} fields"),
        K::UniqueItems => "items must be unique".into(),
        K::OneOfMultipleValid { .. } => "matches more than one alternative".into(),
        K::Not { .. } => "is not allowed here".into(),
        K::FalseSchema => "is not allowed".into(),
        other => format!("violates {}", other.keyword()),
    }
}

fn type_name(kind: &jsonschema::error::TypeKind) -> String {
    match kind {
        jsonschema::error::TypeKind::Single(t) => t.to_string(),
        jsonschema::error::TypeKind::Multiple(set) => format!("{set:?}"),
    }
}
