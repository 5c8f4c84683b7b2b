use super::compile::from_str;
use super::*;

const POLICY: &str = r#"
default_policy: deny
definitions:
  networks:
    internal: [10.0.0.0/8, 192.168.0.0/16]
rules:
  - domain: [wiki.localhost]
    resources: ["^/public(/.*)?$"]
    policy: bypass
  - domain: ["*.localhost"]
    resources: ["^/admin(/.*)?$"]
    methods: [GET, POST]
    networks: [internal, 127.0.0.1/32]
    subject: ["group:admins", ["group:staff", "user:alice"]]
    scopes: ["wiki:write"]
    policy: two_factor
  - domain_regex: '^(?P<User>\w+)\.home\.localhost$'
    query: [[{key: token, operator: present}]]
    policy: one_factor
  - domain: [wiki.localhost]
    resources: ['^/search\?q=secret']
    policy: deny
  - domain: [wiki.localhost]
    policy: one_factor
"#;

fn policy() -> Policy {
    from_str("p.yaml", POLICY).unwrap()
}

struct Req {
    host: &'static str,
    path: &'static str,
    query: Option<&'static str>,
    method: Method,
    ip: &'static str,
}

fn req(host: &'static str, path: &'static str) -> Req {
    Req { host, path, query: None, method: Method::GET, ip: "127.0.0.1" }
}

fn decide(p: &Policy, r: &Req, who: Option<(&str, &[&str], &[&str], AuthLevel)>) -> (Verdict, Option<usize>) {
    let groups: Vec<String> = who.map(|w| w.1.iter().map(|s| s.to_string()).collect()).unwrap_or_default();
    let scopes: Vec<String> = who.map(|w| w.2.iter().map(|s| s.to_string()).collect()).unwrap_or_default();
    let subject = who.map(|w| Subject { user: w.0, groups: &groups, scopes: &scopes, level: w.3 });
    let d = p.decide(&Input {
        host: r.host,
        path: r.path,
        query: r.query,
        method: &r.method,
        ip: r.ip.parse().unwrap(),
        subject,
    });
    (d.verdict, d.rule)
}

#[test]
fn bypass_and_first_match() {
    let p = policy();
    assert_eq!(decide(&p, &req("wiki.localhost", "/public/x"), None), (Verdict::Allow, Some(0)));
    assert_eq!(decide(&p, &req("wiki.localhost", "/page"), None), (Verdict::SignIn, Some(4)));
    assert_eq!(decide(&p, &req("other.test", "/"), None), (Verdict::Forbidden, None));
}

#[test]
fn anonymous_matching_all_but_subject_is_sent_to_sign_in() {
    let p = policy();
    assert_eq!(decide(&p, &req("wiki.localhost", "/admin"), None), (Verdict::SignIn, Some(1)));
}

#[test]
fn subject_or_of_ands_scopes_and_levels() {
    let p = policy();
    let r = req("wiki.localhost", "/admin/x");
    let admin2 = Some(("bob", &["admins"][..], &["*"][..], AuthLevel::TwoFactor));
    assert_eq!(decide(&p, &r, admin2).0, Verdict::Allow);
    let admin1 = Some(("bob", &["admins"][..], &["*"][..], AuthLevel::OneFactor));
    assert_eq!(decide(&p, &r, admin1).0, Verdict::StepUp);
    let alice_staff = Some(("alice", &["staff"][..], &["wiki:write"][..], AuthLevel::TwoFactor));
    assert_eq!(decide(&p, &r, alice_staff).0, Verdict::Allow);
    // staff but not alice: the AND fails, falls through to the later one_factor rule for the host.
    let carol_staff = Some(("carol", &["staff"][..], &["wiki:write"][..], AuthLevel::TwoFactor));
    assert_eq!(decide(&p, &r, carol_staff), (Verdict::Allow, Some(4)));
    // Missing scope: subject does not match.
    let no_scope = Some(("bob", &["admins"][..], &["wiki:read"][..], AuthLevel::TwoFactor));
    assert_eq!(decide(&p, &r, no_scope).1, Some(4));
    // On another host under *.localhost, nothing later matches: default deny.
    let r2 = req("app.localhost", "/admin");
    assert_eq!(decide(&p, &r2, carol_staff), (Verdict::Forbidden, None));
}

