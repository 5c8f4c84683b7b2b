//! Policy files → compiled [`Policy`]: every regex built once, networks resolved, rules indexed.

use super::file::{PolicyFile, QueryCondFile, RuleFile};
use super::index::HostIndex;
use super::*;
use crate::config::units::OneOrMany;
use crate::config::{parse_yaml, substitute_env, ConfigError, ConfigErrors, Reporter};
use std::collections::BTreeMap;
use std::path::Path;

/// Policy files of `dir` in name order (`*.yaml`, not `*.test.yaml`).
pub fn policy_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigErrors> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: dir.into(),
            line: None,
            message: format!("cannot read the policies directory ({e}); create it or set `policies_dir`"),
        }])
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            (name.ends_with(".yaml") || name.ends_with(".yml")) && !name.contains(".test.")
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Loads and compiles every policy file of `dir`. All errors of all files are reported.
pub fn load_dir(dir: &Path) -> Result<Policy, ConfigErrors> {
    let mut sources = vec![];
    for path in policy_files(dir)? {
        match std::fs::read_to_string(&path) {
            Ok(t) => sources.push((path, t)),
            Err(e) => {
                return Err(ConfigErrors(vec![ConfigError {
                    file: path,
                    line: None,
                    message: format!("cannot read: {e}"),
                }]))
            }
        }
    }
    load_sources(sources)
}

