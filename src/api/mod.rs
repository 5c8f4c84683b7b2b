//! The `/auth` JSON API: axum routes that answer JSON, merged with the portal's into the /auth
//! router by `auth_router` (called in-process from the gateway, `proxy::api_bridge`), testable
//! without a socket with `tower::ServiceExt::oneshot`.

pub mod account;
pub mod addresses;
pub mod admin;
pub mod app_users;
pub mod appauth;
pub mod auth;
pub mod csrf;
pub mod discovery;
pub mod links;
pub mod mfa;
pub mod openapi;
pub mod otp;
pub mod verify;

pub use crate::web::{is_form, is_json, PeerAddr, ReqInfo, Snapshot};

use crate::authz::client_ip::effective_ip;
use crate::catalogue::Code;
use crate::state::Shared;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use std::net::IpAddr;
use std::sync::Arc;

/// An error in the shape of docs/http-api.md §1: `{"error", "message"}`, with the status the
/// catalogue gives its code.
#[derive(Debug)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into(), headers: vec![] }
    }

    /// `code` with the catalogue's default message.
    pub fn of(code: Code) -> ApiError {
        ApiError::new(code, code.message())
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn retry_after(mut self, secs: u64) -> ApiError {
        self.headers.push((header::RETRY_AFTER, HeaderValue::from(secs)));
        self
    }

    pub fn www_authenticate(mut self) -> ApiError {
        self.headers.push((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(self.code.body(&self.message));
        let mut resp = (self.status(), [(header::CACHE_CONTROL, "no-store")], body).into_response();
        for (k, v) in self.headers {
            resp.headers_mut().append(k, v);
        }
        resp
    }
}

/// A JSON body whose rejection is answered in the API's error shape.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(Code::UnsupportedMediaType, "Send the body as application/json."));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::new(Code::MalformedBody, "The body could not be read."))?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses a JSON body into `T`: 400 when it is not JSON, 422 when a field is wrong or the body
/// is not an object (every body of the API is one; serde would take a struct's fields from an
/// array, `[null, null]`, too).
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    {
        match serde_json::from_slice::<T>(bytes) {
            Ok(_) if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') => {
                Err(ApiError::new(Code::InvalidField, "The body is a JSON object: `{\"field\": value, ...}`."))
            }
            Ok(v) => Ok(v),
            Err(e) if e.is_data() => Err(ApiError::new(Code::InvalidField, format!("{e}"))),
            Err(e) => Err(ApiError::new(Code::MalformedJson, format!("The body is not valid JSON: {e}"))),
        }
    }
}

/// The JSON API's routes (the /auth router adds the portal's, then [`serve`] its common ground).
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/auth/.well-known/jwks.json", get(discovery::jwks))
        .route("/auth/.well-known/openid-configuration", get(discovery::openid_configuration))
        .route("/auth/openapi.json", get(openapi::openapi_json))
        .route("/auth/login", post(auth::login))
        .route("/auth/session", get(auth::session))
        .route("/auth/token/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/mfa/verify", post(auth::mfa_verify))
        .route("/auth/mfa/otp", post(otp::mfa_send))
        .route("/auth/otp/request", post(otp::request))
        .route("/auth/otp/verify", post(otp::verify))
        .route("/auth/register", post(otp::register))
        .route("/auth/register/confirm", post(otp::register_confirm))
        .route("/auth/password/request-reset", post(links::request_reset))
        .route("/auth/password/reset", post(links::reset))
        .route("/auth/magic-link", post(links::request_link))
        .route("/auth/magic-link/{token}", post(links::confirm_link))
        .route("/auth/providers", get(verify::providers))
        .route("/auth/users/check", post(app_users::check))
        .route("/auth/users/sync", get(app_users::sync))
        .route("/auth/verifications", post(verify::create))
        .route("/auth/verifications/{id}", get(verify::status))
        .route("/auth/verifications/{id}/check", post(verify::check))
        .route("/auth/v/{app}/{id}", get(verify::page))
        .route("/auth/v/{app}/{id}/address", post(verify::page_address))
        .route("/auth/v/{app}/{id}/check", post(verify::page_check))
        .route("/auth/static/verify.js", get(verify::verify_js))
        .route("/auth/static/verify-page.js", get(verify::page_js))
        .route("/auth/mfa/totp/setup", post(mfa::setup))
        .route("/auth/mfa/totp/confirm", post(mfa::confirm))
        .route("/auth/mfa/totp/remove", post(mfa::remove))
        .route("/auth/mfa/recovery-codes/regenerate", post(mfa::regenerate))
        .route("/auth/mfa/code-factor", post(account::code_factor))
        .route("/auth/account", get(account::overview))
        .route("/auth/account/password", post(account::password))
        .route("/auth/account/sessions", get(account::sessions).delete(account::end_other_sessions))
        .route("/auth/account/sessions/{id}", delete(account::end_session))
        .route("/auth/account/tokens", get(account::tokens).post(account::create_token))
        .route("/auth/account/tokens/{id}", delete(account::revoke_token))
        .route("/auth/account/email", post(addresses::change_email))
        .route("/auth/account/mobile", post(addresses::change_mobile))
        .route("/auth/email/verify", post(addresses::verify_email))
        .route("/auth/email/verify/{token}", get(addresses::confirm_email))
        .route("/auth/mobile/verify", post(addresses::verify_mobile))
        .route("/auth/mobile/verify/confirm", post(addresses::confirm_mobile))
        .merge(admin::routes())
}

