//! Prometheus metrics. Label sets are resolved once per route when the runtime is built, so the
//! hot path only increments counters it already holds.

pub mod recent;

use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry, TextEncoder};
use std::sync::OnceLock;
use std::time::Instant;

/// Every outcome a request can have, as a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Allow,
    SignIn,
    StepUp,
    Deny,
    RateLimited,
    BadRequest,
    NotFound,
    Unavailable,
    AuthApi,
}

impl Outcome {
    pub const ALL: [Outcome; 9] = [
        Outcome::Allow,
        Outcome::SignIn,
        Outcome::StepUp,
        Outcome::Deny,
        Outcome::RateLimited,
        Outcome::BadRequest,
        Outcome::NotFound,
        Outcome::Unavailable,
        Outcome::AuthApi,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::SignIn => "sign_in",
            Outcome::StepUp => "step_up",
            Outcome::Deny => "deny",
            Outcome::RateLimited => "rate_limited",
            Outcome::BadRequest => "bad_request",
            Outcome::NotFound => "not_found",
            Outcome::Unavailable => "unavailable",
            Outcome::AuthApi => "auth_api",
        }
    }
}

pub struct Metrics {
    pub registry: Registry,
    requests: IntCounterVec,
    pub decision_seconds: Histogram,
    upstream: [IntCounter; 5],
    ratelimited: IntCounterVec,
    pub reloads: IntCounterVec,
    /// Delivery attempts of one-time-code messages by channel and result (sent, retry, failed).
    pub deliveries: IntCounterVec,
    /// App API calls (`users/check`, `users/sync`) by app, endpoint and answer status.
    pub app_api: IntCounterVec,
    /// The last hour minute by minute (the console's dashboard).
    pub recent: recent::Recent,
}

/// Counters of one route (or pseudo-route such as `forward-auth`), one per outcome.
#[derive(Clone, Debug)]
pub struct RouteCounters([IntCounter; 9]);

impl RouteCounters {
    pub fn inc(&self, o: Outcome) {
        self.0[o as usize].inc();
    }
}

pub fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| {
        let registry = Registry::new_custom(Some("gatehouse".into()), None).expect("static registry");
        let requests =
            IntCounterVec::new(Opts::new("requests_total", "Requests by route and decision"), &["route", "decision"])
                .expect("static metric");
        let decision_seconds = Histogram::with_opts(
            HistogramOpts::new("decision_seconds", "Time to decide a request (IP, path, limits, identity, policy)")
                .buckets(vec![1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2]),
        )
        .expect("static metric");
        let upstream =
            IntCounterVec::new(Opts::new("upstream_responses_total", "Upstream responses by status class"), &["class"])
                .expect("static metric");
        let ratelimited =
            IntCounterVec::new(Opts::new("rate_limited_total", "Requests refused by a rate limit"), &["limit"])
                .expect("static metric");
        let reloads =
            IntCounterVec::new(Opts::new("config_reloads_total", "Configuration reloads by result"), &["result"])
                .expect("static metric");
        let deliveries = IntCounterVec::new(
            Opts::new("deliveries_total", "Message delivery attempts by channel and result (sent, retry, failed)"),
            &["channel", "result"],
        )
        .expect("static metric");
        let app_api = IntCounterVec::new(
            Opts::new("app_api_requests_total", "App API calls by app, endpoint and answer status"),
            &["app", "endpoint", "status"],
        )
        .expect("static metric");
        for c in [&requests, &upstream, &ratelimited, &reloads, &deliveries, &app_api] {
            registry.register(Box::new(c.clone())).expect("unique metric");
        }
        registry.register(Box::new(decision_seconds.clone())).expect("unique metric");
        let upstream = ["1xx", "2xx", "3xx", "4xx", "5xx"].map(|c| upstream.with_label_values(&[c]));
        let recent = recent::Recent::default();
        Metrics { registry, requests, decision_seconds, upstream, ratelimited, reloads, deliveries, app_api, recent }
    })
}

impl Metrics {
    pub fn route(&self, route: &str) -> RouteCounters {
        RouteCounters(Outcome::ALL.map(|o| self.requests.with_label_values(&[route, o.as_str()])))
    }

    /// A request decided: the decision's time since `started` (read once: the same instant
    /// says which minute of the last hour it counts in) and its outcome, when it has one.
    #[inline]
    pub fn decided(&self, started: Instant, outcome: Option<Outcome>) {
        let now = Instant::now();
        self.decision_seconds.observe(now.saturating_duration_since(started).as_secs_f64());
        if let Some(o) = outcome {
            self.recent.decided(o, now);
        }
    }

    pub fn upstream_status(&self, status: u16) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.upstream[class].inc();
    }

    pub fn rate_limited(&self, limit: &str) {
        self.ratelimited.with_label_values(&[limit]).inc();
    }

    pub fn render(&self) -> Vec<u8> {
        let mut buf = vec![];
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        buf
    }
}
