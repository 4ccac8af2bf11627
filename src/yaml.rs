//! YAML that kubectl and Helm read back as written. serde_norway writes YAML 1.2, in which
//! `on`, `off`, `yes`, `no`, `y` and `n` are plain strings; the Go YAML reader of kubectl and Helm
//! follows YAML 1.1 and reads them as booleans. The committed CRD said `- off` in the network
//! mode's enum, and `kubectl apply` installed it as `false`, so `mode: off` was refused in
//! every cluster set up from `deploy/`. Such scalars are written quoted here.

use serde::Serialize;

/// Words YAML 1.1 reads as booleans when unquoted.
const YAML11_BOOLEANS: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
    "OFF",
];

/// `serde_norway::to_string`, with YAML 1.1 booleans quoted.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, serde_norway::Error> {
    Ok(quote_yaml11_booleans(&serde_norway::to_string(value)?))
}

/// Quotes plain scalars that are YAML 1.1 booleans where they end a line (`key: off`,
/// `- off`: the only places serde_norway writes a short plain scalar), leaving the content of
/// block scalars (`|`, `>`) alone.
pub fn quote_yaml11_booleans(yaml: &str) -> String {
    let mut out = String::with_capacity(yaml.len() + 16);
    // Indentation of the line that opened a block scalar, while inside one.
    let mut block: Option<usize> = None;
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(opened) = block {
            if line.trim().is_empty() || indent > opened {
                out.push_str(line);
                out.push('\n');
                continue;
            }
            block = None;
        }
        let (head, value) = match line.rfind(": ") {
            Some(i) => line.split_at(i + 2),
            None => match line.trim_start().strip_prefix("- ") {
                Some(v) => line.split_at(line.len() - v.len()),
                None => ("", ""),
            },
        };
        if value.starts_with('|') || value.starts_with('>') {
            block = Some(indent);
        }
        if YAML11_BOOLEANS.contains(&value) {
            out.push_str(head);
            out.push('\'');
            out.push_str(value);
            out.push('\'');
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn yaml11_booleans_are_quoted_and_everything_reads_back_the_same() {
        let v = json!({
            "enum": ["restricted", "default", "off"],
            "mode": "on",
            "answer": "yes",
            "offline": "offline",
            "text": "line one\nkey: off\n- no\n",
            "after": "n",
        });
        let yaml = to_string(&v).unwrap();
        assert!(yaml.contains("- 'off'"), "{yaml}");
        assert!(yaml.contains("mode: 'on'"), "{yaml}");
        assert!(yaml.contains("answer: 'yes'"), "{yaml}");
        assert!(yaml.contains("after: 'n'"), "{yaml}");
        assert!(yaml.contains("offline: offline"), "{yaml}");
        // Inside the block scalar nothing changed.
        assert!(yaml.contains("  key: off\n"), "{yaml}");
        assert!(yaml.contains("  - no\n"), "{yaml}");
        let back: Value = serde_norway::from_str(&yaml).unwrap();
        assert_eq!(back, v);
    }
}
