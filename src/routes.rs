//! The route table: request host → the app route that serves it. Exact hosts first, then the
//! longest `*.suffix`, then `*`.

use crate::config::{Config, ConfigError, LimitKey, Upstreams};
use crate::metrics::{metrics, RouteCounters};
use crate::net::{HostPattern, IpSet};
use crate::ratelimit::Limiter;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Debug)]
pub struct Route {
    /// `app` or `app#2` for an app's third route: the metrics label.
    pub id: String,
    pub app: String,
    pub tenant: String,
    pub upstreams: Upstreams,
    next: AtomicUsize,
    pub client_networks: Option<IpSet>,
    pub limiter: Option<Arc<Limiter>>,
    pub pass_access_token: bool,
    /// The app's `require_assignment`: signed-in users not assigned to it are refused.
    pub require_assignment: bool,
    pub counters: RouteCounters,
}

impl Route {
    /// Round robin over the route's addresses; `None` for built-in upstreams.
    pub fn next_addr(&self) -> Option<SocketAddr> {
        match &self.upstreams {
            Upstreams::Addrs(a) if !a.is_empty() => Some(a[self.next.fetch_add(1, Ordering::Relaxed) % a.len()]),
            _ => None,
        }
    }

    pub fn is_whoami(&self) -> bool {
        self.upstreams == Upstreams::Whoami
    }

    pub fn limit_per(&self) -> Option<LimitKey> {
        self.limiter.as_ref().map(|l| l.per())
    }
}

#[derive(Debug, Default)]
pub struct RouteTable {
    pub routes: Vec<Arc<Route>>,
    exact: HashMap<String, usize>,
    suffix: HashMap<String, usize>,
    any: Option<usize>,
}

impl RouteTable {
    /// `previous` lends its limiters (and their state) to routes whose limit did not change.
    pub fn build(cfg: &Config, previous: Option<&RouteTable>) -> Result<RouteTable, Vec<ConfigError>> {
        let mut t = RouteTable::default();
        let mut errors = vec![];
        for app in &cfg.apps {
            for (i, r) in app.routes.iter().enumerate() {
                let id = if i == 0 { app.id.clone() } else { format!("{}#{}", app.id, i) };
                let limiter = r.rate_limit.as_ref().map(|spec| {
                    previous
                        .and_then(|p| p.routes.iter().find(|o| o.id == id))
                        .and_then(|o| o.limiter.clone())
                        .filter(|l| &l.spec == spec)
                        .unwrap_or_else(|| Arc::new(Limiter::new(spec, cfg.rate_limits.max_keys)))
                });
                let idx = t.routes.len();
                t.routes.push(Arc::new(Route {
                    counters: metrics().route(&id),
                    id: id.clone(),
                    app: app.id.clone(),
                    tenant: app.tenant.clone(),
                    upstreams: r.upstreams.clone(),
                    next: AtomicUsize::new(0),
                    client_networks: r.client_networks.clone(),
                    limiter,
                    pass_access_token: r.pass_access_token,
                    require_assignment: app.require_assignment,
                }));
                for h in &r.hosts {
                    let clash = match h {
                        HostPattern::Exact(name) => t.exact.insert(name.clone(), idx).map(|_| name.clone()),
                        HostPattern::Suffix(s) => t.suffix.insert(s.clone(), idx).map(|_| format!("*{s}")),
                        HostPattern::Any => t.any.replace(idx).map(|_| "*".to_string()),
                    };
                    if let Some(host) = clash {
                        errors.push(ConfigError {
                            file: cfg.path.clone(),
                            line: None,
                            message: format!(
                                "host `{host}` is routed twice (again by app `{}`); give each host one route",
                                app.id
                            ),
                        });
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(t)
        } else {
            Err(errors)
        }
    }

    /// `host` must be normalised.
    pub fn lookup(&self, host: &str) -> Option<&Arc<Route>> {
        if let Some(&i) = self.exact.get(host) {
            return Some(&self.routes[i]);
        }
        if !self.suffix.is_empty() {
            for (i, b) in host.bytes().enumerate() {
                if b == b'.' {
                    if let Some(&r) = self.suffix.get(&host[i..]) {
                        if i > 0 {
                            return Some(&self.routes[r]);
                        }
                    }
                }
            }
        }
        self.any.map(|i| &self.routes[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn precedence_exact_then_longest_suffix_then_any() {
        let cfg = Config::from_str(
            Path::new("t.yaml"),
            "apps:\n  - id: a\n    routes:\n      - {hosts: [x.example.com], upstream: builtin:whoami}\n      - {hosts: ['*.example.com'], upstream: builtin:whoami}\n      - {hosts: ['*.b.example.com'], upstream: builtin:whoami}\n      - {hosts: ['*'], upstream: builtin:whoami}\n",
        )
        .unwrap();
        let t = RouteTable::build(&cfg, None).unwrap();
        assert_eq!(t.lookup("x.example.com").unwrap().id, "a");
        assert_eq!(t.lookup("y.example.com").unwrap().id, "a#1");
        assert_eq!(t.lookup("c.b.example.com").unwrap().id, "a#2");
        assert_eq!(t.lookup("example.com").unwrap().id, "a#3");
        assert_eq!(t.lookup("other.org").unwrap().id, "a#3");
    }

    #[test]
    fn a_host_routed_twice_is_an_error() {
        let cfg = Config::from_str(
            Path::new("t.yaml"),
            "apps:\n  - id: a\n    routes: [{hosts: [x.test], upstream: builtin:whoami}]\n  - id: b\n    routes: [{hosts: [x.test], upstream: builtin:whoami}]\n",
        )
        .unwrap();
        let e = RouteTable::build(&cfg, None).unwrap_err();
        assert!(e[0].message.contains("routed twice"), "{:?}", e);
    }
}
