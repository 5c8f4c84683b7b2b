//! Validation of `apps`: ids, tenants, allowed IPs, routes and frame origins.

use super::{ip_set, limit, upstreams};
use crate::config::{file, AppConfig, Reporter, RouteConfig};
use crate::net::HostPattern;

/// `apps`: each app, under an id no other app has.
pub(super) fn apps_section(
    r: &mut Reporter,
    apps: &[file::App],
    tenant_ids: &std::collections::HashSet<String>,
    resolve: bool,
) -> Vec<AppConfig> {
    let mut app_ids = std::collections::HashSet::new();
    let mut out = vec![];
    for (i, a) in apps.iter().enumerate() {
        let at = format!("apps[{i}]");
        if a.id.is_empty() || !a.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            r.error(&format!("{at}.id"), "an app id may hold only letters, digits, `-` and `_`");
        }
        if !app_ids.insert(a.id.clone()) {
            r.error(&format!("{at}.id"), format!("app `{}` is defined twice", a.id));
        }
        out.push(app(r, &at, a, tenant_ids, resolve));
    }
    out
}

/// One app (`at` is its key path): a known tenant, allowed IPs, routes and frame origins.
fn app(
    r: &mut Reporter,
    at: &str,
    a: &file::App,
    tenant_ids: &std::collections::HashSet<String>,
    resolve: bool,
) -> AppConfig {
    if !tenant_ids.contains(&a.tenant) {
        r.error(&format!("{at}.tenant"), format!("unknown tenant `{}`; define it under `tenants`", a.tenant));
    }
    let allowed_ips = ip_set(r, &format!("{at}.allowed_ips"), &a.allowed_ips);
    let routes: Vec<RouteConfig> =
        a.routes.iter().enumerate().map(|(j, rt)| route(r, &format!("{at}.routes[{j}]"), rt, resolve)).collect();
    let frame_origins = frame_origins(r, at, &a.frame_origins, &routes);
    AppConfig {
        id: a.id.clone(),
        tenant: a.tenant.clone(),
        name: a.name.clone().unwrap_or_else(|| a.id.clone()),
        allowed_ips,
        routes,
        frame_origins,
        require_assignment: a.require_assignment,
    }
}

/// One route (`at` is its key path): hosts (one at least), upstreams, client networks, limit.
fn route(r: &mut Reporter, at: &str, rt: &file::Route, resolve: bool) -> RouteConfig {
    let mut hosts = vec![];
    for (k, h) in rt.hosts.0.iter().enumerate() {
        match HostPattern::parse(h) {
            Ok(p) => hosts.push(p),
            Err(e) => r.error(&format!("{at}.hosts[{k}]"), e),
        }
    }
    if hosts.is_empty() {
        r.error(&format!("{at}.hosts"), "a route needs at least one host");
    }
    let upstreams = upstreams(r, &format!("{at}.upstream"), &rt.upstream.0, resolve);
    let client_networks = if rt.client_networks.is_empty() {
        None
    } else {
        Some(ip_set(r, &format!("{at}.client_networks"), &rt.client_networks))
    };
    let rate_limit =
        rt.rate_limit.as_ref().and_then(|l| limit(r, &format!("{at}.rate_limit"), l, &["ip", "user", "app"]));
    RouteConfig { hosts, upstreams, client_networks, rate_limit, pass_access_token: rt.pass_access_token }
}

/// An app's frame origins (`at` is the app's key path): each an origin, or, when none is
/// given, http and https of every exact host its routes serve.
fn frame_origins(r: &mut Reporter, at: &str, given: &[String], routes: &[RouteConfig]) -> Vec<String> {
    let mut frame_origins = vec![];
    for (j, o) in given.iter().enumerate() {
        match url::Url::parse(o) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() && u.path() == "/" => {
                frame_origins.push(u.origin().ascii_serialization())
            }
            _ => r.error(
                &format!("{at}.frame_origins[{j}]"),
                format!("`{o}` is not an origin; write scheme://host[:port], e.g. https://app.example.com"),
            ),
        }
    }
    if given.is_empty() {
        for rt in routes {
            for h in &rt.hosts {
                if let crate::net::HostPattern::Exact(h) = h {
                    frame_origins.push(format!("http://{h}"));
                    frame_origins.push(format!("https://{h}"));
                }
            }
        }
    }
    frame_origins
}
