//! Policy files → compiled [`Policy`]: every regex built once, networks resolved, rules indexed.

use super::file::{PolicyFile, RuleFile};
use super::index::HostIndex;
use super::*;
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
            if let Some(rule) = compile_rule(rf, &at, origin, &definitions, &mut r) {
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
    Ok(compile_rules(rules, level, origin))
}

pub(crate) fn compile_rules(rules: Vec<Rule>, default_level: Level, default_origin: Option<Origin>) -> Policy {
    let mut index = HostIndex::default();
    for (i, r) in rules.iter().enumerate() {
        index.add(i as u32, &r.domains, !r.domain_regex.is_empty());
    }
    Policy { rules, default_level, default_origin, index }
}

fn compile_rule(
    rf: &RuleFile,
    at: &str,
    origin: Origin,
    definitions: &BTreeMap<String, IpSet>,
    r: &mut Reporter,
) -> Option<Rule> {
    let errors_before = r.errors.len();
    let Some(level) = Level::parse(&rf.policy) else {
        r.error(
            &format!("{at}.policy"),
            format!("unknown policy `{}`; use bypass, one_factor, two_factor or deny", rf.policy),
        );
        return None;
    };

    let mut domains = vec![];
    for (i, d) in rf.domain.iter().flat_map(|d| d.0.iter()).enumerate() {
        match HostPattern::parse(d) {
            Ok(p) => domains.push(p),
            Err(e) => r.error(&format!("{at}.domain[{i}]"), e),
        }
    }
    let mut domain_regex = vec![];
    for (i, d) in rf.domain_regex.iter().flat_map(|d| d.0.iter()).enumerate() {
        match Regex::new(&format!("(?i){d}")) {
            Ok(re) => {
                let mut user_group = None;
                let mut group_group = None;
                for (idx, name) in re.capture_names().enumerate() {
                    match name {
                        Some("User") => user_group = Some(idx),
                        Some("Group") => group_group = Some(idx),
                        _ => {}
                    }
                }
                domain_regex.push(DomainRegex { re, user_group, group_group });
            }
            Err(e) => r.error(&format!("{at}.domain_regex[{i}]"), format!("invalid regex: {e}")),
        }
    }
    if rf.domain.is_some() && domains.is_empty() && domain_regex.is_empty() && r.errors.len() == errors_before {
        r.error(&format!("{at}.domain"), "an empty `domain` list matches nothing; remove it to match every host");
    }

    let mut path_only = vec![];
    let mut with_query = vec![];
    for (i, res) in rf.resources.iter().flat_map(|d| d.0.iter()).enumerate() {
        if let Err(e) = Regex::new(res) {
            r.error(&format!("{at}.resources[{i}]"), format!("invalid regex: {e}"));
            continue;
        }
        // A regex only sees the query when it asks for one: a query string never satisfies a
        // path rule by accident.
        if res.contains("\\?") || res.contains("[?]") {
            with_query.push(res.clone());
        } else {
            path_only.push(res.clone());
        }
    }
    let set = |v: Vec<String>| {
        if v.is_empty() {
            None
        } else {
            RegexSet::new(v).ok()
        }
    };
    let (resources, resources_with_query) = (set(path_only), set(with_query));

    let methods = rf.methods.as_ref().map(|m| {
        m.0.iter()
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
            .collect::<Vec<_>>()
    });

    let networks = rf.networks.as_ref().map(|n| {
        let mut nets = vec![];
        for (i, s) in n.0.iter().enumerate() {
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
    });

    let subject = rf.subject.as_ref().map(|any_of| {
        any_of
            .0
            .iter()
            .enumerate()
            .map(|(i, all)| {
                all.0
                    .iter()
                    .filter_map(|t| {
                        if let Some(u) = t.strip_prefix("user:") {
                            Some(SubjectTerm::User(u.to_string()))
                        } else if let Some(g) = t.strip_prefix("group:") {
                            Some(SubjectTerm::Group(g.to_string()))
                        } else {
                            r.error(
                                &format!("{at}.subject[{i}]"),
                                format!("`{t}`: a subject is `user:NAME` or `group:NAME`"),
                            );
                            None
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    });
    if level == Level::Bypass && (subject.is_some() || rf.scopes.is_some()) {
        r.error(
            &format!("{at}.subject"),
            "`bypass` cannot be combined with `subject` or `scopes`: bypass never identifies the caller",
        );
    }
    if level == Level::Bypass && domain_regex.iter().any(|d| d.user_group.is_some() || d.group_group.is_some()) {
        r.error(&format!("{at}.domain_regex"), "`bypass` cannot be combined with User/Group captures");
    }

    let query = rf.query.as_ref().map(|any_of| {
        any_of
            .iter()
            .enumerate()
            .map(|(i, all)| {
                all.0
                    .iter()
                    .filter_map(|c| {
                        let value = || {
                            c.value.clone().ok_or_else(|| format!("operator `{}` needs a `value`", c.operator))
                        };
                        let pattern = || {
                            value().and_then(|v| Regex::new(&v).map_err(|e| format!("invalid regex: {e}")))
                        };
                        let op = match c.operator.as_str() {
                            "equal" => value().map(QueryOp::Equal),
                            "not equal" => value().map(QueryOp::NotEqual),
                            "present" => Ok(QueryOp::Present),
                            "absent" => Ok(QueryOp::Absent),
                            "pattern" => pattern().map(QueryOp::Pattern),
                            "not pattern" => pattern().map(QueryOp::NotPattern),
                            other => Err(format!(
                                "unknown operator `{other}`; use equal, not equal, present, absent, pattern or not pattern"
                            )),
                        };
                        match op {
                            Ok(op) => Some(QueryCond { key: c.key.clone(), op }),
                            Err(e) => {
                                r.error(&format!("{at}.query[{i}]"), e);
                                None
                            }
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    });

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
        methods,
        networks,
        subject,
        scopes: rf.scopes.as_ref().map(|s| s.0.clone()).unwrap_or_default(),
        query,
    })
}

/// Compiles one policy text (benchmarks, unit tests).
pub fn from_str(name: &str, text: &str) -> Result<Policy, ConfigErrors> {
    load_sources(vec![(PathBuf::from(name), text.to_string())])
}
