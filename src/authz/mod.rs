//! The decision on every request (docs/http-api.md §3), shared by gateway mode and both forward-auth
//! endpoints: normalised target → route networks → rate limits → identity → policy.
//! The callers resolve the effective client IP (`client_ip`) from their own header set.

pub mod client_ip;
pub mod normalize;

use crate::config::LimitKey;
use crate::identity::{Caller, Identity};
use crate::metrics::{metrics, Outcome as Label};
use crate::policy::{AuthLevel, Input, Level, Verdict};
use crate::routes::Route;
use crate::runtime::Runtime;
use http::Method;
use normalize::PathError;
use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// The request as the decision sees it. `host` is normalised; `path` is raw.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub method: &'a Method,
    pub host: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub ip: IpAddr,
    pub bearer: Option<&'a str>,
    pub cookie: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Allow,
    SignIn,
    StepUp,
    Forbidden(&'static str),
    RateLimited(Duration),
    BadPath(PathError),
    /// The store could not vouch for a presented credential on a protected route.
    Unavailable,
}

impl Outcome {
    pub fn label(&self) -> Label {
        match self {
            Outcome::Allow => Label::Allow,
            Outcome::SignIn => Label::SignIn,
            Outcome::StepUp => Label::StepUp,
            Outcome::Forbidden(_) => Label::Deny,
            Outcome::RateLimited(_) => Label::RateLimited,
            Outcome::BadPath(_) => Label::BadRequest,
            Outcome::Unavailable => Label::Unavailable,
        }
    }
}

#[derive(Debug)]
pub struct Judgement<'a> {
    pub outcome: Outcome,
    /// The normalised path: what was judged, and what the gateway forwards.
    pub path: Cow<'a, str>,
    /// The caller, when known and the request is allowed (identity headers).
    pub identity: Option<Arc<Identity>>,
    /// Index of the deciding policy rule (`None`: default policy or refused earlier).
    pub rule: Option<usize>,
}

fn limited(rt_label: &str, wait: Duration) -> Outcome {
    metrics().rate_limited(rt_label);
    Outcome::RateLimited(wait)
}

/// The refusal of a user not assigned to the app (`apps[].require_assignment`; the
/// `not_assigned` message, docs/http-api.md §20).
pub const NOT_ASSIGNED: &str = "You are not allowed to access this application. Contact Administrator.";

/// Decides one request. `route` is the app route serving the host, when there is one.
pub fn decide<'a>(rt: &Runtime, f: &Facts<'a>, route: Option<&Route>) -> Judgement<'a> {
    let refuse = |path: Cow<'a, str>, outcome| Judgement { outcome, path, identity: None, rule: None };

    let path = match normalize::normalize_path(f.path) {
        Ok(p) => p,
        Err(e) => return refuse(Cow::Borrowed(f.path), Outcome::BadPath(e)),
    };
    if let Some(nets) = route.and_then(|r| r.client_networks.as_ref()) {
        if !nets.contains(f.ip) {
            return refuse(path, Outcome::Forbidden("client network not allowed on this route"));
        }
    }
    if let Some(l) = &rt.global_limit {
        if let Err(wait) = l.check_ip(f.ip, rt.config.server.ipv6_prefix) {
            return refuse(path, limited("global", wait));
        }
    }
    let route_limit = route.and_then(|r| r.limiter.as_ref().map(|l| (r, l)));
    if let Some((r, l)) = route_limit {
        let checked = match l.per() {
            LimitKey::Ip => Some(l.check_ip(f.ip, rt.config.server.ipv6_prefix)),
            LimitKey::App => Some(l.check(r.app.as_str())),
            _ => None,
        };
        if let Some(Err(wait)) = checked {
            return refuse(path, limited("route", wait));
        }
    }

    let tenant = match route {
        Some(r) => r.tenant.as_str(),
        None => rt.config.tenant_for_host(f.host).map(|t| t.id.as_str()).unwrap_or(""),
    };
    let caller = if f.bearer.is_none() && f.cookie.is_none() {
        Caller::Anonymous
    } else {
        rt.identity.resolve_request(f.bearer, f.cookie, tenant, route.map(|r| r.app.as_str()))
    };
    let identity = match &caller {
        Caller::Known(id) => Some(id.clone()),
        _ => None,
    };

    if let Some((_, l)) = route_limit.filter(|(_, l)| l.per() == LimitKey::User) {
        let res = match &identity {
            Some(id) => l.check(id.user_id.as_str()),
            None => l.check_ip(f.ip, rt.config.server.ipv6_prefix),
        };
        if let Err(wait) = res {
            return refuse(path, limited("route", wait));
        }
    }

    let input = Input {
        host: f.host,
        path: &path,
        query: f.query,
        method: f.method,
        ip: f.ip,
        subject: identity.as_deref().map(Identity::subject),
    };
    let d = rt.policy.decide(&input);
    let outcome = outcome(rt, &d, identity.as_deref(), &caller, tenant, route);
    let identity = if outcome == Outcome::Allow { identity } else { None };
    Judgement { outcome, path, identity, rule: d.rule }
}

/// What the policy's verdict means for this caller on this route: the tenant's second-factor
/// rule and the app's assignment rule narrow an `Allow`.
#[inline]
fn outcome(
    rt: &Runtime,
    d: &crate::policy::Decision,
    identity: Option<&Identity>,
    caller: &Caller,
    tenant: &str,
    route: Option<&Route>,
) -> Outcome {
    match d.verdict {
        // A tenant may require a second factor of everyone, whatever the route asks.
        Verdict::Allow
            if d.level != Level::Bypass
                && identity.is_some_and(|id| id.level == AuthLevel::OneFactor)
                && rt.config.tenants.iter().any(|t| t.id == tenant && t.require_mfa) =>
        {
            Outcome::StepUp
        }
        // The app admits only the users assigned to it (the identity carries the assignment).
        Verdict::Allow
            if route.is_some_and(|r| r.require_assignment)
                && identity.is_some_and(|id| route.is_some_and(|r| !id.assigned_to(&r.app))) =>
        {
            Outcome::Forbidden(NOT_ASSIGNED)
        }
        Verdict::Allow => Outcome::Allow,
        Verdict::SignIn if matches!(caller, Caller::Unverifiable) => Outcome::Unavailable,
        Verdict::SignIn => Outcome::SignIn,
        Verdict::StepUp => Outcome::StepUp,
        Verdict::Forbidden => Outcome::Forbidden("access denied by policy"),
    }
}
