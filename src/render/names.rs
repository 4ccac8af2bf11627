//! Object names and label values derived from a server's name.
//!
//! The name a person gives a server is free text. It is sanitised exactly like the reference
//! system did (lowercase, whitespace runs to `-`, everything outside `[a-z0-9.-]` dropped, runs of
//! `-` and `.` collapsed, non-alphanumerics trimmed from both ends) so that a legacy bare Pod named
//! `mcp-<slug>` is found and migrated. Names longer than the Kubernetes limit are cut and get an
//! 8-hex-digit hash of the full original name, so long names stay distinct and stable.

use sha2::{Digest, Sha256};

/// Longest DNS-1123 subdomain (Deployment and Secret names).
pub const SUBDOMAIN_MAX: usize = 253;
/// Longest DNS-1123/1035 label (Service names, label values).
pub const LABEL_MAX: usize = 63;
/// Prefix of every object a server owns (also the legacy bare Pod's prefix).
pub const PREFIX: &str = "mcp-";
/// Name of the server's own Secret: `<deployment>-secrets`.
pub const SECRET_SUFFIX: &str = "-secrets";
/// Name of the server's pull Secret for registry credentials: `<deployment>-pull`.
pub const PULL_SECRET_SUFFIX: &str = "-pull";

/// All names of one server's objects, computed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerNames {
    /// The sanitised name without prefix.
    pub slug: String,
    /// Deployment (and legacy bare Pod) name: `mcp-<slug>`, at most 253 characters.
    pub deployment: String,
    /// The server's own Secret.
    pub secret: String,
    /// The pull Secret built from registry credentials.
    pub pull_secret: String,
    /// Service name: a DNS-1035 label of at most 63 characters.
    pub service: String,
    /// Value of the selector label; equal to the Service name.
    pub instance: String,
}

impl ServerNames {
    /// Derives every name from the server's name. `None` when nothing of the name survives
    /// sanitising (the schema refuses such names: they need one ASCII letter or digit).
    pub fn new(name: &str) -> Option<ServerNames> {
        let slug = object_name(&sanitize(name));
        if slug.is_empty() {
            return None;
        }
        // The hash is of the slug, not the raw name: the controller only knows the McpServer's
        // `metadata.name` (the slug), and must derive the same names `render` does.
        let base = format!("{PREFIX}{slug}");
        let deployment = fit(&base, SUBDOMAIN_MAX, &slug);
        let secret = format!(
            "{}{SECRET_SUFFIX}",
            fit(&base, SUBDOMAIN_MAX - SECRET_SUFFIX.len(), &slug)
        );
        let pull_secret = format!(
            "{}{PULL_SECRET_SUFFIX}",
            fit(&base, SUBDOMAIN_MAX - PULL_SECRET_SUFFIX.len(), &slug)
        );
        let label_base = collapse(&base.replace('.', "-"), '-');
        let service = fit(&label_base, LABEL_MAX, &slug);
        Some(ServerNames {
            slug,
            deployment,
            secret,
            pull_secret,
            instance: service.clone(),
            service,
        })
    }
}

/// A sanitised name made a valid object name (the McpServer's own name): a `.` next to a `-`
/// becomes the `.` alone (each dot-separated part must start and end with a letter or digit),
/// and a name over 253 characters is cut with a hash suffix. Names that were valid stay as they
/// are, so legacy objects are still found.
fn object_name(slug: &str) -> String {
    let mut s = slug.to_string();
    while s.contains(".-") || s.contains("-.") || s.contains("..") {
        s = s.replace(".-", ".").replace("-.", ".").replace("..", ".");
    }
    fit(&s, SUBDOMAIN_MAX, &s)
}

/// Whether `name` can be a Kubernetes object's name (a DNS-1123 subdomain: at most 253
/// characters, dot-separated labels of lowercase letters, digits and `-`, each starting and
/// ending with a letter or digit). The API checks a URL's name with it before asking the API
/// server anything.
pub fn is_object_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= SUBDOMAIN_MAX && name.split('.').all(is_dns_label)
}

/// Whether `name` is a DNS-1123 label of any length (lowercase letters, digits and `-`,
/// starting and ending with a letter or digit).
fn is_dns_label(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Whether `name` can be a namespace's name (a DNS-1123 label: at most 63 characters).
pub fn is_label(name: &str) -> bool {
    name.len() <= 63 && is_dns_label(name)
}

/// The reference system's RFC 1123 sanitiser (`ensureStringIsRfc1123Compliant`).
pub fn sanitize(input: &str) -> String {
    let lowered = input.to_lowercase();
    let mut dashed = String::with_capacity(lowered.len());
    let mut in_space = false;
    for c in lowered.chars() {
        if c.is_whitespace() {
            if !in_space {
                dashed.push('-');
            }
            in_space = true;
        } else {
            in_space = false;
            dashed.push(c);
        }
    }
    let kept: String = dashed
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.')
        .collect();
    let collapsed = collapse(&collapse(&kept, '-'), '.');
    collapsed
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

fn collapse(s: &str, ch: char) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev = false;
    for c in s.chars() {
        if c == ch {
            if !prev {
                out.push(c);
            }
            prev = true;
        } else {
            prev = false;
            out.push(c);
        }
    }
    out
}

/// `name` if it fits in `max`; otherwise a prefix, trimmed to end alphanumeric, then `-` and the
/// first 8 hex digits of sha256(`original`), so names sharing a long prefix stay distinct. All
/// inputs are ASCII here.
pub fn fit(name: &str, max: usize, original: &str) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let hash = short_hash(original.as_bytes());
    let keep = max - hash.len() - 1;
    let head = name[..keep].trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    format!("{head}-{hash}")
}

/// First 8 hex digits of sha256.
pub fn short_hash(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..4])
}

#[cfg(test)]
mod tests;
