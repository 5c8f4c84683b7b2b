//! What the JSON API (`api`) and the portal (`portal`) both stand on, below both: who is calling
//! (`ReqInfo`, the TCP peer), the request's configuration snapshot, the body's media type, the
//! signed-in caller, the session cookie, the MFA step's check, and the page shell.

use crate::audit::Origin;
use crate::authz::client_ip::effective_ip;
use crate::catalogue::Code;
use crate::flows::error::FlowError;
use crate::flows::issue::SignedIn;
use crate::flows::{failures, services, signin};
use crate::identity::{self, Caller};
use crate::net::normalize_host;
use crate::runtime::Runtime;
use crate::state::Shared;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::net::IpAddr;
use std::sync::Arc;

/// Why the caller could not be worked out: answered in the API's error shape
/// (docs/http-api.md §1).
#[derive(Debug)]
pub struct Refused {
    pub code: Code,
    pub message: &'static str,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let body = Json(self.code.body(self.message));
        (self.code.status(), [(header::CACHE_CONTROL, "no-store")], body).into_response()
    }
}

/// The TCP peer, for handlers (they resolve the effective IP themselves); set by whoever calls
/// the router (the gateway's bridge, or a test).
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub IpAddr);

/// The configuration in effect for this request: loaded once, by the router's outermost layer,
/// and read by every layer, extractor and handler after it (a reload during the request does not
/// change its mind half-way).
#[derive(Clone)]
pub struct Snapshot(pub Arc<Runtime>);

impl Snapshot {
    /// The request's snapshot (a fresh one when the layer did not run, as in a handler's test).
    pub fn of(extensions: &axum::http::Extensions, s: &Shared) -> Snapshot {
        extensions.get::<Snapshot>().cloned().unwrap_or_else(|| Snapshot(s.runtime.load_full()))
    }
}

impl FromRequestParts<Arc<Shared>> for Snapshot {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, s: &Arc<Shared>) -> Result<Self, Self::Rejection> {
        Ok(Snapshot::of(&parts.extensions, s))
    }
}

/// What a handler's own extractor reads first, in the order the separate extractors read it: the
/// request's snapshot, its [`ReqInfo`] (refused as [`Refused`] says) and its headers; the request
/// comes back for its body.
pub async fn head_of(req: Request, s: &Arc<Shared>) -> Result<(Arc<Runtime>, ReqInfo, HeaderMap, Request), Response> {
    let (mut parts, body) = req.into_parts();
    let Snapshot(rt) = Snapshot::of(&parts.extensions, s);
    let info = ReqInfo::from_request_parts(&mut parts, s).await.map_err(IntoResponse::into_response)?;
    let headers = parts.headers.clone();
    Ok((rt, info, headers, Request::from_parts(parts, body)))
}

/// The layer that takes the request's [`Snapshot`].
pub async fn snapshot(State(s): State<Arc<Shared>>, mut req: Request, next: axum::middleware::Next) -> Response {
    let snap = Snapshot(s.runtime.load_full());
    req.extensions_mut().insert(snap);
    next.run(req).await
}

fn media_type(headers: &axum::http::HeaderMap) -> &str {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    ct.split(';').next().unwrap_or("").trim()
}

/// A form post (the portal's pages).
pub fn is_form(headers: &axum::http::HeaderMap) -> bool {
    media_type(headers).eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

/// A JSON body.
pub fn is_json(headers: &axum::http::HeaderMap) -> bool {
    media_type(headers).eq_ignore_ascii_case("application/json")
}

/// Who is calling, as the handlers need it: effective IP (through trusted proxies), peer,
/// forwarded chain, host and tenant. Worked out once per request (kept in its extensions for
/// the other extractors that need it, such as the app-key check).
#[derive(Clone)]
pub struct ReqInfo {
    pub ip: IpAddr,
    pub peer: IpAddr,
    pub forwarded: Option<String>,
    pub host: String,
    pub tenant: String,
    /// `User-Agent`, bounded (a session started by this request keeps it).
    pub user_agent: Option<String>,
}

impl ReqInfo {
    pub fn origin(&self) -> Origin {
        Origin {
            tenant: Some(self.tenant.clone()),
            ip: Some(self.ip.to_string()),
            forwarded: self.forwarded.clone(),
            remote: Some(self.peer.to_string()),
            user_agent: self.user_agent.clone(),
        }
    }

    /// [`Self::origin`] of a call acting in `tenant` (an app key's tenant, which may differ from
    /// the Host's): its events belong to the tenant the call acts in.
    pub fn origin_in(&self, tenant: &str) -> Origin {
        Origin { tenant: Some(tenant.to_string()), ..self.origin() }
    }
}

impl FromRequestParts<Arc<Shared>> for ReqInfo {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, s: &Arc<Shared>) -> Result<Self, Refused> {
        if let Some(done) = parts.extensions.get::<ReqInfo>() {
            return Ok(done.clone());
        }
        let Snapshot(rt) = Snapshot::of(&parts.extensions, s);
        let peer = parts.extensions.get::<PeerAddr>().map(|p| p.0).unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let xff = parts.headers.get_all("x-forwarded-for");
        let ip = effective_ip(peer, xff.iter().map(|v| v.as_bytes()), &rt.config.server.trusted_proxies)
            .map_err(|_| Refused { code: Code::BadForwardedFor, message: "X-Forwarded-For is malformed." })?;
        let forwarded = {
            let v: Vec<&str> = xff.iter().filter_map(|v| v.to_str().ok()).collect();
            (!v.is_empty()).then(|| v.join(", "))
        };
        let raw_host = parts.headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
        let host = normalize_host(raw_host).map(|h| h.into_owned()).unwrap_or_default();
        let tenant = rt
            .config
            .tenant_for_host(&host)
            .map(|t| t.id.clone())
            .ok_or(Refused { code: Code::UnknownTenant, message: "No tenant serves this host." })?;
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .map(|v| crate::audit::clip(&String::from_utf8_lossy(v.as_bytes()), crate::sessions::MAX_USER_AGENT));
        let info = ReqInfo { ip, peer, forwarded, host, tenant, user_agent };
        parts.extensions.insert(info.clone());
        Ok(info)
    }
}