#[test]
fn methods_and_networks() {
    let p = policy();
    let mut r = req("app.localhost", "/admin");
    r.method = Method::DELETE;
    assert_eq!(decide(&p, &r, None), (Verdict::Forbidden, None));
    let mut r = req("app.localhost", "/admin");
    r.ip = "10.1.2.3";
    assert_eq!(decide(&p, &r, None).0, Verdict::SignIn);
    let mut r = req("app.localhost", "/admin");
    r.ip = "203.0.113.1";
    assert_eq!(decide(&p, &r, None), (Verdict::Forbidden, None));
}

#[test]
fn domain_regex_captures_and_query() {
    let p = policy();
    let mut r = req("alice.home.localhost", "/");
    assert_eq!(decide(&p, &r, None).1, None, "no token: the query criterion fails");
    r.query = Some("token=1");
    assert_eq!(decide(&p, &r, None), (Verdict::SignIn, Some(2)));
    let alice = Some(("alice", &[][..], &[][..], AuthLevel::OneFactor));
    assert_eq!(decide(&p, &r, alice), (Verdict::Allow, Some(2)));
    let bob = Some(("bob", &[][..], &[][..], AuthLevel::OneFactor));
    assert_eq!(decide(&p, &r, bob), (Verdict::Forbidden, None));
}

#[test]
fn a_query_never_satisfies_a_path_rule() {
    let p = policy();
    let mut r = req("wiki.localhost", "/private");
    r.query = Some("x=/public/y");
    assert_eq!(decide(&p, &r, None).1, Some(4));
    // A regex that asks for the query sees it.
    let mut r = req("wiki.localhost", "/search");
    r.query = Some("q=secret");
    assert_eq!(decide(&p, &r, None), (Verdict::Forbidden, Some(3)));
}

#[test]
fn query_operators() {
    let p = from_str(
        "q.yaml",
        r#"
rules:
  - domain: a.test
    query:
      - [{key: mode, operator: equal, value: view}, {key: debug, operator: absent}]
      - {key: id, operator: pattern, value: '^[0-9]+$'}
    policy: bypass
"#,
    )
    .unwrap();
    let q = |query: &'static str| {
        let mut r = req("a.test", "/");
        r.query = Some(query);
        decide(&p, &r, None).0
    };
    assert_eq!(q("mode=view"), Verdict::Allow);
    assert_eq!(q("mode=view&debug=1"), Verdict::Forbidden);
    assert_eq!(q("mode=view&mode=edit"), Verdict::Forbidden);
    assert_eq!(q("id=42"), Verdict::Allow);
    assert_eq!(q("id=42x"), Verdict::Forbidden);
}

#[test]
fn errors_name_file_and_line() {
    let e = from_str("bad.yaml", "rules:\n  - domain: a.test\n    policy: maybe\n").unwrap_err().to_string();
    assert!(e.starts_with("bad.yaml:3: unknown policy `maybe`"), "{e}");
    let e = from_str("bad.yaml", "rules:\n  - domain: a.test\n    resources: ['(']\n    policy: deny\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("bad.yaml:3:") && e.contains("invalid regex"), "{e}");
    let e = from_str("bad.yaml", "rules:\n  - domain: a.test\n    subject: [group:x]\n    policy: bypass\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("`bypass` cannot be combined"), "{e}");
    let e = from_str("bad.yaml", "rules:\n  - domain: a.test\n    networks: [nowhere]\n    policy: deny\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("bad.yaml:3:") && e.contains("nowhere"), "{e}");
    let e = from_str("bad.yaml", "rules:\n  - domain: a.test\n    polcy: deny\n").unwrap_err().to_string();
    assert!(e.starts_with("bad.yaml:3:") && e.contains("unknown field `polcy`"), "{e}");
}

#[test]
fn scopes_wildcards() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(has_scope(&s(&["*"]), "wiki:write"));
    assert!(has_scope(&s(&["wiki:*"]), "wiki:write"));
    assert!(!has_scope(&s(&["wiki:*"]), "blog:write"));
    assert!(!has_scope(&s(&["wiki:read"]), "wiki:write"));
}

#[test]
fn many_rules_for_other_hosts_are_not_candidates() {
    let mut text = String::from("rules:\n");
    for i in 0..2000 {
        text.push_str(&format!("  - {{domain: h{i}.test, policy: deny}}\n"));
    }
    text.push_str("  - {domain: target.test, policy: bypass}\n");
    let p = from_str("many.yaml", &text).unwrap();
    let mut n = 0;
    p.index.for_each_candidate("target.test", |_| {
        n += 1;
        true
    });
    assert_eq!(n, 1);
    assert_eq!(decide(&p, &req("target.test", "/"), None), (Verdict::Allow, Some(2000)));
}
