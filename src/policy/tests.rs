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

pub(crate) fn policy() -> Policy {
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

/// What `p` decides for an anonymous `GET a.test/?query`.
fn query_verdict(p: &Policy, query: &'static str) -> Verdict {
    let mut r = req("a.test", "/");
    r.query = Some(query);
    decide(p, &r, None).0
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
    let q = |query: &'static str| query_verdict(&p, query);
    assert_eq!(q("mode=view"), Verdict::Allow);
    assert_eq!(q("mode=view&debug=1"), Verdict::Forbidden);
    assert_eq!(q("mode=view&mode=edit"), Verdict::Forbidden);
    assert_eq!(q("id=42"), Verdict::Allow);
    assert_eq!(q("id=42x"), Verdict::Forbidden);
}

/// `not equal` and `not pattern` hold when no value of the key equals (matches): every value
/// is checked, and an absent key satisfies them.
#[test]
fn negated_query_operators() {
    let p = from_str(
        "q.yaml",
        r#"
rules:
  - domain: a.test
    query: [[{key: mode, operator: not equal, value: admin}, {key: next, operator: not pattern, value: '^https?://'}]]
    policy: bypass
"#,
    )
    .unwrap();
    let q = |query: &'static str| query_verdict(&p, query);
    assert_eq!(q("mode=view&next=/home"), Verdict::Allow);
    assert_eq!(q(""), Verdict::Allow, "absent keys satisfy both");
    assert_eq!(q("mode=admin"), Verdict::Forbidden);
    assert_eq!(q("mode=view&mode=admin"), Verdict::Forbidden, "every value is checked");
    assert_eq!(q("mode=ad%6Din"), Verdict::Forbidden, "values are compared decoded");
    assert_eq!(q("next=https://evil.test"), Verdict::Forbidden);
    assert_eq!(q("next=/a&next=http://evil.test"), Verdict::Forbidden);
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

const PER_USER: &str = r#"
default_policy: deny
rules:
  - domain: files.test
    resources: ['^/(?P<User>\w+)/personal(/.*)?$']
    policy: one_factor
  - domain: files.test
    resources: ['^/teams/(?P<Group>\w+)(/.*)?$', '^/people/(?P<User>\w+)/(?P<Group>\w+)$']
    policy: one_factor
  - domain: files.test
    resources: ['^/shared\?team=(?P<Group>\w+)$']
    policy: one_factor
"#;

#[test]
fn user_capture_in_resources_gives_each_user_only_their_pages() {
    let p = from_str("u.yaml", PER_USER).unwrap();
    let r = req("files.test", "/alice/personal/diary");
    let alice = Some(("alice", &[][..], &[][..], AuthLevel::OneFactor));
    let shouting_alice = Some(("ALICE", &[][..], &[][..], AuthLevel::OneFactor));
    let bob = Some(("bob", &[][..], &[][..], AuthLevel::OneFactor));
    assert_eq!(decide(&p, &r, alice), (Verdict::Allow, Some(0)));
    assert_eq!(decide(&p, &r, shouting_alice), (Verdict::Allow, Some(0)), "case-insensitive, as in Authelia");
    assert_eq!(decide(&p, &r, bob), (Verdict::Forbidden, None), "another user's pages are not bob's");
    assert_eq!(decide(&p, &r, None), (Verdict::SignIn, Some(0)), "anonymous: sign in first");
}

#[test]
fn group_capture_in_resources_needs_the_group_case_insensitively() {
    let p = from_str("u.yaml", PER_USER).unwrap();
    let r = req("files.test", "/teams/ops/runbook");
    let ops = Some(("carol", &["OPS"][..], &[][..], AuthLevel::OneFactor));
    let dev = Some(("dave", &["dev"][..], &[][..], AuthLevel::OneFactor));
    assert_eq!(decide(&p, &r, ops), (Verdict::Allow, Some(1)));
    assert_eq!(decide(&p, &r, dev), (Verdict::Forbidden, None));
    // Any of the rule's regexes may grant: the second needs both user and group.
    let r = req("files.test", "/people/carol/ops");
    assert_eq!(decide(&p, &r, ops), (Verdict::Allow, Some(1)));
    let eve_ops = Some(("eve", &["ops"][..], &[][..], AuthLevel::OneFactor));
    assert_eq!(decide(&p, &r, eve_ops), (Verdict::Forbidden, None));
    // Captures over `path?query` for regexes that ask for the query.
    let mut r = req("files.test", "/shared");
    r.query = Some("team=ops");
    assert_eq!(decide(&p, &r, ops), (Verdict::Allow, Some(2)));
    assert_eq!(decide(&p, &r, dev), (Verdict::Forbidden, None));
}

#[test]
fn group_capture_in_domain_regex_is_case_insensitive() {
    let p = from_str("g.yaml", "rules:\n  - domain_regex: '^(?P<Group>\\w+)\\.team\\.test$'\n    policy: one_factor\n")
        .unwrap();
    let r = req("ops.team.test", "/");
    let ops = Some(("carol", &["Ops"][..], &[][..], AuthLevel::OneFactor));
    let dev = Some(("dave", &["dev"][..], &[][..], AuthLevel::OneFactor));
    assert_eq!(decide(&p, &r, ops), (Verdict::Allow, Some(0)));
    assert_eq!(decide(&p, &r, dev), (Verdict::Forbidden, None));
}

#[test]
fn named_groups_the_engine_does_not_apply_never_load() {
    let bad = [
        ("    resources: ['^/(?P<user>\\w+)/personal$']\n", "named group `user`"),
        ("    resources: ['^/(?P<Owner>\\w+)$']\n", "named group `Owner`"),
        ("    domain_regex: '^(?P<Tenant>\\w+)\\.test$'\n", "named group `Tenant`"),
        ("    query: [{key: id, operator: pattern, value: '(?P<User>.*)'}]\n", "named group `User`"),
    ];
    for (line, want) in bad {
        let text = format!("rules:\n  - domain: a.test\n{line}    policy: one_factor\n");
        let e = from_str("bad.yaml", &text).unwrap_err().to_string();
        assert!(e.starts_with("bad.yaml:3:") && e.contains(want), "{line}: {e}");
    }
    let e = from_str("bad.yaml", "rules:\n  - resources: ['^/(?P<User>\\w+)$']\n    policy: bypass\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("`bypass` cannot be combined with User/Group captures"), "{e}");
}

#[test]
fn a_resource_set_that_cannot_be_built_fails_the_load() {
    // Each regex compiles alone; together they exceed the regex size limit.
    let res: Vec<String> = (0..40).map(|i| format!("'^/p{i}/\\w{{100}}$'")).collect();
    let text = format!("rules:\n  - domain: a.test\n    resources: [{}]\n    policy: deny\n", res.join(", "));
    let e = from_str("big.yaml", &text).unwrap_err().to_string();
    assert!(e.starts_with("big.yaml:3:") && e.contains("cannot be compiled together"), "{e}");
}

#[test]
fn unanchored_resources_warn() {
    let p = from_str(
        "w.yaml",
        "rules:\n  - domain: a.test\n    resources: ['/admin', '^/ok', '(?i)^/fine', '\\A/also']\n    policy: deny\n",
    )
    .unwrap();
    let w: Vec<String> = p.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].starts_with("w.yaml:3:") && w[0].contains("`/admin` has no leading `^`"), "{w:?}");
}

#[test]
fn a_resource_anchored_in_one_branch_only_warns() {
    // `^/public|/static` reads as anchored, but its second branch matches `/admin/static` too.
    let p = from_str(
        "w.yaml",
        "rules:\n  - domain: a.test\n    resources: ['^/public|/static', '^(?:/a|/b)', '(^/c)|(^/d)', '(?x) ^/e']\n    policy: bypass\n",
    )
    .unwrap();
    let w: Vec<String> = p.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("`^/public|/static`"), "{w:?}");
}

