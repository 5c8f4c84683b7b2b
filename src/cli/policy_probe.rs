//! `gatehouse policy explain` and `gatehouse policy test`: a request described on the command
//! line or in `policies/*.test.yaml`, judged by the compiled policy.

use crate::authz::normalize::{normalize_path, require_normal, PathError};
use crate::config::{parse_yaml, ConfigError, ConfigErrors, Reporter};
use crate::net::normalize_host;
use crate::policy::file::{TestCase, TestFile};
use crate::policy::*;
use http::Method;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Address assumed when a case names none: a documentation address, inside no private network.
pub const DEFAULT_IP: &str = "192.0.2.10";

/// A caller and request to judge, as written by a person.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    pub url: String,
    pub method: String,
    pub user: Option<String>,
    pub groups: Vec<String>,
    pub scopes: Vec<String>,
    pub ip: Option<String>,
    pub level: Option<String>,
    /// Judged as the forward-auth endpoints do: a path normalisation would change is refused,
    /// since the proxy serves the raw target.
    pub forward_auth: bool,
}

/// The judged probe: decision plus what it was made from.
#[derive(Debug)]
pub struct Judged {
    pub decision: Decision,
    pub origin: String,
    pub host: String,
    pub path: String,
    pub ip: IpAddr,
}

/// A URL split by hand into what the gateway sees: the host, the raw path and the query, none
/// of them cleaned by a URL parser (which would resolve `..`, `%2e` or `\` before the gateway's
/// own normaliser could see them).
#[derive(Debug, PartialEq, Eq)]
pub struct Target<'u> {
    pub host: String,
    pub raw_path: &'u str,
    pub query: Option<&'u str>,
}

pub fn target(url: &str) -> Result<Target<'_>, String> {
    let not_url = || format!("`{url}` is not a URL: write e.g. https://wiki.example.com/page");
    let (scheme, rest) = url.split_once("://").ok_or_else(not_url)?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(not_url());
    }
    // A fragment never reaches a server.
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(end);
    let host = normalize_host(authority)
        .ok_or_else(|| format!("`{url}` has no valid host (the gateway answers 400 bad_host)"))?
        .into_owned();
    let (raw_path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    // `http://h` and `http://h?q` are sent as `/` and `/?q`.
    let raw_path = if raw_path.is_empty() { "/" } else { raw_path };
    Ok(Target { host, raw_path, query })
}

/// Why the gateway would refuse this URL's path with 400 `bad_path` before any rule, if it would.
pub fn refused_path(url: &str) -> Result<Option<PathError>, String> {
    refused_path_in(url, false)
}

/// Why the gateway, or with `forward_auth` the forward-auth endpoints, would refuse this URL's
/// path with 400 `bad_path` before any rule, if they would.
pub fn refused_path_in(url: &str, forward_auth: bool) -> Result<Option<PathError>, String> {
    let t = target(url)?;
    Ok(if forward_auth { require_normal(t.raw_path).err() } else { normalize_path(t.raw_path).err() })
}

/// Judges the probe as the gateway would: the raw path through the gateway's normaliser.
pub fn judge(policy: &Policy, probe: &Probe, access_groups: &BTreeMap<String, Vec<String>>) -> Result<Judged, String> {
    let t = target(&probe.url)?;
    if probe.forward_auth {
        require_normal(t.raw_path)
            .map_err(|e| format!("forward-auth refuses the path of `{}` (400 bad_path): {e}", probe.url))?;
    }
    let path = normalize_path(t.raw_path)
        .map_err(|e| format!("the gateway refuses the path of `{}` (400 bad_path): {e}", probe.url))?;
    let method = Method::from_bytes(probe.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("`{}` is not an HTTP method", probe.method))?;
    let ip: IpAddr = probe
        .ip
        .as_deref()
        .unwrap_or(DEFAULT_IP)
        .parse()
        .map_err(|_| format!("`{}` is not an IP address", probe.ip.as_deref().unwrap_or("")))?;
    let level = match probe.level.as_deref() {
        None | Some("one_factor") => AuthLevel::OneFactor,
        Some("two_factor") => AuthLevel::TwoFactor,
        Some(other) => return Err(format!("unknown level `{other}`; use one_factor or two_factor")),
    };
    let scopes = if probe.scopes.is_empty() { scopes_of(&probe.groups, access_groups) } else { probe.scopes.clone() };
    let subject = probe.user.as_deref().map(|user| Subject { user, groups: &probe.groups, scopes: &scopes, level });
    let input = Input { host: &t.host, path: &path, query: t.query, method: &method, ip, subject };
    let decision = policy.decide(&input);
    Ok(Judged { origin: policy.origin_of(&decision), decision, path: path.into_owned(), host: t.host, ip })
}

