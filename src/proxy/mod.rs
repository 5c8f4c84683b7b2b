//! Pingora hooks only. Each hook is a table of contents: the decision lives in `authz`, the
//! forward-auth endpoints in `forward_auth`, the `/auth` API in `api` (through `api_bridge`).

pub mod api_bridge;
pub mod forward_auth;
pub mod framing;
pub mod guard;
pub mod headers;
pub mod respond;
pub mod whoami;

use crate::authz::{client_ip::effective_ip, decide, normalize::normalize_path, Facts, Outcome};
use crate::catalogue::Code;
use crate::config::Config;
use crate::identity::{self, Identity};
use crate::metrics::{metrics, Outcome as Label};
use crate::net::normalize_host;
use crate::routes::Route;
use crate::runtime::Runtime;
use crate::state::Shared;
use async_trait::async_trait;
use headers::Forwarding;
use http::HeaderMap;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::Result;
use respond::Reply;
use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

pub use crate::redirect::portal_url;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    ForwardAuth,
    AuthRequest,
}

/// Which counters a request is counted under.
#[derive(Clone, Copy, Debug, Default)]
enum Counted {
    #[default]
    Unrouted,
    Route,
    ForwardAuth,
    AuthRequest,
    AuthApi,
}

/// Per-request state, set in `request_filter` and read by the later hooks.
#[derive(Default)]
pub struct Ctx {
    rt: Option<Arc<Runtime>>,
    route: Option<Arc<Route>>,
    identity: Option<Arc<Identity>>,
    /// The access token for `pass_access_token` routes: the caller's own, or one minted for
    /// their session.
    pass_token: Option<Arc<str>>,
    /// Set when normalisation changed the path: the upstream gets exactly what was judged.
    judged_path: Option<String>,
    client_ip: Option<IpAddr>,
    peer: Option<IpAddr>,
    peer_trusted: bool,
    counted: Counted,
    label: Option<Label>,
}

/// The proxy's hooks; cheap to clone (one per worker thread's listener).
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
    api: axum::Router,
}

impl Gateway {
    pub fn new(shared: Arc<Shared>) -> Gateway {
        Gateway { api: crate::auth_router::router(shared.clone()), shared }
    }
}

/// GET/HEAD from a browser that wants a page (not XHR).
pub fn wants_html(h: &HeaderMap) -> bool {
    let html = h.get_all("accept").iter().any(|v| v.to_str().is_ok_and(|s| s.contains("text/html")));
    let xhr = h.get("x-requested-with").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"xmlhttprequest"));
    html && !xhr
}