/// `Set-Cookie` values for the session cookie, one per configured domain (host-only when none).
pub fn session_cookies(rt: &Runtime, value: &str, max_age: u64) -> Vec<HeaderValue> {
    let c = &rt.config.session;
    let secure = if c.secure { "; Secure" } else { "" };
    let base = format!("{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}", c.cookie_name);
    let list: Vec<String> = if c.domains.is_empty() {
        vec![base]
    } else {
        c.domains.iter().map(|d| format!("{base}; Domain={d}")).collect()
    };
    list.into_iter().filter_map(|v| HeaderValue::from_str(&v).ok()).collect()
}

/// Runs the second-factor check off the async workers (it writes the store).
pub async fn mfa_attempt(
    s: &Arc<Shared>,
    rt: Arc<Runtime>,
    info: &ReqInfo,
    token: String,
    method: String,
    code: String,
) -> Result<(SignedIn, bool), FlowError> {
    failures::login_limited(&rt, info.ip)?;
    let services = s.services.clone();
    let (ip, origin) = (info.ip, info.origin());
    let now = crate::clock::now_secs();
    services::blocking(move || signin::verify_mfa(&rt, &services, &token, &method, &code, ip, &origin, now)).await
}

/// The caller's session from a bearer token or the session cookie. A token minted for one app
/// (`pass_access_token`) is no identity here: `/auth` belongs to no app.
pub fn caller(rt: &Runtime, headers: &HeaderMap, tenant: &str) -> Caller {
    let bearer = headers.get(header::AUTHORIZATION).and_then(|v| identity::bearer(v.as_bytes()));
    let cookie = identity::cookie_in(
        headers.get_all(header::COOKIE).iter().map(|v| v.as_bytes()),
        &rt.config.session.cookie_name,
    );
    rt.identity.resolve(bearer, cookie, tenant, None)
}

/// The page shell and HTML escaping (the portal's pages and the hosted verification page).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub fn page(title: &str, body: &str) -> String {
    page_with(&Look::default(), title, body)
}

/// How a page looks beyond its title and body: its language, the product name in the title,
/// extra CSS (already safe: built from validated values) and a header above the body (HTML).
pub struct Look<'a> {
    pub lang: &'a str,
    pub product: &'a str,
    pub style: &'a str,
    pub header: &'a str,
}

impl Default for Look<'_> {
    fn default() -> Self {
        Look { lang: "en", product: "Gatehouse", style: "", header: "" }
    }
}

/// The page shell in a [`Look`].
pub fn page_with(look: &Look, title: &str, body: &str) -> String {
    let (lang, product, style, header) = (escape(look.lang), escape(look.product), look.style, look.header);
    format!(
        r#"<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {product}</title>
<style>
  body {{ font: 16px/1.5 system-ui, sans-serif; background: #f4f5f7; color: #1d2330; margin: 0; }}
  main {{ max-width: 22rem; margin: 10vh auto; background: #fff; padding: 2rem; border-radius: 8px; box-shadow: 0 1px 4px #0002; }}
  h1 {{ font-size: 1.4rem; margin: 0 0 1rem; }}
  label {{ display: block; margin: 1rem 0 .25rem; font-weight: 600; }}
  input {{ width: 100%; box-sizing: border-box; padding: .6rem; font-size: 1rem; border: 1px solid #8a94a6; border-radius: 4px; }}
  input:focus, button:focus {{ outline: 3px solid #3b82f6; outline-offset: 1px; }}
  button {{ margin-top: 1.5rem; width: 100%; padding: .7rem; font-size: 1rem; border: 0; border-radius: 4px; background: #1d4ed8; color: #fff; cursor: pointer; }}
  .error {{ background: #fde8e8; color: #8a1c1c; padding: .6rem; border-radius: 4px; }}
{style}</style>
</head>
<body>
<main>
{header}{body}
</main>
</body>
</html>
"#
    )
}