/// What `policy explain` answers: the gateway refuses the path before any rule, or the
/// decision and what it was made from.
#[derive(Debug)]
pub enum Explained {
    BadPath(PathError),
    Judged(Judged),
}

/// The `policy explain` engine (the CLI and the console's "test a request" form): the
/// gateway's path refusal when it would refuse, else the judged probe. `Err`: the probe
/// itself is wrong (not a URL, a method or an IP).
pub fn explain_probe(
    policy: &Policy,
    probe: &Probe,
    access_groups: &BTreeMap<String, Vec<String>>,
) -> Result<Explained, String> {
    if let Some(e) = refused_path_in(&probe.url, probe.forward_auth)? {
        return Ok(Explained::BadPath(e));
    }
    judge(policy, probe, access_groups).map(Explained::Judged)
}

/// One line per probe, for `policy explain`.
pub fn explain(j: &Judged) -> String {
    format!(
        "{} (policy {}) by {}\n  host {} path {} ip {}",
        j.decision.verdict.as_str(),
        j.decision.level.as_str(),
        j.origin,
        j.host,
        j.path,
        j.ip
    )
}

/// Outcome of `policy test` over every `*.test.yaml` file.
#[derive(Debug, Default)]
pub struct TestReport {
    pub passed: usize,
    pub failed: Vec<String>,
}

pub fn test_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigErrors> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: dir.into(),
            line: None,
            message: format!("cannot read the policies directory ({e})"),
        }])
    })?;
    let mut v: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".test.yaml") || n.ends_with(".test.yml"))
        })
        .collect();
    v.sort();
    Ok(v)
}