/// Compiles policy texts, each named by its path, in the order given.
pub fn load_sources(sources: Vec<(PathBuf, String)>) -> Result<Policy, ConfigErrors> {
    let mut errors = vec![];
    let mut parsed = vec![];
    for (path, raw) in sources {
        let text = match substitute_env(&path, &raw) {
            Ok(t) => t,
            Err(e) => {
                errors.extend(e.0);
                continue;
            }
        };
        match parse_yaml::<Option<PolicyFile>>(&path, &text) {
            Ok(f) => parsed.push((path, text, f.unwrap_or_default())),
            Err(e) => errors.extend(e.0),
        }
    }

    // Network definitions are shared by all files.
    let mut definitions: BTreeMap<String, IpSet> = BTreeMap::new();
    for (path, text, f) in &parsed {
        let mut r = Reporter::new(path, text);
        for (name, nets) in &f.definitions.networks {
            let mut v = vec![];
            for (i, n) in nets.0.iter().enumerate() {
                match IpSet::parse_net(n) {
                    Ok(n) => v.push(n),
                    Err(e) => r.error(&format!("definitions.networks.{name}[{i}]"), e),
                }
            }
            if definitions.insert(name.clone(), IpSet::new(v)).is_some() {
                r.error(&format!("definitions.networks.{name}"), format!("network `{name}` is defined twice"));
            }
        }
        errors.extend(r.errors);
    }

    let mut rules = vec![];
    let mut warnings = vec![];
    let mut default: Option<(Level, Origin)> = None;
    for (path, text, f) in parsed {
        let file = Arc::new(path.clone());
        let mut r = Reporter::new(&path, &text);
        if let Some(d) = &f.default_policy {
            let origin = Origin { file: file.clone(), line: r.line_of("default_policy").unwrap_or(1) };
            match Level::parse(d) {
                Some(l) => {
                    if let Some((_, prev)) = &default {
                        r.error(
                            "default_policy",
                            format!("default_policy is already set at {prev}; set it in one file"),
                        );
                    }
                    default = Some((l, origin));
                }
                None => r.error(
                    "default_policy",
                    format!("unknown policy `{d}`; use bypass, one_factor, two_factor or deny"),
                ),
            }
        }
        for (i, rf) in f.rules.iter().enumerate() {
            let at = format!("rules[{i}]");
            let origin = Origin { file: file.clone(), line: r.line_of(&at).unwrap_or(1) };
            if let Some(rule) = compile_rule(rf, &at, origin, &definitions, &mut r, &mut warnings) {
                rules.push(rule);
            }
        }
        errors.extend(r.errors);
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    let (level, origin) = match default {
        Some((l, o)) => (l, Some(o)),
        None => (Level::Deny, None),
    };
    let mut policy = compile_rules(rules, level, origin);
    policy.warnings = warnings;
    Ok(policy)
}

pub(crate) fn compile_rules(rules: Vec<Rule>, default_level: Level, default_origin: Option<Origin>) -> Policy {
    let mut index = HostIndex::default();
    for (i, r) in rules.iter().enumerate() {
        index.add(i as u32, &r.domains, !r.domain_regex.is_empty());
    }
    Policy { rules, default_level, default_origin, warnings: vec![], index }
}

/// The `resources` of a rule: path-only and `path?query` regex sets, and the regexes with
/// `User`/`Group` captures (matched one by one, against the subject).
fn compile_resources(
    rf: &RuleFile,
    at: &str,
    file: &Path,
    r: &mut Reporter,
    warnings: &mut Vec<ConfigError>,
) -> (Option<RegexSet>, Option<RegexSet>, Vec<CaptureRegex>) {
    let mut path_only = vec![];
    let mut with_query = vec![];
    let mut resources_captured = vec![];
    for (i, res) in rf.resources.iter().flat_map(|d| d.0.iter()).enumerate() {
        // A regex only sees the query when it asks for one: a query string never satisfies a
        // path rule by accident.
        let asks_query = names_question_mark(res);
        let Some(re) = capture_regex(res, asks_query, &format!("{at}.resources[{i}]"), r) else {
            continue;
        };
        if !anchored(res) {
            let line = r.line_of(&format!("{at}.resources[{i}]"));
            warnings.push(ConfigError {
                file: file.to_path_buf(),
                line,
                message: format!(
                    "`{res}` has no leading `^` (in every branch): it matches anywhere in the path (`/x/admin` too \
                     for `/admin`); anchor it, e.g. `^/admin(/.*)?$` or `^(?:/a|/b)`"
                ),
            });
        }
        if re.has_captures() {
            resources_captured.push(re);
        } else if asks_query {
            with_query.push(res.clone());
        } else {
            path_only.push(res.clone());
        }
    }
    // A set that cannot be built (e.g. over the size limit) fails the load: it must never be
    // read as "no resources", which would match every path.
    let mut set = |v: Vec<String>| {
        if v.is_empty() {
            return None;
        }
        match RegexSet::new(v) {
            Ok(s) => Some(s),
            Err(e) => {
                r.error(
                    &format!("{at}.resources"),
                    format!("the rule's resources cannot be compiled together ({e}); split the rule or simplify its regexes"),
                );
                None
            }
        }
    };
    (set(path_only), set(with_query), resources_captured)
}

/// Compiles a `domain_regex` or `resources` regex. The named groups `User` and `Group` are
/// applied to the subject; any other named group is refused: a rule feature that would not run
/// must not load.
fn capture_regex(pattern: &str, with_query: bool, at: &str, r: &mut Reporter) -> Option<CaptureRegex> {
    let re = match Regex::new(pattern) {
        Ok(re) => re,
        Err(e) => {
            r.error(at, format!("invalid regex: {e}"));
            return None;
        }
    };
    let (mut user_group, mut group_group) = (None, None);
    for (idx, name) in re.capture_names().enumerate() {
        match name {
            None => {}
            Some("User") => user_group = Some(idx),
            Some("Group") => group_group = Some(idx),
            Some(other) => {
                r.error(
                    at,
                    format!(
                        "named group `{other}` is not understood: only `User` (the signed-in user) and `Group` \
                         (one of their groups) are applied; rename it or use `(?:...)`"
                    ),
                );
                return None;
            }
        }
    }
    Some(CaptureRegex { re, user_group, group_group, with_query })
}

/// Whether a regex names `?` (as `\?`, `\x3F`, `[?]`, `[?&]`…): a path never holds one, so
/// such a regex can only be meant over `path?query`. A broad class that merely includes `?`
/// (`.`, `[^/]`) does not count.
fn names_question_mark(pattern: &str) -> bool {
    use regex_syntax::hir::{Class, Hir, HirKind};
    const NARROW: u32 = 16;
    fn walk(h: &Hir) -> bool {
        match h.kind() {
            HirKind::Literal(l) => l.0.contains(&b'?'),
            HirKind::Class(Class::Unicode(c)) => {
                let size: u32 = c.ranges().iter().map(|r| r.end() as u32 - r.start() as u32 + 1).sum();
                size <= NARROW && c.ranges().iter().any(|r| (r.start()..=r.end()).contains(&'?'))
            }
            HirKind::Class(Class::Bytes(c)) => {
                let size: u32 = c.ranges().iter().map(|r| r.end() as u32 - r.start() as u32 + 1).sum();
                size <= NARROW && c.ranges().iter().any(|r| (r.start()..=r.end()).contains(&b'?'))
            }
            HirKind::Repetition(r) => walk(&r.sub),
            HirKind::Capture(c) => walk(&c.sub),
            HirKind::Concat(v) | HirKind::Alternation(v) => v.iter().any(walk),
            HirKind::Empty | HirKind::Look(_) => false,
        }
    }
    regex_syntax::parse(pattern).is_ok_and(|h| walk(&h))
}

/// Whether a regex can only match from the start of the text: every branch begins with `^` or
/// `\A` (read by the regex crate's own parser, so `^/a|/b` is not anchored, while `(?x) ^/a` and
/// `(^/a)|(^/b)` are).
fn anchored(pattern: &str) -> bool {
    use regex_syntax::hir::Look;
    regex_syntax::parse(pattern).is_ok_and(|hir| hir.properties().look_set_prefix().contains(Look::Start))
}

fn compile_rule(
    rf: &RuleFile,
    at: &str,
    origin: Origin,
    definitions: &BTreeMap<String, IpSet>,
    r: &mut Reporter,
    warnings: &mut Vec<ConfigError>,
) -> Option<Rule> {
    let errors_before = r.errors.len();
    let Some(level) = Level::parse(&rf.policy) else {
        r.error(
            &format!("{at}.policy"),
            format!("unknown policy `{}`; use bypass, one_factor, two_factor or deny", rf.policy),
        );
        return None;
    };
    let (domains, domain_regex) = compile_domains(rf, at, r);
    let (resources, resources_with_query, resources_captured) = compile_resources(rf, at, &origin.file, r, warnings);
    let methods = rf.methods.as_ref().map(|m| compile_methods(&m.0, at, r));
    let networks = rf.networks.as_ref().map(|n| compile_networks(&n.0, at, definitions, r));
    let subject = rf.subject.as_ref().map(|any_of| compile_subject(&any_of.0, at, r));
    if level == Level::Bypass {
        bypass_identifies_no_one(rf, at, &domain_regex, &resources_captured, r);
    }
    let query = rf.query.as_ref().map(|any_of| compile_query(any_of, at, r));

    if r.errors.len() != errors_before {
        return None;
    }
    Some(Rule {
        origin,
        level,
        domains,
        domain_regex,
        resources,
        resources_with_query,
        resources_captured,
        methods,
        networks,
        subject,
        scopes: rf.scopes.as_ref().map(|s| s.0.clone()).unwrap_or_default(),
        query,
    })
}

/// `domain` (host patterns) and `domain_regex` (case-insensitive, may capture User/Group); a
/// `domain` list that is empty (and not for errors) is refused, as it would match nothing.
fn compile_domains(rf: &RuleFile, at: &str, r: &mut Reporter) -> (Vec<HostPattern>, Vec<CaptureRegex>) {
    let errors_before = r.errors.len();
    let mut domains = vec![];
    for (i, d) in rf.domain.iter().flat_map(|d| d.0.iter()).enumerate() {
        match HostPattern::parse(d) {
            Ok(p) => domains.push(p),
            Err(e) => r.error(&format!("{at}.domain[{i}]"), e),
        }
    }
    let mut domain_regex = vec![];
    for (i, d) in rf.domain_regex.iter().flat_map(|d| d.0.iter()).enumerate() {
        if let Some(re) = capture_regex(&format!("(?i){d}"), false, &format!("{at}.domain_regex[{i}]"), r) {
            domain_regex.push(re);
        }
    }
    if rf.domain.is_some() && domains.is_empty() && domain_regex.is_empty() && r.errors.len() == errors_before {
        r.error(&format!("{at}.domain"), "an empty `domain` list matches nothing; remove it to match every host");
    }
    (domains, domain_regex)
}

/// `methods`: HTTP methods, in any case.
fn compile_methods(items: &[String], at: &str, r: &mut Reporter) -> Vec<Method> {
    items
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let up = s.to_ascii_uppercase();
            match Method::from_bytes(up.as_bytes()) {
                Ok(m) if up.bytes().all(|b| b.is_ascii_uppercase()) => Some(m),
                _ => {
                    r.error(&format!("{at}.methods[{i}]"), format!("`{s}` is not an HTTP method"));
                    None
                }
            }
        })
        .collect()
}

