use super::*;
use rstest::rstest;

#[test]
fn object_names_are_dns_1123_subdomains() {
    for ok in ["a", "github", "a.b-c", "0x", &"a".repeat(253)] {
        assert!(is_object_name(ok), "{ok}");
    }
    for bad in [
        "",
        "A",
        "-a",
        "a-",
        "a..b",
        ".a",
        "é",
        "a b",
        "a\u{0}",
        &"a".repeat(254),
    ] {
        assert!(!is_object_name(bad), "{bad:?}");
    }
}

proptest::proptest! {
    #[test]
    fn every_server_name_is_a_kubernetes_name(name in "\\PC{0,600}") {
        if let Some(names) = ServerNames::new(&name) {
            proptest::prop_assert!(is_object_name(&names.slug), "{:?}", names.slug);
            proptest::prop_assert!(is_object_name(&names.deployment));
            proptest::prop_assert!(names.service.len() <= LABEL_MAX);
            // The controller derives the names again from the slug: the same ones.
            proptest::prop_assert_eq!(ServerNames::new(&names.slug), Some(names));
        }
    }
}

#[test]
fn dots_next_to_dashes_and_long_names_become_object_names() {
    assert_eq!(ServerNames::new("a.-b -. c").unwrap().slug, "a.b.c");
    let long = ServerNames::new(&"x".repeat(400)).unwrap();
    assert_eq!(long.slug.len(), SUBDOMAIN_MAX);
    assert!(is_object_name(&long.slug));
}

#[test]
fn a_sanitised_name_is_an_object_name() {
    for input in ["GitHub MCP", "Server.v2.0", "123 go", "--a__b--"] {
        assert!(is_object_name(&sanitize(input)), "{input}");
    }
}

#[rstest]
#[case("firecrawl - joey", "firecrawl-joey")]
#[case("Servér", "servr")]
#[case("测试Server", "server")]
#[case("Server.v2.0", "server.v2.0")]
#[case("Server...Name", "server.name")]
#[case("--a__b--", "ab")]
#[case("123 go", "123-go")]
#[case("@@@", "")]
fn sanitizes_like_the_reference(#[case] input: &str, #[case] expected: &str) {
    assert_eq!(sanitize(input), expected);
}

#[test]
fn long_names_are_cut_with_a_stable_distinct_hash() {
    let a = "a".repeat(300);
    let b = format!("{}b", "a".repeat(299));
    let na = ServerNames::new(&a).unwrap();
    let nb = ServerNames::new(&b).unwrap();
    assert_eq!(na.deployment.len(), SUBDOMAIN_MAX);
    assert_eq!(na.service.len(), LABEL_MAX);
    assert!(na.secret.len() <= SUBDOMAIN_MAX && na.secret.ends_with(SECRET_SUFFIX));
    assert_ne!(na.deployment, nb.deployment);
    assert_ne!(na.service, nb.service);
    assert_eq!(na, ServerNames::new(&a).unwrap());
}

#[test]
fn dots_become_dashes_only_where_labels_need_it() {
    let n = ServerNames::new("Server.v2.0").unwrap();
    assert_eq!(n.deployment, "mcp-server.v2.0");
    assert_eq!(n.service, "mcp-server-v2-0");
    assert_eq!(n.secret, "mcp-server.v2.0-secrets");
}

#[test]
fn nothing_left_means_no_names() {
    assert_eq!(ServerNames::new("测试"), None);
}