/// What every /auth request passes, whoever answers it: one configuration snapshot, the per-IP
/// limit, the cross-site guard; and the JSON 404 of an unknown path.
pub fn serve(routes: Router<Arc<Shared>>, shared: Arc<Shared>) -> Router {
    routes
        .fallback(not_found)
        // After every route (the portal's too): a known path asked with another method.
        .method_not_allowed_fallback(method_not_allowed)
        // Every state-changing request with Gatehouse's cookies: same site and JSON, or a
        // portal form with its CSRF token (see `csrf`).
        .layer(axum::middleware::from_fn_with_state(shared.clone(), csrf::guard))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), per_ip_limit))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), crate::web::snapshot))
        .with_state(shared)
}

/// `rate_limits.auth`: every `/auth` API request, known path or not, passes a per-IP limit
/// (an IPv6 client keyed by its network) before any handler runs.
async fn per_ip_limit(State(s): State<Arc<Shared>>, req: Request, next: axum::middleware::Next) -> Response {
    {
        let Snapshot(rt) = Snapshot::of(req.extensions(), &s);
        if let Some(l) = &rt.auth_limit {
            let peer = req.extensions().get::<PeerAddr>().map(|p| p.0).unwrap_or(IpAddr::from([127, 0, 0, 1]));
            let xff = req.headers().get_all("x-forwarded-for");
            let trusted = &rt.config.server.trusted_proxies;
            let Ok(ip) = effective_ip(peer, xff.iter().map(|v| v.as_bytes()), trusted) else {
                return ApiError::new(Code::BadForwardedFor, "X-Forwarded-For is malformed.").into_response();
            };
            if let Err(wait) = l.check_ip(ip, rt.config.server.ipv6_prefix) {
                crate::metrics::metrics().rate_limited("auth");
                return ApiError::new(Code::RateLimited, "Too many requests from this address; retry later.")
                    .retry_after(crate::ratelimit::retry_after_secs(wait))
                    .into_response();
            }
        }
    }
    next.run(req).await
}

async fn not_found() -> ApiError {
    ApiError::new(Code::NotFound, "There is no such /auth endpoint.")
}