/// `networks`: networks, or names under `definitions.networks`.
fn compile_networks(items: &[String], at: &str, definitions: &BTreeMap<String, IpSet>, r: &mut Reporter) -> IpSet {
    let mut nets = vec![];
    for (i, s) in items.iter().enumerate() {
        if let Some(def) = definitions.get(s) {
            nets.extend_from_slice(def.nets());
        } else {
            match IpSet::parse_net(s) {
                Ok(n) => nets.push(n),
                Err(_) => r.error(
                    &format!("{at}.networks[{i}]"),
                    format!("`{s}` is neither a network nor a name under definitions.networks"),
                ),
            }
        }
    }
    IpSet::new(nets)
}

/// `subject`: any of (all of `user:NAME` / `group:NAME`).
fn compile_subject(any_of: &[OneOrMany<String>], at: &str, r: &mut Reporter) -> Vec<Vec<SubjectTerm>> {
    any_of_all(any_of, &format!("{at}.subject"), r, |t| {
        if let Some(u) = t.strip_prefix("user:") {
            Ok(SubjectTerm::User(u.to_string()))
        } else if let Some(g) = t.strip_prefix("group:") {
            Ok(SubjectTerm::Group(g.to_string()))
        } else {
            Err(format!("`{t}`: a subject is `user:NAME` or `group:NAME`"))
        }
    })
}

