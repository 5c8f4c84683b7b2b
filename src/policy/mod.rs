//! Access policies: YAML rules compiled once into matchers (see `compile`), indexed by host (see
//! `index`), evaluated first-match-wins on every request.
//!
//! The evaluation, for one request:
//! ```text
//!   candidates(host) in file order ─► all criteria but subject match? ──no──► next rule
//!                                          │ yes
//!                      rule needs a subject (subject, scopes, User/Group captures)?
//!                        ├─ anonymous ─────────────────────────► SignIn (stop here)
//!                        ├─ subject does not match ────────────► next rule
//!                        └─ matches, or no subject needed ─────► apply the rule's level
//!   no rule matched ─► apply default_policy
//!   level: bypass → Allow; deny → Forbidden; one_factor → anonymous? SignIn : Allow;
//!          two_factor → anonymous? SignIn : one factor? StepUp : Allow
//! ```

pub mod cases;
pub mod compile;
pub mod file;
mod index;

use crate::net::{HostPattern, IpSet};
use http::Method;
use regex::{Regex, RegexSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use compile::load_dir;

/// What a rule (or the default) asks of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Bypass,
    OneFactor,
    TwoFactor,
    Deny,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "bypass" => Level::Bypass,
            "one_factor" => Level::OneFactor,
            "two_factor" => Level::TwoFactor,
            "deny" => Level::Deny,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Bypass => "bypass",
            Level::OneFactor => "one_factor",
            Level::TwoFactor => "two_factor",
            Level::Deny => "deny",
        }
    }
}

/// How strongly the caller signed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AuthLevel {
    OneFactor,
    TwoFactor,
}

/// The signed-in caller as policies see it.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub user: &'a str,
    pub groups: &'a [String],
    pub scopes: &'a [String],
    pub level: AuthLevel,
}

/// The request as policies see it: host and path already normalised.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    pub host: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub method: &'a Method,
    pub ip: IpAddr,
    pub subject: Option<Subject<'a>>,
}

/// The outcome for the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Anonymous where a sign-in is needed.
    SignIn,
    /// Signed in with one factor where two are needed.
    StepUp,
    Forbidden,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::SignIn => "sign_in",
            Verdict::StepUp => "step_up",
            Verdict::Forbidden => "deny",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub level: Level,
    /// Index of the deciding rule; `None` when `default_policy` decided.
    pub rule: Option<usize>,
}

/// Where a rule was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub file: Arc<PathBuf>,
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

#[derive(Debug)]
pub(crate) enum SubjectTerm {
    User(String),
    Group(String),
}

#[derive(Debug)]
pub(crate) enum QueryOp {
    Equal(String),
    NotEqual(String),
    Present,
    Absent,
    Pattern(Regex),
    NotPattern(Regex),
}

#[derive(Debug)]
pub(crate) struct QueryCond {
    key: String,
    op: QueryOp,
}

#[derive(Debug)]
pub(crate) struct DomainRegex {
    re: Regex,
    user_group: Option<usize>,
    group_group: Option<usize>,
}

/// One compiled rule.
#[derive(Debug)]
pub struct Rule {
    pub origin: Origin,
    pub level: Level,
    pub(crate) domains: Vec<HostPattern>,
    pub(crate) domain_regex: Vec<DomainRegex>,
    /// Regexes over the path alone.
    pub(crate) resources: Option<RegexSet>,
    /// Regexes that mention `?` explicitly: matched over `path?query`.
    pub(crate) resources_with_query: Option<RegexSet>,
    pub(crate) methods: Option<Vec<Method>>,
    pub(crate) networks: Option<IpSet>,
    pub(crate) subject: Option<Vec<Vec<SubjectTerm>>>,
    pub(crate) scopes: Vec<String>,
    pub(crate) query: Option<Vec<Vec<QueryCond>>>,
}

/// Every policy file, compiled.
#[derive(Debug)]
pub struct Policy {
    pub rules: Vec<Rule>,
    pub default_level: Level,
    pub default_origin: Option<Origin>,
    index: index::HostIndex,
}

