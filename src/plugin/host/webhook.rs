//! Webhook policies: a hook point answered by an HTTP(S) endpoint of the platform instead of a
//! component, for platforms that keep their policy in a service. Same contract as a component
//! (context and manifest in; allowed, violations or the changed manifest out), and the same
//! deadline, output bound, failure policy, write scope and attribution, since the chain treats
//! both alike.
//!
//! Request: `POST <url>` with `{"hook", "context": {serverName, namespace, hook, settings,
//! server}, "manifest"}` (settings, server and manifest as JSON values). Answer: `{"allowed":
//! true, "manifest": {...}}` (the manifest only for mutate hooks), or `{"allowed": false,
//! "violations": [{"message", "path"}]}`.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use super::PluginErrorKind;
use crate::plugin::deadline::Deadline;

pub struct Webhook {
    url: String,
    agent: ureq::Agent,
}

#[derive(Debug, Deserialize)]
struct Answer {
    allowed: bool,
    #[serde(default)]
    violations: Vec<Violation>,
    #[serde(default)]
    manifest: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct Violation {
    pub message: String,
    #[serde(default)]
    pub path: Option<String>,
}

/// What a webhook said.
pub enum Reply {
    Allowed(Option<Value>),
    Denied(Vec<Violation>),
}

pub struct Call<'a> {
    pub hook: &'a str,
    pub server_name: &'a str,
    pub namespace: &'a str,
    pub settings: &'a str,
    pub server: &'a str,
    pub manifest: Option<&'a str>,
    pub deadline: Deadline,
    pub max_output: u64,
}

impl Webhook {
    pub fn new(url: &str) -> Webhook {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Webhook {
            url: url.to_string(),
            agent,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn call(&self, c: &Call<'_>) -> Result<Reply, PluginErrorKind> {
        let left = c.deadline.at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(PluginErrorKind::Timeout {
                limit_ms: c.deadline.limit_ms,
                cut: c.deadline.cut,
            });
        }
        let parse =
            |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::String(text.into()));
        let body = json!({
            "hook": c.hook,
            "context": {
                "serverName": c.server_name,
                "namespace": c.namespace,
                "hook": c.hook,
                "settings": parse(c.settings),
                "server": parse(c.server),
            },
            "manifest": c.manifest.map(parse),
        });
        let sent = self
            .agent
            .post(&self.url)
            .config()
            .timeout_global(Some(left.max(Duration::from_millis(1))))
            .build()
            .send_json(&body);
        let mut response = match sent {
            Ok(r) => r,
            Err(ureq::Error::Timeout(_)) => {
                return Err(PluginErrorKind::Timeout {
                    limit_ms: c.deadline.limit_ms,
                    cut: c.deadline.cut,
                });
            }
            Err(e) => return Err(PluginErrorKind::Trap(format!("webhook unreachable: {e}"))),
        };
        let status = response.status();
        let text = match response
            .body_mut()
            .with_config()
            .limit(c.max_output)
            .read_to_string()
        {
            Ok(t) => t,
            Err(ureq::Error::Timeout(_)) => {
                return Err(PluginErrorKind::Timeout {
                    limit_ms: c.deadline.limit_ms,
                    cut: c.deadline.cut,
                });
            }
            Err(ureq::Error::BodyExceedsLimit(_)) => {
                return Err(PluginErrorKind::BadOutput(format!(
                    "answer over the limit of {} bytes",
                    c.max_output
                )));
            }
            Err(e) => {
                return Err(PluginErrorKind::BadOutput(format!(
                    "reading the answer: {e}"
                )));
            }
        };
        if !status.is_success() {
            return Err(PluginErrorKind::BadOutput(format!(
                "webhook answered HTTP {}",
                status.as_u16()
            )));
        }
        let answer: Answer = serde_json::from_str(&text).map_err(|e| {
            PluginErrorKind::BadOutput(format!("not the webhook answer shape: {e}"))
        })?;
        if answer.allowed {
            Ok(Reply::Allowed(answer.manifest))
        } else {
            Ok(Reply::Denied(answer.violations))
        }
    }
}