#[test]
fn a_resource_naming_the_question_mark_any_way_is_matched_with_the_query() {
    // A path never holds `?`: a regex naming it (escaped, in hex, in a class) can only mean the
    // query. Matched over the path alone, such a deny rule would silently never apply.
    for res in [r"'^/api\x3Fdebug='", r"'^/api\x{3f}debug='", r"'^/api[?&]debug='", r"'^/api\u003Fdebug='"] {
        let text = format!(
            "rules:\n  - domain: a.test\n    resources: [{res}]\n    policy: deny\n  - domain: a.test\n    policy: bypass\n"
        );
        let p = from_str("q.yaml", &text).unwrap();
        let mut r = req("a.test", "/api");
        r.query = Some("debug=1");
        assert_eq!(decide(&p, &r, None), (Verdict::Forbidden, Some(0)), "{res}");
        r.query = None;
        assert_eq!(decide(&p, &r, None), (Verdict::Allow, Some(1)), "{res}");
    }
    // Classes that merely include `?` among many characters stay path-only.
    let p =
        from_str("q.yaml", "rules:\n  - domain: a.test\n    resources: ['^/x/[^/]+$', '^/y/.*$']\n    policy: deny\n")
            .unwrap();
    let mut r = req("a.test", "/x/page");
    r.query = Some("a=b");
    assert_eq!(decide(&p, &r, None), (Verdict::Forbidden, Some(0)));
    r.path = "/y/";
    assert_eq!(decide(&p, &r, None), (Verdict::Forbidden, Some(0)));
}

/// Usernames are unique case-insensitively and stored lower-cased, and an e-mail's local part
/// keeps the case it was typed in: a `user:` subject written in another case still names the
/// account, so a rule denying `user:Bob` cannot be walked past by bob.
#[test]
fn user_subjects_name_the_account_in_any_case() {
    let text = "rules:\n  - domain: a.test\n    subject: ['user:Bob', 'user:carol@example.com']\n    policy: deny\n  - domain: a.test\n    policy: one_factor\n";
    let p = from_str("s.yaml", text).unwrap();
    for who in ["bob", "Carol@Example.com"] {
        assert_eq!(
            decide(&p, &req("a.test", "/x"), Some((who, &[], &[], AuthLevel::TwoFactor))),
            (Verdict::Forbidden, Some(0)),
            "{who}"
        );
    }
    assert_eq!(
        decide(&p, &req("a.test", "/x"), Some(("dave", &[], &[], AuthLevel::TwoFactor))),
        (Verdict::Allow, Some(1))
    );
}
