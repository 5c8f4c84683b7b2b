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

/// A `domain_regex` or `resources` regex. With `User`/`Group` named captures it matches only a
/// subject the captures name (as in Authelia): `User` equal to the username, `Group` one of the
/// subject's groups, both case-insensitively. No other named group loads (see `compile`).
#[derive(Debug)]
pub(crate) struct CaptureRegex {
    re: Regex,
    user_group: Option<usize>,
    group_group: Option<usize>,
    /// A `resources` regex that asks for the query: matched over `path?query`.
    with_query: bool,
}

impl CaptureRegex {
    fn has_captures(&self) -> bool {
        self.user_group.is_some() || self.group_group.is_some()
    }

    /// Whether the text matches and what was captured names this subject. A capture that took
    /// no part in the match names nobody.
    fn matches_subject(&self, text: &str, s: &Subject) -> bool {
        let Some(c) = self.re.captures(text) else {
            return false;
        };
        let captured = |i: Option<usize>, ok: &dyn Fn(&str) -> bool| match i {
            None => true,
            Some(i) => c.get(i).is_some_and(|m| ok(m.as_str())),
        };
        captured(self.user_group, &|u| s.user.eq_ignore_ascii_case(u))
            && captured(self.group_group, &|g| s.groups.iter().any(|x| x.eq_ignore_ascii_case(g)))
    }
}

/// One compiled rule.
#[derive(Debug)]
pub struct Rule {
    pub origin: Origin,
    pub level: Level,
    pub(crate) domains: Vec<HostPattern>,
    pub(crate) domain_regex: Vec<CaptureRegex>,
    /// Regexes over the path alone.
    pub(crate) resources: Option<RegexSet>,
    /// Regexes that name `?` (`\?`, `\x3F`, `[?&]`…): matched over `path?query`.
    pub(crate) resources_with_query: Option<RegexSet>,
    /// `resources` regexes with `User`/`Group` captures.
    pub(crate) resources_captured: Vec<CaptureRegex>,
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
    /// `file:line: what may be wrong` for rules that load but look unintended (`check` prints them).
    pub warnings: Vec<crate::config::ConfigError>,
    index: index::HostIndex,
}

/// Which parts of a rule matched only subject-dependently (through `User`/`Group` captures):
/// those are checked again against the subject.
#[derive(Clone, Copy)]
struct Captured {
    host: bool,
    path: bool,
}

impl Rule {
    /// The host matched (through the index or a regex); `Some(true)` when only regexes with
    /// captures matched it.
    fn host_match(&self, host: &str) -> Option<bool> {
        if self.domain_regex.is_empty() {
            return Some(false);
        }
        if !self.domains.is_empty() && self.domains.iter().any(|d| d.matches(host)) {
            return Some(false);
        }
        if self.domain_regex.iter().any(|d| !d.has_captures() && d.re.is_match(host)) {
            return Some(false);
        }
        if self.domain_regex.iter().any(|d| d.has_captures() && d.re.is_match(host)) {
            return Some(true);
        }
        None
    }

    /// Everything but host and subject matched; `Some(true)` when the path matched only
    /// through regexes with captures.
    fn request_matches(&self, input: &Input) -> Option<bool> {
        if let Some(m) = &self.methods {
            if !m.iter().any(|m| m == input.method) {
                return None;
            }
        }
        if let Some(n) = &self.networks {
            if !n.contains(input.ip) {
                return None;
            }
        }
        if let Some(any_of) = &self.query {
            if !any_of.iter().any(|all| all.iter().all(|c| c.matches(input.query))) {
                return None;
            }
        }
        if self.resources.is_none() && self.resources_with_query.is_none() && self.resources_captured.is_empty() {
            return Some(false);
        }
        if self.resources.as_ref().is_some_and(|r| r.is_match(input.path)) {
            return Some(false);
        }
        if self.resources_with_query.as_ref().is_some_and(|r| r.is_match(&resource_text(input, true))) {
            return Some(false);
        }
        if self.resources_captured.iter().any(|c| c.re.is_match(&resource_text(input, c.with_query))) {
            return Some(true);
        }
        None
    }

    fn needs_subject(&self, cap: Captured) -> bool {
        self.subject.is_some() || !self.scopes.is_empty() || cap.host || cap.path
    }

    fn subject_matches(&self, s: &Subject, cap: Captured, input: &Input) -> bool {
        if cap.host && !self.domain_regex.iter().any(|d| d.has_captures() && d.matches_subject(input.host, s)) {
            return false;
        }
        if cap.path
            && !self.resources_captured.iter().any(|c| c.matches_subject(&resource_text(input, c.with_query), s))
        {
            return false;
        }
        let in_group = |g: &str| s.groups.iter().any(|x| x == g);
        if let Some(any_of) = &self.subject {
            let ok = any_of.iter().any(|all| {
                all.iter().all(|t| match t {
                    // Accounts are unique case-insensitively: `user:Bob` names bob.
                    SubjectTerm::User(u) => s.user.eq_ignore_ascii_case(u),
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

/// What `resources` regexes see: the path, or `path?query` for those that ask for the query.
fn resource_text<'a>(input: &Input<'a>, with_query: bool) -> std::borrow::Cow<'a, str> {
    match (with_query, input.query) {
        (true, Some(q)) => std::borrow::Cow::Owned(format!("{}?{}", input.path, q)),
        _ => std::borrow::Cow::Borrowed(input.path),
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
            let Some(host) = rule.host_match(input.host) else {
                return true;
            };
            let Some(path) = rule.request_matches(input) else {
                return true;
            };
            let cap = Captured { host, path };
            if rule.needs_subject(cap) {
                match &input.subject {
                    None => {
                        found = Some(Decision { verdict: Verdict::SignIn, level: rule.level, rule: Some(i as usize) });
                        return false;
                    }
                    Some(s) if !rule.subject_matches(s, cap, input) => return true,
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

/// Scopes of a user in these groups: the union of the groups' scopes.
pub fn scopes_of(groups: &[String], access_groups: &std::collections::BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut v: Vec<String> = groups.iter().filter_map(|g| access_groups.get(g)).flatten().cloned().collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
pub(crate) mod tests;