/// Result of matching everything but the subject.
enum Capture<'h> {
    None,
    User(&'h str),
    Group(&'h str),
    UserAndGroup(&'h str, &'h str),
}

impl Rule {
    /// The host matched (through the index or a regex); returns what the regex captured.
    fn host_match<'h>(&self, host: &'h str) -> Option<Capture<'h>> {
        if self.domain_regex.is_empty() {
            return Some(Capture::None);
        }
        if !self.domains.is_empty() && self.domains.iter().any(|d| d.matches(host)) {
            return Some(Capture::None);
        }
        for d in &self.domain_regex {
            if d.user_group.is_none() && d.group_group.is_none() {
                if d.re.is_match(host) {
                    return Some(Capture::None);
                }
                continue;
            }
            if let Some(c) = d.re.captures(host) {
                let user = d.user_group.and_then(|i| c.get(i)).map(|m| m.as_str());
                let group = d.group_group.and_then(|i| c.get(i)).map(|m| m.as_str());
                return Some(match (user, group) {
                    (Some(u), Some(g)) => Capture::UserAndGroup(u, g),
                    (Some(u), None) => Capture::User(u),
                    (None, Some(g)) => Capture::Group(g),
                    (None, None) => Capture::None,
                });
            }
        }
        None
    }

    fn request_matches(&self, input: &Input) -> bool {
        if let Some(m) = &self.methods {
            if !m.iter().any(|m| m == input.method) {
                return false;
            }
        }
        if let Some(n) = &self.networks {
            if !n.contains(input.ip) {
                return false;
            }
        }
        if self.resources.is_some() || self.resources_with_query.is_some() {
            let by_path = self.resources.as_ref().is_some_and(|r| r.is_match(input.path));
            let by_query = !by_path
                && self.resources_with_query.as_ref().is_some_and(|r| match input.query {
                    Some(q) => r.is_match(&format!("{}?{}", input.path, q)),
                    None => r.is_match(input.path),
                });
            if !by_path && !by_query {
                return false;
            }
        }
        if let Some(any_of) = &self.query {
            if !any_of.iter().any(|all| all.iter().all(|c| c.matches(input.query))) {
                return false;
            }
        }
        true
    }

    fn needs_subject(&self, cap: &Capture) -> bool {
        self.subject.is_some() || !self.scopes.is_empty() || !matches!(cap, Capture::None)
    }

    fn subject_matches(&self, s: &Subject, cap: &Capture) -> bool {
        let in_group = |g: &str| s.groups.iter().any(|x| x == g);
        let cap_ok = match cap {
            Capture::None => true,
            Capture::User(u) => s.user.eq_ignore_ascii_case(u),
            Capture::Group(g) => in_group(g),
            Capture::UserAndGroup(u, g) => s.user.eq_ignore_ascii_case(u) && in_group(g),
        };
        if !cap_ok {
            return false;
        }
        if let Some(any_of) = &self.subject {
            let ok = any_of.iter().any(|all| {
                all.iter().all(|t| match t {
                    SubjectTerm::User(u) => s.user == u,
                    SubjectTerm::Group(g) => in_group(g),
                })
            });
            if !ok {
                return false;
            }
        }
        self.scopes.iter().all(|need| has_scope(s.scopes, need))
    }
}

/// `*` grants every scope; `wiki:*` every scope starting with `wiki:`.
pub fn has_scope(granted: &[String], need: &str) -> bool {
    granted.iter().any(|g| {
        g == need
            || g == "*"
            || g.strip_suffix('*').is_some_and(|prefix| prefix.ends_with(':') && need.starts_with(prefix))
    })
}

impl QueryCond {
    fn matches(&self, query: Option<&str>) -> bool {
        let values = || {
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .filter(|(k, _)| k == self.key.as_str())
                .map(|(_, v)| v)
        };
        match &self.op {
            QueryOp::Present => values().next().is_some(),
            QueryOp::Absent => values().next().is_none(),
            QueryOp::Equal(want) => values().next().is_some() && values().all(|v| v == want.as_str()),
            QueryOp::NotEqual(want) => values().all(|v| v != want.as_str()),
            QueryOp::Pattern(re) => values().next().is_some() && values().all(|v| re.is_match(&v)),
            QueryOp::NotPattern(re) => values().all(|v| !re.is_match(&v)),
        }
    }
}

fn apply(level: Level, subject: Option<&Subject>, rule: Option<usize>) -> Decision {
    let verdict = match (level, subject) {
        (Level::Bypass, _) => Verdict::Allow,
        (Level::Deny, _) => Verdict::Forbidden,
        (_, None) => Verdict::SignIn,
        (Level::OneFactor, Some(_)) => Verdict::Allow,
        (Level::TwoFactor, Some(s)) if s.level >= AuthLevel::TwoFactor => Verdict::Allow,
        (Level::TwoFactor, Some(_)) => Verdict::StepUp,
    };
    Decision { verdict, level, rule }
}

impl Policy {
    /// Decides one request. Cost depends on the rules for this host, not on the total.
    pub fn decide(&self, input: &Input) -> Decision {
        let mut found = None;
        self.index.for_each_candidate(input.host, |i| {
            let rule = &self.rules[i as usize];
            let Some(cap) = rule.host_match(input.host) else {
                return true;
            };
            if !rule.request_matches(input) {
                return true;
            }
            if rule.needs_subject(&cap) {
                match &input.subject {
                    None => {
                        found = Some(Decision { verdict: Verdict::SignIn, level: rule.level, rule: Some(i as usize) });
                        return false;
                    }
                    Some(s) if !rule.subject_matches(s, &cap) => return true,
                    Some(_) => {}
                }
            }
            found = Some(apply(rule.level, input.subject.as_ref(), Some(i as usize)));
            false
        });
        found.unwrap_or_else(|| apply(self.default_level, input.subject.as_ref(), None))
    }

    /// `file:line` of what decided, for explanations and logs.
    pub fn origin_of(&self, d: &Decision) -> String {
        match d.rule {
            Some(i) => self.rules[i].origin.to_string(),
            None => match &self.default_origin {
                Some(o) => format!("default_policy at {o}"),
                None => "default_policy (deny, none set)".to_string(),
            },
        }
    }

    /// A policy that denies everything: used when none could be loaded (fail closed).
    pub fn deny_all() -> Policy {
        compile::compile_rules(vec![], Level::Deny, None)
    }
}

#[cfg(test)]
mod tests;