/// 401 for API callers.
pub fn unauthenticated_api(step_up: bool) -> Reply {
    if step_up {
        Reply::error(Code::MfaRequired, "This resource needs a second factor: complete the MFA step and retry.")
            .header("www-authenticate", r#"Bearer error="insufficient_user_authentication""#)
    } else {
        Reply::error(Code::Unauthenticated, "Sign in first: send a session cookie or an access token.")
            .header("www-authenticate", "Bearer")
    }
}

/// Refusals other than "sign in first".
pub fn refusal(o: &Outcome) -> Reply {
    match o {
        Outcome::Forbidden(why) => Reply::error(Code::Forbidden, why),
        Outcome::RateLimited(wait) => Reply::error(Code::RateLimited, "Too many requests: retry later.")
            .header("retry-after", crate::ratelimit::retry_after_secs(*wait).to_string()),
        Outcome::BadPath(e) => Reply::error(Code::BadPath, &e.to_string()),
        Outcome::Unavailable => {
            Reply::error(Code::Unavailable, "Sign-in state cannot be checked right now; retry shortly.")
        }
        Outcome::Allow | Outcome::SignIn | Outcome::StepUp => Reply::error(Code::Internal, "unexpected decision"),
    }
}

/// An audit event for a request refused by policy or network (not for sign-in prompts or rate
/// limits, which are counted in metrics).
#[allow(clippy::too_many_arguments)]
pub fn audit_denied(
    audit: &crate::audit::Audit,
    mode: &str,
    host: &str,
    path: &str,
    method: &str,
    ip: IpAddr,
    peer: IpAddr,
    forwarded: Option<&str>,
    reason: &str,
) {
    use crate::audit::clip;
    let origin = crate::audit::Origin {
        tenant: None,
        ip: Some(ip.to_string()),
        forwarded: forwarded.map(|f| clip(f, 256)),
        remote: Some(peer.to_string()),
        user_agent: None,
    };
    // Request noise: bounded strings, a budget per minute, never at the expense of security events.
    let detail = serde_json::json!({
        "mode": mode, "host": clip(host, 255), "path": clip(path, 512), "method": clip(method, 16), "reason": clip(reason, 128)
    });
    audit.record_request(crate::audit::Audit::event(crate::audit::EventKind::RequestDenied, &origin, None, detail));
}

fn peer_ip(session: &Session) -> Option<IpAddr> {
    session.client_addr().and_then(|a| a.as_inet()).map(|a| crate::net::canonical_ip(a.ip()))
}

/// `METHOD /path, Host: host` for log lines: no query, strings bounded, control characters escaped.
fn summary(req: &RequestHeader) -> String {
    use crate::audit::clip;
    let host = request_host(req).unwrap_or("-");
    format!("{} {}, Host: {}", clip(req.method.as_str(), 16), clip(req.uri.path(), 512), clip(host, 255))
}

/// The request's host: from an absolute URI (HTTP/2 `:authority`) or `Host`.
fn request_host(req: &RequestHeader) -> Option<&str> {
    match req.uri.host() {
        Some(_) => req.uri.authority().map(|a| a.as_str()),
        None => req.headers.get(http::header::HOST).and_then(|v| v.to_str().ok()),
    }
}

/// Whether the request target is origin-form (`/path?query`) and the URI holds exactly those
/// bytes. Pingora parses other forms (`x:/admin`, `admin`, `*`, absolute-form) into a URI of
/// `/` or of a part of the target while keeping the raw bytes for the wire: judging the URI
/// would then judge something other than what was asked for.
fn origin_form(req: &RequestHeader) -> bool {
    let raw = req.raw_path();
    raw.first() == Some(&b'/') && req.uri.path_and_query().is_some_and(|pq| pq.as_str().as_bytes() == raw)
}

/// The normalised path when it is under the reserved `/auth`. Judged normalised, so
/// `/x/../auth/…` is the auth API too; a path that does not normalise is refused later (400).
fn auth_path(raw: &str) -> Option<Cow<'_, str>> {
    // Cheap exit for the common case: no `/auth` anywhere, no escapes or dot segments.
    if !raw.contains("auth") && !raw.contains('%') {
        return None;
    }
    normalize_path(raw).ok().filter(|p| p == "/auth" || p.starts_with("/auth/"))
}