/// 405 in the error shape (axum adds `Allow`).
async fn method_not_allowed() -> ApiError {
    ApiError::of(Code::MethodNotAllowed)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::User;
    use axum::body::Body as HttpBody;
    use std::time::Duration;
    use tower::ServiceExt;

    /// A whole server state (store, sessions, audit writer) on a temporary directory.
    pub(crate) fn shared(dir: &std::path::Path) -> Arc<Shared> {
        std::fs::create_dir_all(dir.join("policies")).unwrap();
        std::fs::write(dir.join("config.yaml"), "storage: {path: g.redb}\ntokens: {signing_key: k.pem}\n").unwrap();
        let s = Shared::load(&dir.join("config.yaml")).unwrap();
        // The start's own writes (the schema, the outbox worker's first pass) are done before a
        // test counts.
        for _ in 0..1000 {
            if s.services.store.write_transactions() >= 2 {
                return s;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("the store's start-up writes did not happen");
    }

    /// The JSON API with what every /auth request passes (no portal).
    fn router(s: Arc<Shared>) -> Router {
        serve(routes(), s)
    }

    /// A request to `auth.test` with an optional cookie and JSON body (every router test's).
    pub(crate) fn request(method: &str, uri: &str, cookie: &str, json: Option<&str>) -> axum::http::Request<HttpBody> {
        let mut req = axum::http::Request::builder().method(method).uri(uri).header("host", "auth.test");
        if !cookie.is_empty() {
            req = req.header("cookie", cookie);
        }
        let body = match json {
            Some(j) => {
                req = req.header("content-type", "application/json");
                HttpBody::from(j.to_string())
            }
            None => HttpBody::empty(),
        };
        req.body(body).unwrap()
    }

    async fn call(s: &Arc<Shared>, method: &str, uri: &str, cookie: &str, json: Option<&str>) -> StatusCode {
        router(s.clone()).oneshot(request(method, uri, cookie, json)).await.unwrap().status()
    }

    /// Waits (bounded) until the audit writer has committed `n` events.
    async fn audited(s: &Shared, n: usize) {
        for _ in 0..400 {
            if s.services.store.audit(1000).unwrap().len() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("{n} audit events were not written");
    }

    pub(crate) async fn add_user(s: &Shared, name: &str, password: &str) -> User {
        let hash = s.services.hasher.hash(password.to_string()).await.unwrap().unwrap();
        let u = User {
            id: format!("id-{name}"),
            tenant: "default".into(),
            username: Some(name.into()),
            email: Some(format!("{name}@example.com")),
            status: crate::domain::UserStatus::Active,
            password_hash: Some(hash),
            ..Default::default()
        };
        s.services.store.put_user(&u).unwrap();
        u
    }

    /// A request is served by the configuration snapshot it started with: a reload that lands
    /// while it runs (here: the session cookie renamed) does not change its mind half-way.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_keeps_the_snapshot_it_started_with() {
        let dir = tempfile::tempdir().unwrap();
        let s = shared(dir.path());
        let user = add_user(&s, "alice", "violet-tractor-42").await;
        let (secret, _, _) = s.services.sessions.create(&user, vec![crate::domain::Amr::Pwd], vec![], 600).unwrap();
        let started = Snapshot(s.runtime.load_full());
        let cfg = "storage: {path: g.redb}\ntokens: {signing_key: k.pem}\nsession: {cookie_name: renamed}\n";
        std::fs::write(dir.path().join("config.yaml"), cfg).unwrap();
        s.reload().unwrap();
        let session = || Router::new().route("/auth/session", get(auth::session)).with_state(s.clone());
        let req = |snapshot: Option<Snapshot>| {
            let mut r = axum::http::Request::get("/auth/session")
                .header("host", "auth.test")
                .header("cookie", format!("gatehouse_session={secret}"));
            if let Some(snap) = snapshot {
                r = r.extension(snap);
            }
            r.body(HttpBody::empty()).unwrap()
        };
        let status = session().oneshot(req(Some(started))).await.unwrap().status();
        assert_eq!(status, StatusCode::OK, "the request's own snapshot names the cookie");
        let status = session().oneshot(req(None)).await.unwrap().status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a new request reads the reloaded configuration");
    }

    /// Anonymous callers cannot fill the never-dropped security queue: an invalid app key and a
    /// code request for nobody are request noise, within the per-minute request budget.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn anonymous_audit_noise_stays_within_the_request_budget() {
        let dir = tempfile::tempdir().unwrap();
        let s = shared(dir.path());
        let o = crate::audit::Origin::default();
        for _ in 0..20 {
            // Spend this minute's request budget, then cause the events within the same minute.
            let minute = crate::clock::now_secs() / 60;
            for _ in 0..=crate::audit::REQUEST_EVENTS_PER_MINUTE {
                let e = crate::audit::Audit::event(
                    crate::audit::EventKind::RequestDenied,
                    &o,
                    None,
                    serde_json::Value::Null,
                );
                s.services.audit.record_request_at(e, minute * 60);
            }
            let bad_key = axum::http::Request::get("/auth/providers")
                .header("host", "auth.test")
                .header("x-auth-service-key", "gh_not-a-key")
                .body(HttpBody::empty())
                .unwrap();
            assert_eq!(router(s.clone()).oneshot(bad_key).await.unwrap().status(), StatusCode::UNAUTHORIZED);
            let nobody = r#"{"identifier": "nobody@example.com"}"#;
            assert_eq!(call(&s, "POST", "/auth/otp/request", "", Some(nobody)).await, StatusCode::ACCEPTED);
            if crate::clock::now_secs() / 60 == minute {
                break;
            }
        }
        // Let the writers drain what they were given, then look.
        audited(&s, crate::audit::REQUEST_EVENTS_PER_MINUTE as usize).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let events = s.services.store.audit(100_000).unwrap();
        for name in ["app_key_invalid", "otp_not_sent"] {
            assert!(!events.iter().any(|e| e.event == name), "{name} went past the request budget");
        }
    }

    /// A wrong password costs the same write transactions whether or not the account exists.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wrong_password_costs_the_same_writes_for_known_and_unknown_accounts() {
        let dir = tempfile::tempdir().unwrap();
        let s = shared(dir.path());
        let store = s.services.store.clone();
        add_user(&s, "alice", "violet-tractor-42").await;
        let mut costs = vec![];
        for (i, who) in ["alice", "nobody-at-all", "alice", "someone-else"].iter().enumerate() {
            let before = store.write_transactions();
            let body = format!(r#"{{"identifier": "{who}", "password": "wrong-password-{i}"}}"#);
            assert_eq!(call(&s, "POST", "/auth/login", "", Some(&body)).await, StatusCode::UNAUTHORIZED);
            audited(&s, i + 1).await;
            costs.push(store.write_transactions() - before);
        }
        assert_eq!(costs, vec![costs[0]; 4], "known, unknown, known, unknown");
    }

    /// Parallel guesses at one account cannot all pass the ban check before the first failure
    /// is counted: with a budget of 5, twelve wrong passwords sent at once from twelve
    /// addresses get at most 5 checked (the rest are refused unchecked: 429 or banned).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parallel_guesses_cannot_overrun_the_accounts_budget() {
        let dir = tempfile::tempdir().unwrap();
        let s = shared(dir.path());
        let user = add_user(&s, "alice", "violet-tractor-42").await;
        let guesses: Vec<_> = (0..12u8)
            .map(|i| {
                let (rt, svc) = (s.runtime.load_full(), s.services.clone());
                let ip = IpAddr::from([198, 51, 100, i]);
                let origin = crate::audit::Origin { ip: Some(ip.to_string()), ..Default::default() };
                tokio::spawn(crate::flows::signin::password_login(
                    rt,
                    svc,
                    "default".into(),
                    "alice".into(),
                    format!("wrong-password-{i}"),
                    ip,
                    origin,
                    false,
                    crate::clock::now_secs(),
                ))
            })
            .collect();
        for g in guesses {
            assert!(g.await.unwrap().is_err());
        }
        let key = crate::flows::regulation::user_key(&user.tenant, &user.id);
        let counted = s.services.store.failure_streak(&key).unwrap();
        assert!((1..=5).contains(&counted), "{counted} guesses were checked against a budget of 5");
    }

    /// The hosted verification page's check (anonymous, given the id) writes nothing when the
    /// code cannot change the record: unknown, expired, closed, locked or no code sent yet.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_verification_check_that_changes_nothing_writes_nothing() {
        use crate::flows::error::FlowError;
        use crate::flows::verification::{check, Checked};
        let dir = tempfile::tempdir().unwrap();
        let s = shared(dir.path());
        let (rt, svc) = (s.runtime.load_full(), s.services.clone());
        let now = crate::clock::now_secs();
        let v = |id: &str| crate::store::Verification {
            id: id.into(),
            app: "shop".into(),
            tenant: "default".into(),
            channel: "email".into(),
            hash: "ab".repeat(32),
            expires_at: now + 600,
            max_attempts: 3,
            ..Default::default()
        };
        let put = |r: crate::store::Verification| svc.store.put_verification(&r, None).unwrap();
        put(crate::store::Verification { closed: true, hash: String::new(), ..v("closed") });
        put(crate::store::Verification { attempts: 3, ..v("locked") });
        put(crate::store::Verification { hash: String::new(), ..v("no-code") });
        put(crate::store::Verification { expires_at: now - 1, ..v("expired") });
        put(v("open"));
        let before = svc.store.write_transactions();
        assert!(matches!(check(&rt, &svc, "shop", "closed", "123456", now, false), Ok(Checked::Closed(_))));
        assert!(matches!(check(&rt, &svc, "shop", "locked", "123456", now, false), Ok(Checked::Locked)));
        assert!(matches!(check(&rt, &svc, "shop", "no-code", "123456", now, false), Err(FlowError::Invalid(_))));
        assert!(matches!(check(&rt, &svc, "shop", "expired", "123456", now, false), Err(FlowError::NotFound)));
        assert!(matches!(check(&rt, &svc, "shop", "nobody", "123456", now, false), Err(FlowError::NotFound)));
        assert_eq!(svc.store.write_transactions(), before, "nothing changed, nothing written");
        assert!(matches!(
            check(&rt, &svc, "shop", "open", "123456", now, false),
            Ok(Checked::Wrong { attempts_left: 2 })
        ));
        assert_eq!(svc.store.write_transactions(), before + 1, "a guess at an open one is counted");
    }

    /// Codes sent to one identifier are limited by default (`rate_limits.otp_send`): nobody can
    /// have a stream of codes sent to someone's address (mail, paid SMS), known or not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn codes_to_one_identifier_are_limited_by_default() {
        let dir = tempfile::tempdir().unwrap();
        let s = shared(dir.path());
        add_user(&s, "alice", "violet-tractor-42").await;
        for who in ["alice@example.com", "nobody@example.com"] {
            let body = format!(r#"{{"identifier": "{who}"}}"#);
            for i in 0..5 {
                let status = call(&s, "POST", "/auth/otp/request", "", Some(&body)).await;
                assert_eq!(status, StatusCode::ACCEPTED, "{who}: request {i}");
            }
            assert_eq!(call(&s, "POST", "/auth/otp/request", "", Some(&body)).await, StatusCode::TOO_MANY_REQUESTS);
        }
        let other = r#"{"identifier": "carol@example.com"}"#;
        assert_eq!(call(&s, "POST", "/auth/otp/request", "", Some(other)).await, StatusCode::ACCEPTED);
        let off =
            crate::config::Config::from_str(std::path::Path::new("t.yaml"), "rate_limits: {otp_send: null}\n").unwrap();
        assert!(off.rate_limits.otp_send.is_none(), "null turns it off");
    }

    /// A wrong code costs the same writes for a known and an unknown account, with or without
    /// a code requested first (the unknown one gets a decoy); naming an identifier with no code
    /// costs only the failure record and its audit event (no write transaction of its own).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wrong_code_costs_the_same_writes_for_known_and_unknown_accounts() {
        async fn wrong(s: &Arc<Shared>, who: &str, events: usize) -> u64 {
            let before = s.services.store.write_transactions();
            let body = format!(r#"{{"identifier": "{who}", "otp": "000000x"}}"#);
            assert_eq!(call(s, "POST", "/auth/otp/verify", "", Some(&body)).await, StatusCode::UNAUTHORIZED);
            audited(s, events).await;
            s.services.store.write_transactions() - before
        }
        let dir = tempfile::tempdir().unwrap();
        let s = shared(dir.path());
        add_user(&s, "alice", "violet-tractor-42").await;
        let no_code = [wrong(&s, "alice", 1).await, wrong(&s, "nobody-at-all", 2).await];
        assert_eq!(no_code[0], no_code[1], "known, unknown without a code");
        for who in ["alice@example.com", "nobody@example.com"] {
            let body = format!(r#"{{"identifier": "{who}"}}"#);
            assert_eq!(call(&s, "POST", "/auth/otp/request", "", Some(&body)).await, StatusCode::ACCEPTED);
        }
        audited(&s, 4).await;
        let with_code = [wrong(&s, "alice@example.com", 5).await, wrong(&s, "nobody@example.com", 6).await];
        assert_eq!(with_code[0], with_code[1], "known, unknown with a code");
        assert_eq!(no_code[0] + 1, with_code[0], "no code: no write of its own (a guess at a code writes one)");
    }
}