pub fn run_tests(
    policy: &Policy,
    dir: &Path,
    access_groups: &BTreeMap<String, Vec<String>>,
) -> Result<TestReport, ConfigErrors> {
    let mut report = TestReport::default();
    let mut errors = vec![];
    for path in test_files(dir)? {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ConfigErrors(vec![ConfigError { file: path.clone(), line: None, message: e.to_string() }]))?;
        let file: TestFile = match parse_yaml(&path, &text) {
            Ok(f) => f,
            Err(e) => {
                errors.extend(e.0);
                continue;
            }
        };
        let r = Reporter::new(&path, &text);
        for (i, case) in file.cases.iter().enumerate() {
            let at = format!("{}:{}", path.display(), r.line_of(&format!("cases[{i}]")).unwrap_or(1));
            match run_case(policy, case, access_groups) {
                Ok(None) => report.passed += 1,
                Ok(Some(why)) => report.failed.push(format!("{at}: {why}")),
                Err(e) => report.failed.push(format!("{at}: {e}")),
            }
        }
    }
    if errors.is_empty() {
        Ok(report)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// `Ok(None)` when the case holds, `Ok(Some(why))` when it does not.
fn run_case(policy: &Policy, c: &TestCase, groups: &BTreeMap<String, Vec<String>>) -> Result<Option<String>, String> {
    if !matches!(c.expect.as_str(), "allow" | "deny" | "sign_in" | "step_up" | "bad_path") {
        return Err(format!("unknown expect `{}`; use allow, deny, sign_in, step_up or bad_path", c.expect));
    }
    let forward_auth = match c.mode.as_deref() {
        None | Some("gateway") => false,
        Some("forward_auth") => true,
        Some(other) => return Err(format!("unknown mode `{other}`; use gateway or forward_auth")),
    };
    if let Some(e) = refused_path_in(&c.url, forward_auth)? {
        return Ok((c.expect != "bad_path").then(|| {
            format!("{} {}: expected {}, got bad_path (the gateway refuses it: {e})", c.method, c.url, c.expect)
        }));
    }
    let probe = Probe {
        url: c.url.clone(),
        method: c.method.clone(),
        user: c.user.clone(),
        groups: c.groups.clone(),
        scopes: c.scopes.clone(),
        ip: c.ip.clone(),
        level: c.level.clone(),
        forward_auth,
    };
    let j = judge(policy, &probe, groups)?;
    let got = j.decision.verdict.as_str();
    if got == c.expect {
        Ok(None)
    } else {
        let who = c.user.as_deref().map(|u| format!("user {u}")).unwrap_or_else(|| "anonymous".into());
        Ok(Some(format!("{} {} as {who}: expected {}, got {} by {}", c.method, c.url, c.expect, got, j.origin)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::policy;

    #[test]
    fn urls_are_split_by_hand_not_cleaned() {
        let t = target("http://Wiki.Localhost:8080/a/../b;x/%2e?q=/public#frag").unwrap();
        assert_eq!(t, Target { host: "wiki.localhost".into(), raw_path: "/a/../b;x/%2e", query: Some("q=/public") });
        let t = target("https://a.test?x=1").unwrap();
        assert_eq!((t.raw_path, t.query), ("/", Some("x=1")));
        assert!(target("a.test/x").unwrap_err().contains("is not a URL"));
        assert!(target("ftp://a.test/x").unwrap_err().contains("is not a URL"));
        assert!(target("http://user@a.test/x").unwrap_err().contains("bad_host"));
    }

    #[test]
    fn probes_judge_the_raw_path_through_the_gateway_normaliser() {
        let p = policy();
        let groups = std::collections::BTreeMap::new();
        let probe = |url: &str| Probe { url: url.into(), method: "GET".into(), ..Default::default() };
        // The gateway refuses these with 400; a URL parser would have cleaned them into /x or /public/x.
        for url in [
            "http://wiki.localhost/public\\..\\x",
            "http://wiki.localhost/pub\tlic/x",
            "http://wiki.localhost/public/caf\u{e9}",
        ] {
            let e = judge(&p, &probe(url), &groups).unwrap_err();
            assert!(e.contains("400 bad_path"), "{url}: {e}");
            assert!(refused_path(url).unwrap().is_some(), "{url}");
        }
        // Dot segments (raw or encoded) and `;params` are resolved by the gateway's own normaliser.
        let j = judge(&p, &probe("http://wiki.localhost/public/..;/admin"), &groups).unwrap();
        assert_eq!((j.path.as_str(), j.decision.verdict, j.decision.rule), ("/admin", Verdict::SignIn, Some(4)));
        let j = judge(&p, &probe("http://Wiki.Localhost:8080/public/%2e%2e/search?q=secret#f"), &groups).unwrap();
        assert_eq!((j.path.as_str(), j.decision.verdict, j.decision.rule), ("/search", Verdict::Forbidden, Some(3)));
        assert_eq!(refused_path("http://wiki.localhost/public/%2e%2e/x").unwrap(), None);
    }

    #[test]
    fn explain_answers_the_path_refusal_before_any_rule_else_the_decision() {
        let p = policy();
        let groups = std::collections::BTreeMap::new();
        let probe = |url: &str| Probe { url: url.into(), method: "GET".into(), ..Default::default() };
        let got = explain_probe(&p, &probe("http://wiki.localhost/public/%2fadmin"), &groups);
        assert!(matches!(got, Ok(Explained::BadPath(_))), "{got:?}");
        match explain_probe(&p, &probe("http://wiki.localhost/admin"), &groups) {
            Ok(Explained::Judged(j)) => assert_eq!((j.decision.verdict, j.decision.rule), (Verdict::SignIn, Some(4))),
            other => panic!("{other:?}"),
        }
        assert!(explain_probe(&p, &probe("wiki.localhost/admin"), &groups).unwrap_err().contains("is not a URL"));
        let bad_ip = Probe { ip: Some("10.0.0".into()), ..probe("http://wiki.localhost/admin") };
        assert!(explain_probe(&p, &bad_ip, &groups).unwrap_err().contains("is not an IP address"));
    }

    #[test]
    fn probes_in_forward_auth_mode_refuse_what_normalisation_would_change() {
        let p = policy();
        let groups = std::collections::BTreeMap::new();
        let probe =
            |url: &str| Probe { url: url.into(), method: "GET".into(), forward_auth: true, ..Default::default() };
        for url in [
            "http://wiki.localhost/admin/../public/x",
            "http://wiki.localhost/public//x",
            "http://wiki.localhost/public/%78",
        ] {
            let e = judge(&p, &probe(url), &groups).unwrap_err();
            assert!(e.contains("400 bad_path"), "{url}: {e}");
            assert!(refused_path_in(url, true).unwrap().is_some(), "{url}");
            assert!(refused_path_in(url, false).unwrap().is_none(), "{url}");
        }
        let j = judge(&p, &probe("http://wiki.localhost/public/x?q=1"), &groups).unwrap();
        assert_eq!(j.path, "/public/x");

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("fa.test.yaml"),
            "cases:\n  - {url: 'http://wiki.localhost/admin/../public/x', mode: forward_auth, expect: bad_path}\n  - {url: 'http://wiki.localhost/admin/../public/x', mode: gateway, expect: allow}\n  - {url: 'http://wiki.localhost/x', mode: nginx, expect: allow}\n",
        )
        .unwrap();
        let report = run_tests(&p, dir.path(), &groups).unwrap();
        assert_eq!(report.passed, 2, "{:?}", report.failed);
        assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
        assert!(report.failed[0].contains("unknown mode `nginx`"), "{:?}", report.failed);
    }
}
