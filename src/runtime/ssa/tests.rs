use super::*;

#[test]
fn characters_yaml_refuses_are_escaped_and_read_back_the_same() {
    let value = serde_json::json!({"command": ["a\u{8d}b\u{7f}", "\u{85}é\u{fffe}", "tab\there"]});
    let raw = yaml_safe(&value).unwrap();
    let text = raw.get();
    assert!(text.contains("a\\u008db\\u007f"), "{text}");
    assert!(text.contains("\\ufffe"), "{text}");
    // A line break YAML would fold is escaped too; ordinary non-ASCII text is left alone.
    assert!(text.contains("\\u0085é"), "{text}");
    let back: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(back, value);
    let yaml: serde_json::Value = serde_norway::from_str(text).unwrap();
    assert_eq!(yaml, value);
}
