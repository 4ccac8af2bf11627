//! Bodies of server-side apply: JSON with `apiVersion` and `kind`, written so that the API
//! server's YAML reader takes them.

/// A typed object as the body of a server-side apply: JSON with `apiVersion` and `kind` (which
/// apply requires), written so the API server's YAML reader takes it (see [`yaml_safe`]).
pub fn with_kind<T: serde::Serialize>(
    obj: &T,
    api_version: &str,
    kind: &str,
) -> serde_json::Result<Box<serde_json::value::RawValue>> {
    let mut v = serde_json::to_value(obj)?;
    if let Some(m) = v.as_object_mut() {
        m.insert("apiVersion".into(), api_version.into());
        m.insert("kind".into(), kind.into());
    }
    yaml_safe(&v)
}

/// JSON that a YAML reader reads back as the same value. The API server decodes
/// server-side-apply bodies as YAML, which refuses the raw characters YAML does not call
/// printable (DEL, the C1 controls but NEL, U+FFFE and U+FFFF: `yaml: control characters are
/// not allowed`); serde_json leaves them unescaped, so a server whose command or environment
/// holds one could be stored but never applied. They are written as `\uXXXX` escapes instead,
/// which JSON and YAML both read as the character itself.
pub fn yaml_safe<T: serde::Serialize>(
    value: &T,
) -> serde_json::Result<Box<serde_json::value::RawValue>> {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, YamlSafe);
    value.serialize(&mut serializer)?;
    // The serializer writes UTF-8; an error here would be a defect of it.
    let text = String::from_utf8(out).map_err(serde::ser::Error::custom)?;
    serde_json::value::RawValue::from_string(text)
}

/// A compact JSON formatter that escapes what YAML may not hold raw.
struct YamlSafe;

impl serde_json::ser::Formatter for YamlSafe {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if matches!(
                c,
                '\u{7f}'
                    ..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
            ) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests;
