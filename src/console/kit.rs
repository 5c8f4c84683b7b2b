//! What the Authentication, Webhooks, Audit and Platform tabs need from the console: the
//! signed-in administrator ([`Op`], the admin API's [`Admin`] read from the admin cookie), the
//! CSRF field of every form and its check, the form body, the page around a tab's body.

use crate::api::admin::Admin;
use crate::state::Shared;
use crate::web::{escape, ReqInfo, Snapshot};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Where the console lives.
pub const BASE: &str = "/auth/admin";

/// The administrator behind a console request: the admin API's [`Admin`], from the admin
/// cookie (the CSRF token is checked per form, from the form's `csrf` field).
pub struct Op(pub Admin);

impl FromRequestParts<Arc<Shared>> for Op {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &Arc<Shared>) -> Result<Self, Response> {
        let Ok(Snapshot(rt)) = Snapshot::from_request_parts(parts, s).await;
        let info = ReqInfo::from_request_parts(parts, s).await.map_err(IntoResponse::into_response)?;
        // The form's token is checked by the handler (`check_csrf`): resolve as a safe method.
        let Ok((id, csrf)) = crate::api::admin::session::admin_session(&rt, &Method::GET, &parts.headers, &info) else {
            return Err(sign_in());
        };
        let store = s.services.store.clone();
        let uid = id.user_id.clone();
        let user = crate::flows::services::blocking(move || Ok(store.user(&uid)?)).await.ok().flatten();
        let Some(user) = user.filter(|u| u.admin && u.is_active() && u.tenant == id.tenant) else {
            return Err(sign_in());
        };
        if rt.config.admin.require_mfa && id.level != crate::policy::AuthLevel::TwoFactor {
            return Err(sign_in());
        }
        Ok(Op(Admin { s: s.clone(), rt, info, id, user, csrf }))
    }
}

/// To the console's sign-in page.
fn sign_in() -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, format!("{BASE}/"))]).into_response()
}

impl Op {
    /// The hidden CSRF field every form carries.
    pub fn csrf_field(&self) -> String {
        format!(r#"<input type="hidden" name="csrf" value="{}">"#, escape(self.0.csrf.as_deref().unwrap_or("")))
    }

    /// Whether the form's `csrf` field is this session's token (compared in constant time).
    pub fn check_csrf(&self, form: &Form) -> Result<(), Response> {
        let sent = form.get("csrf");
        let ok = match self.0.csrf.as_deref() {
            Some(expected) => bool::from(sent.as_bytes().ct_eq(expected.as_bytes())),
            None => false,
        };
        if ok {
            return Ok(());
        }
        let body = r#"<p class="error" role="alert">This form expired or did not come from this console: reload the page and try again.</p>"#;
        let mut r = self.page("", "Form refused", body);
        *r.status_mut() = StatusCode::FORBIDDEN;
        Err(r)
    }

    /// Whether the administrator administers the platform (tenant `default`): the providers,
    /// the configuration and the reload act on the whole server.
    pub fn platform(&self) -> bool {
        self.0.user.tenant == crate::api::admin::platform::PLATFORM_TENANT
    }

    /// A page of the console: `tab` selected, `title`, `body` (HTML).
    pub fn page(&self, tab: &str, title: &str, body: &str) -> Response {
        let tabs: String = [
            ("authentication", "Authentication"),
            ("webhooks", "Webhooks"),
            ("audit", "Audit"),
            ("platform", "Platform"),
        ]
        .iter()
        .map(|(t, label)| {
            let current = if *t == tab { r#" aria-current="page""# } else { "" };
            format!(r#"<li><a href="{BASE}/{t}"{current}>{label}</a></li>"#)
        })
        .collect();
        let html = format!(
            r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Gatehouse console</title><link rel="stylesheet" href="{BASE}/static/ops.css"></head>
<body><header><nav aria-label="Console"><ul>{tabs}</ul></nav><p>{user}</p></header>
<main><h1>{title}</h1>
{body}
</main></body></html>"#,
            title = escape(title),
            user = escape(&self.0.user.display_user()),
        );
        page_response(html)
    }
}

/// An HTML answer with the console's headers: no caching, no framing, scripts from here only.
pub fn page_response(html: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        html,
    )
        .into_response()
}

/// An `application/x-www-form-urlencoded` body: the last value of each name (and every value
/// of repeated names through [`Form::all`]).
pub struct Form {
    pairs: Vec<(String, String)>,
    last: HashMap<String, String>,
}

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let last = pairs.iter().cloned().collect();
        Form { pairs, last }
    }

    pub fn get(&self, name: &str) -> &str {
        self.last.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }

    pub fn raw(&self) -> Vec<u8> {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.extend_pairs(self.pairs.iter());
        s.finish().into_bytes()
    }
}

/// `303 See Other` to `to` (after a change: a reload does not post again).
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// A flow's refusal as a message for the page (an internal failure is logged, not shown).
pub fn message(e: &crate::flows::error::FlowError) -> String {
    use crate::flows::error::FlowError;
    e.log_internal();
    match e {
        FlowError::Invalid(m) => m.clone(),
        FlowError::NotFound => "Not found: it may have been deleted meanwhile.".into(),
        other => other.code().message().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_keep_every_value_of_repeated_names() {
        let f = Form::parse(b"events=a&events=b&csrf=t&url=http%3A%2F%2Fx");
        assert_eq!(f.all("events"), ["a", "b"]);
        assert_eq!((f.get("csrf"), f.get("url"), f.get("none")), ("t", "http://x", ""));
    }
}