fn unauthenticated_gateway(cfg: &Config, req: &RequestHeader, host: &str, step_up: bool, peer_trusted: bool) -> Reply {
    let browser = matches!(req.method, http::Method::GET | http::Method::HEAD) && wants_html(&req.headers);
    if !browser {
        return unauthenticated_api(step_up);
    }
    // Behind a TLS-terminating trusted proxy the original URL was https.
    let https = peer_trusted
        && req.headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let scheme = if https { "https" } else { "http" };
    let original = format!("{scheme}://{host}{}", req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    Reply::new(302).header("location", portal_url(cfg, &original, step_up))
}

/// A request Gatehouse refuses before judging it, whatever its route: ambiguous framing (the
/// connection is closed after the answer), a target not in origin form, a method not in upper
/// case. Its code, sentence and whether to close.
#[inline]
fn malformed(session: &Session) -> Option<(Code, &'static str, bool)> {
    let req = session.req_header();
    let raw_head = || session.as_downstream().as_http1().map(|s| s.get_headers_raw_bytes());
    if let Some(why) = framing::ambiguous(&req.headers, raw_head) {
        return Some((Code::BadFraming, why, true));
    }
    if !origin_form(req) {
        return Some((
            Code::BadTarget,
            "The request target must be a path starting with `/`: absolute-form, `*` and relative targets are refused.",
            false,
        ));
    }
    // Rules name methods in upper case and match them exactly, while some apps upper-case
    // what they receive (Django, Werkzeug read `delete` as DELETE): refuse what they would
    // read as another method than was judged. Symfony and Laravel do the same.
    if req.method.as_str().bytes().any(|b| b.is_ascii_lowercase()) {
        return Some((Code::BadMethod, "The request method must be in upper case (GET, POST, DELETE…).", false));
    }
    None
}

impl Gateway {
    /// A forward-auth request (`/auth/authz/…`): the decision for the proxy that asked.
    #[inline]
    async fn forward_auth(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        rt: &Runtime,
        endpoint: Endpoint,
        peer: IpAddr,
        started: Instant,
    ) -> Result<()> {
        ctx.counted = match endpoint {
            Endpoint::ForwardAuth => Counted::ForwardAuth,
            Endpoint::AuthRequest => Counted::AuthRequest,
        };
        let (reply, label) =
            forward_auth::answer(rt, &self.shared.services.audit, endpoint, &session.req_header().headers, peer);
        ctx.label = Some(label);
        metrics().decided(started, Some(label));
        reply.send(session).await
    }

    /// The `whoami` route's answer: what the upstream would have received.
    #[inline]
    async fn whoami(&self, session: &mut Session, ctx: &mut Ctx) -> Result<()> {
        let mut req = session.req_header().clone();
        self.strip_credentials(&mut req, ctx);
        headers::prepare_upstream(
            &mut req,
            ctx.judged_path.as_deref(),
            ctx.identity.as_deref(),
            ctx.pass_token.as_deref(),
            &self.forwarding(ctx),
        )?;
        whoami::reply(&req, ctx.client_ip, ctx.peer).send(session).await
    }

    /// The decision for a proxied request: `None` to proxy, or the answer to send.
    fn judge(&self, rt: &Runtime, session: &Session, ctx: &mut Ctx, peer: IpAddr) -> Option<Reply> {
        let req = session.req_header();
        let cfg = &rt.config;
        let Some(raw_host) = request_host(req) else {
            return Some(Reply::error(Code::BadHost, "The request has no Host header."));
        };
        let Some(host) = normalize_host(raw_host) else {
            return Some(Reply::error(Code::BadHost, "The Host header is malformed."));
        };
        let Some(route) = rt.routes.lookup(&host) else {
            ctx.label = Some(Label::NotFound);
            return Some(Reply::error(Code::UnknownHost, "No application is configured for this host."));
        };
        ctx.route = Some(route.clone());
        ctx.counted = Counted::Route;
        ctx.peer_trusted = cfg.server.trusted_proxies.contains(peer);
        let ip = match effective_ip(
            peer,
            req.headers.get_all(&headers::X_FORWARDED_FOR).iter().map(|v| v.as_bytes()),
            &cfg.server.trusted_proxies,
        ) {
            Ok(ip) => ip,
            Err(_) => {
                ctx.label = Some(Label::BadRequest);
                return Some(Reply::error(Code::BadForwardedFor, "X-Forwarded-For is malformed."));
            }
        };
        ctx.client_ip = Some(ip);
        let facts = Facts {
            method: &req.method,
            host: &host,
            path: req.uri.path(),
            query: req.uri.query(),
            ip,
            bearer: req.headers.get(http::header::AUTHORIZATION).and_then(|v| identity::bearer(v.as_bytes())),
            cookie: identity::cookie_in(
                req.headers.get_all(http::header::COOKIE).iter().map(|v| v.as_bytes()),
                &cfg.session.cookie_name,
            ),
        };
        let j = decide(rt, &facts, Some(route));
        ctx.label = Some(j.outcome.label());
        match j.outcome {
            Outcome::Allow => {
                if route.pass_access_token {
                    ctx.pass_token = j.identity.as_deref().and_then(|id| rt.access_token_for(id, &route.app));
                }
                ctx.identity = j.identity;
                if let Cow::Owned(p) = j.path {
                    ctx.judged_path = Some(p);
                }
                None
            }
            Outcome::SignIn => Some(unauthenticated_gateway(cfg, req, raw_host, false, ctx.peer_trusted)),
            Outcome::StepUp => Some(unauthenticated_gateway(cfg, req, raw_host, true, ctx.peer_trusted)),
            Outcome::Forbidden(reason) => {
                let xff = req.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
                audit_denied(
                    &self.shared.services.audit,
                    "gateway",
                    &host,
                    req.uri.path(),
                    req.method.as_str(),
                    ip,
                    peer,
                    xff,
                    reason,
                );
                Some(refusal(&j.outcome))
            }
            other => Some(refusal(&other)),
        }
    }

    /// The app receives no credential Gatehouse did not verify, and none of Gatehouse's cookies.
    fn strip_credentials(&self, req: &mut RequestHeader, ctx: &Ctx) {
        let verified = ctx.identity.as_deref().and_then(|id| id.access_token.as_deref());
        let session_cookie = ctx.rt.as_ref().map(|rt| rt.config.session.cookie_name.as_str());
        let names: [&str; 3] =
            [session_cookie.unwrap_or("gatehouse_session"), crate::config::CSRF_COOKIE, crate::config::ADMIN_COOKIE];
        headers::strip_credentials(req, verified, &names);
    }

    fn forwarding(&self, ctx: &Ctx) -> Forwarding {
        let peer = ctx.peer.unwrap_or(IpAddr::from([127, 0, 0, 1]));
        Forwarding { client_ip: ctx.client_ip.unwrap_or(peer), peer_trusted: ctx.peer_trusted, peer }
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx::default()
    }

    /// No downstream modules: Gatehouse does not compress, and an empty module chain is
    /// cheaper on every request than a disabled one.
    fn init_downstream_modules(&self, _modules: &mut pingora::modules::http::HttpModules) {}

    /// A client that hangs up is not an error worth a log line per request.
    fn suppress_error_log(&self, _session: &Session, _ctx: &Ctx, error: &pingora::Error) -> bool {
        error.esource() == &pingora::ErrorSource::Downstream
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let started = Instant::now();
        let rt = self.shared.runtime.load_full();
        let Some(peer) = peer_ip(session) else {
            Reply::error(Code::BadPeer, "Only TCP clients are served.").send(session).await?;
            return Ok(true);
        };
        ctx.peer = Some(peer);

        if let Some((code, why, close)) = malformed(session) {
            ctx.rt = Some(rt);
            ctx.label = Some(Label::BadRequest);
            let reply = Reply::error(code, why);
            if close {
                reply.send_and_close(session).await?;
            } else {
                reply.send(session).await?;
            }
            return Ok(true);
        }

        if rt.identity.is_shared() {
            prefetch(&rt, &session.req_header().headers, peer).await;
        }
        if let Some(path) = auth_path(session.req_header().uri.path()) {
            ctx.rt = Some(rt.clone());
            let endpoint = match &*path {
                "/auth/authz/forward-auth" => Endpoint::ForwardAuth,
                "/auth/authz/auth-request" => Endpoint::AuthRequest,
                _ => {
                    ctx.counted = Counted::AuthApi;
                    ctx.label = Some(Label::AuthApi);
                    let path = path.into_owned();
                    let max_body = api_bridge::body_limit(&rt, &path, &session.req_header().headers);
                    let deadline = rt.config.server.header_timeout;
                    api_bridge::serve(session, &self.api, &path, peer, max_body, deadline).await?;
                    return Ok(true);
                }
            };
            self.forward_auth(session, ctx, &rt, endpoint, peer, started).await?;
            return Ok(true);
        }

        let refused = self.judge(&rt, session, ctx, peer);
        metrics().decided(started, ctx.label);
        ctx.rt = Some(rt);
        if let Some(reply) = refused {
            reply.send(session).await?;
            return Ok(true);
        }
        if ctx.route.as_ref().is_some_and(|r| r.is_whoami()) {
            self.whoami(session, ctx).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// A request that could not be proxied (upstream unreachable, a hook's error) is answered in
    /// the API's error shape, never with Pingora's own error page; the connection is closed.
    async fn fail_to_proxy(&self, session: &mut Session, e: &pingora::Error, _ctx: &mut Ctx) -> FailToProxy {
        use pingora::{ErrorSource, ErrorType};
        let code = match (e.etype(), e.esource()) {
            (ErrorType::HTTPStatus(code), _) => *code,
            (_, ErrorSource::Upstream) => 502,
            (ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed, ErrorSource::Downstream) => 0,
            (_, ErrorSource::Downstream) => 400,
            (_, ErrorSource::Internal | ErrorSource::Unset) => 500,
        };
        if code > 0 {
            let _ = respond::fail_to_proxy_answer(session, code).await;
        }
        FailToProxy { error_code: code, can_reuse_downstream: false }
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let addr = ctx.route.as_ref().and_then(|r| r.next_addr()).ok_or_else(|| {
            pingora::Error::explain(pingora::ErrorType::InternalError, "route without an upstream address")
        })?;
        Ok(Box::new(HttpPeer::new(addr, false, String::new())))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        self.strip_credentials(upstream, ctx);
        headers::prepare_upstream(
            upstream,
            ctx.judged_path.as_deref(),
            ctx.identity.as_deref(),
            ctx.pass_token.as_deref(),
            &self.forwarding(ctx),
        )
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        _ctx: &mut Ctx,
    ) -> Result<()> {
        metrics().upstream_status(resp.status.as_u16());
        Ok(())
    }

    /// What Pingora's own error lines name the request by: never the query (apps carry tokens
    /// there), bounded and escaped.
    fn request_summary(&self, session: &Session, _ctx: &Ctx) -> String {
        summary(session.req_header())
    }

    async fn logging(&self, _session: &mut Session, _e: Option<&pingora::Error>, ctx: &mut Ctx) {
        let (Some(rt), Some(label)) = (ctx.rt.as_ref(), ctx.label) else {
            return;
        };
        match ctx.counted {
            Counted::Route => {
                if let Some(r) = &ctx.route {
                    r.counters.inc(label)
                }
            }
            Counted::ForwardAuth => rt.forward_auth_counters.inc(label),
            Counted::AuthRequest => rt.auth_request_counters.inc(label),
            Counted::AuthApi => rt.auth_api_counters.inc(label),
            Counted::Unrouted => rt.unrouted_counters.inc(label),
        }
    }
}

#[cfg(test)]
mod tests;

/// On a store other replicas share: reads the request's credentials (bearer token, session
/// cookie, admin cookie) into memory when this process does not hold them or no longer trusts
/// its copy, so the decision that follows stays a synchronous lookup (see `sessions::follow`).
async fn prefetch(rt: &Runtime, h: &http::HeaderMap, peer: IpAddr) {
    let xff = h.get_all(&headers::X_FORWARDED_FOR).iter().map(|v| v.as_bytes());
    // A malformed X-Forwarded-For is refused before anything is judged: nothing to read for it.
    let Ok(client) = effective_ip(peer, xff, &rt.config.server.trusted_proxies) else { return };
    let v6 = rt.config.server.ipv6_prefix;
    let bearer = h.get(http::header::AUTHORIZATION).and_then(|v| identity::bearer(v.as_bytes()));
    let cookie = |name: &str| identity::cookie_in(h.get_all(http::header::COOKIE).iter().map(|v| v.as_bytes()), name);
    rt.identity.prefetch(bearer, cookie(&rt.config.session.cookie_name), client, v6).await;
    if let Some(admin) = cookie(crate::config::ADMIN_COOKIE) {
        rt.identity.prefetch(None, Some(admin), client, v6).await;
    }
}
