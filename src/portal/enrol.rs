//! The portal's enrolment page for signed-in users (`/auth/mfa/totp`): set up an authenticator
//! app (QR code and key), confirm it with a first code, see the recovery codes once. Same CSRF
//! and origin checks as every portal form; GET never changes state.

use super::{error_html, escape, existing_csrf, form_expired, html, page, Form, Post};
use crate::catalogue::Code;
use crate::flows::enrol::Refused;
use crate::identity::Caller;
use crate::state::Shared;
use crate::web::{caller, ReqInfo, Snapshot};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The portal's checks for a signed-in form post: CSRF token and same origin; the caller.
/// (The refusal is a ready page; it is built once per refused post.)
#[allow(clippy::result_large_err)]
fn form_caller(p: &Post) -> Result<(Arc<crate::identity::Identity>, Form), Response> {
    let Some(form) = p.form() else {
        return Err(form_expired(("Authenticator app", "/auth/mfa/totp", "Start again")));
    };
    match caller(&p.rt, &p.headers, &p.info.tenant) {
        Caller::Known(id) => Ok((id, form)),
        _ => Err(html(
            StatusCode::UNAUTHORIZED,
            page("Sign in", "<h1>Sign in</h1>\n<p><a href=\"/auth/login\">Sign in</a> first.</p>"),
            None,
        )),
    }
}

/// `GET /auth/mfa/totp`: the enrolment page of a signed-in user (state changes only by POST).
pub async fn enrol_page(
    State(s): State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    headers: HeaderMap,
) -> Response {
    let Caller::Known(id) = caller(&rt, &headers, &info.tenant) else {
        let mut resp = StatusCode::SEE_OTHER.into_response();
        resp.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/auth/login"));
        return resp;
    };
    let enabled =
        s.services.store.user(&id.user_id).ok().flatten().is_some_and(|u| u.totp.is_some_and(|t| t.confirmed));
    let csrf = existing_csrf(&headers).map(str::to_string).unwrap_or_else(crate::sessions::new_secret);
    let body = if enabled {
        "<h1>Authenticator app</h1>\n<p>An authenticator app protects your account.</p>".to_string()
    } else {
        format!(
            r#"<h1>Authenticator app</h1>
<p>Signed in as <strong>{}</strong>. Add a second factor: an app such as FreeOTP or Aegis shows a new code every 30 seconds.</p>
<form method="post" action="/auth/mfa/totp/setup">
  <input type="hidden" name="csrf" value="{}">
  <button type="submit">Set up an authenticator app</button>
</form>"#,
            escape(&id.user),
            escape(&csrf)
        )
    };
    html(StatusCode::OK, page("Authenticator app", &body), Some(super::Csrf::new(&rt, &csrf)))
}

fn confirm_form(csrf: &str, secret: &str, qr_svg: &str, error: Option<&str>) -> String {
    let error = error_html(error);
    format!(
        r#"<h1>Scan this code</h1>
{error}
<div role="img" aria-label="QR code of the authenticator secret">{qr_svg}</div>
<p>Or type the key: <code>{secret}</code></p>
<form method="post" action="/auth/mfa/totp/confirm">
  <input type="hidden" name="csrf" value="{csrf}">
  <label for="code">Code shown by the app</label>
  <input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus>
  <button type="submit">Confirm</button>
</form>"#,
        secret = escape(secret),
        csrf = escape(csrf),
    )
}

/// What the enrolment page says when a step is refused: status and sentence (as the JSON API
/// words them; a flow's own failure through [`super::refusal`]).
pub(crate) struct Refusal {
    pub status: StatusCode,
    pub message: &'static str,
}

pub(crate) fn refused(r: Refused) -> Refusal {
    let (code, message) = match r {
        Refused::Flow(e) => {
            let (status, message) = super::refusal(super::Step::Enrol, &e);
            return Refusal { status, message };
        }
        Refused::AlreadyEnabled => (Code::AlreadyEnabled, Code::AlreadyEnabled.message()),
        Refused::NotEnabled => (Code::NotEnabled, Code::NotEnabled.message()),
        Refused::NoPendingSetup => (Code::NoPendingSetup, Code::NoPendingSetup.message()),
        Refused::Code(_) => (Code::CodeMismatch, Code::CodeMismatch.message()),
        Refused::Banned(_) => {
            (Code::TooManyFailures, "Too many failed attempts for this account or from this address; retry later.")
        }
        Refused::Undescribable => {
            (Code::Internal, "The authenticator could not be described: check that totp.issuer holds no `:`.")
        }
        Refused::NeedsTwoFactor => (
            Code::MfaRequired,
            "This needs a session with both factors: complete the MFA step (or step up at /auth/login?step=mfa) and retry.",
        ),
    };
    Refusal { status: code.status(), message }
}

/// `POST /auth/mfa/totp/setup` from the enrolment page.
pub(crate) async fn enrol_setup(p: Post) -> Response {
    let (id, f) = match form_caller(&p) {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let Post { s, rt, .. } = p;
    let csrf = f.get("csrf");
    match crate::flows::enrol::start_setup(&rt, &s.services, &id).await.map_err(refused) {
        // The SVG is generated by the qrcode crate from our own URI: no user input in it.
        Ok(setup) => html(
            StatusCode::OK,
            page("Authenticator app", &confirm_form(csrf, &setup.secret, &setup.qr_svg, None)),
            None,
        ),
        Err(e) => html(
            e.status,
            page(
                "Authenticator app",
                &format!("<h1>Authenticator app</h1>\n<p class=\"error\" role=\"alert\">{}</p>", escape(e.message)),
            ),
            None,
        ),
    }
}

/// `POST /auth/mfa/totp/confirm` from the enrolment page: shows the recovery codes once.
pub(crate) async fn enrol_confirm(p: Post) -> Response {
    let (id, f) = match form_caller(&p) {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let Post { s, rt, info, .. } = p;
    let code = f.get("code").trim().to_string();
    let origin = info.origin();
    let who = crate::flows::enrol::Caller { id: &id, ip: info.ip, origin: &origin };
    let done = crate::flows::enrol::finish_setup(&rt, &s.services, &who, code, crate::clock::now_secs());
    match done.await.map_err(refused) {
        Ok(codes) => {
            let items: String = codes.iter().map(|c| format!("<li><code>{}</code></li>", escape(c))).collect();
            let body = format!("<h1>Authenticator app added</h1>\n<p>Keep these recovery codes somewhere safe. Each works once, and they are shown only now.</p>\n<ul>{items}</ul>");
            html(StatusCode::OK, page("Authenticator app", &body), None)
        }
        Err(e) => html(e.status, page("Authenticator app", &format!("<h1>Authenticator app</h1>\n<p class=\"error\" role=\"alert\">{} <a href=\"/auth/mfa/totp\">Start again</a>.</p>", escape(e.message))), None),
    }
}
