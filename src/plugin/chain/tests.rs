use super::*;

/// The controller reads `ignored_errors` from the serialized report to decide whether a
/// chain's result may be memoized (runtime::controller): the name is part of that contract.
#[test]
fn the_report_names_ignored_errors_as_the_controller_reads_them() {
    let report = ChainReport {
        ignored_errors: vec!["plugin slow: deadline exceeded".into()],
        ..Default::default()
    };
    let v = serde_json::to_value(report).unwrap();
    assert_eq!(v["ignored_errors"][0], "plugin slow: deadline exceeded");
}