/// An any-of (all-of) list compiled term by term: a refused term is reported at `{at}[i]` and
/// left out.
fn any_of_all<F, T>(
    any_of: &[OneOrMany<F>],
    at: &str,
    r: &mut Reporter,
    term: impl Fn(&F) -> Result<T, String>,
) -> Vec<Vec<T>> {
    let mut out = Vec::with_capacity(any_of.len());
    for (i, all) in any_of.iter().enumerate() {
        let mut terms = Vec::with_capacity(all.0.len());
        for t in &all.0 {
            match term(t) {
                Ok(v) => terms.push(v),
                Err(e) => r.error(&format!("{at}[{i}]"), e),
            }
        }
        out.push(terms);
    }
    out
}

/// A `bypass` rule never identifies the caller, so it names no subject, scopes or captures.
fn bypass_identifies_no_one(
    rf: &RuleFile,
    at: &str,
    domain_regex: &[CaptureRegex],
    resources_captured: &[CaptureRegex],
    r: &mut Reporter,
) {
    if rf.subject.is_some() || rf.scopes.is_some() {
        r.error(
            &format!("{at}.subject"),
            "`bypass` cannot be combined with `subject` or `scopes`: bypass never identifies the caller",
        );
    }
    if domain_regex.iter().any(|d| d.has_captures()) {
        r.error(&format!("{at}.domain_regex"), "`bypass` cannot be combined with User/Group captures");
    }
    if !resources_captured.is_empty() {
        r.error(&format!("{at}.resources"), "`bypass` cannot be combined with User/Group captures");
    }
}

/// `query`: any of (all of conditions on a query key).
fn compile_query(any_of: &[OneOrMany<QueryCondFile>], at: &str, r: &mut Reporter) -> Vec<Vec<QueryCond>> {
    any_of_all(any_of, &format!("{at}.query"), r, |c| Ok(QueryCond { key: c.key.clone(), op: query_op(c)? }))
}

/// One query condition's operator, with the value (or unnamed-group pattern) it needs.
fn query_op(c: &QueryCondFile) -> Result<QueryOp, String> {
    let value = || c.value.clone().ok_or_else(|| format!("operator `{}` needs a `value`", c.operator));
    let pattern = || {
        let re = value().and_then(|v| Regex::new(&v).map_err(|e| format!("invalid regex: {e}")))?;
        match re.capture_names().flatten().next() {
            Some(name) => {
                Err(format!("named group `{name}` in a query pattern is not understood; use an unnamed group"))
            }
            None => Ok(re),
        }
    };
    match c.operator.as_str() {
        "equal" => value().map(QueryOp::Equal),
        "not equal" => value().map(QueryOp::NotEqual),
        "present" => Ok(QueryOp::Present),
        "absent" => Ok(QueryOp::Absent),
        "pattern" => pattern().map(QueryOp::Pattern),
        "not pattern" => pattern().map(QueryOp::NotPattern),
        other => {
            Err(format!("unknown operator `{other}`; use equal, not equal, present, absent, pattern or not pattern"))
        }
    }
}

/// Compiles one policy text (benchmarks, unit tests).
pub fn from_str(name: &str, text: &str) -> Result<Policy, ConfigErrors> {
    load_sources(vec![(PathBuf::from(name), text.to_string())])
}
