//! The portal's enrolment page for signed-in users (`/auth/mfa/totp`): set up an authenticator
//! app (QR code and key), confirm it with a first code, see the recovery codes once. Same CSRF
//! and origin checks as every portal form; GET never changes state.

use super::{error_html, escape, existing_csrf, form_expired_in, html, Form, Post, Ui, M};
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
fn form_caller(ui: &Ui, p: &Post) -> Result<(Arc<crate::identity::Identity>, Form), Response> {
    let Some(form) = p.form() else {
        return Err(form_expired_in(ui, (M::AuthenticatorApp, "/auth/mfa/totp", M::LinkStartAgain)));
    };
    match caller(&p.rt, &p.headers, &p.info.tenant) {
        Caller::Known(id) => Ok((id, form)),
        _ => {
            let body =
                format!("<h1>{}</h1>\n<p><a href=\"/auth/login\">{}</a></p>", ui.h(M::SignIn), ui.h(M::SignInFirst));
            Err(html(StatusCode::UNAUTHORIZED, ui.page(M::SignIn, &body), None))
        }
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
    let ui = Ui::new(&rt, &info.tenant, &headers);
    let csrf = existing_csrf(&headers).map(str::to_string).unwrap_or_else(crate::sessions::new_secret);
    let body = if enabled {
        format!("<h1>{}</h1>\n<p>{}</p>", ui.h(M::AuthenticatorApp), ui.h(M::AppProtects))
    } else {
        format!(
            r#"<h1>{}</h1>
<p>{}</p>
<form method="post" action="/auth/mfa/totp/setup">
  <input type="hidden" name="csrf" value="{}">
  <button type="submit">{}</button>
</form>"#,
            ui.h(M::AuthenticatorApp),
            ui.strong(M::AddSecondFactor, "user", &id.user),
            escape(&csrf),
            ui.h(M::ButtonSetUpApp),
        )
    };
    html(StatusCode::OK, ui.page(M::AuthenticatorApp, &body), Some(super::Csrf::new(&rt, &csrf)))
}

pub(crate) fn confirm_form(ui: &Ui, csrf: &str, secret: &str, qr_svg: &str, error: Option<&str>) -> String {
    let error = error_html(error);
    format!(
        r#"<h1>{title}</h1>
{error}
<div role="img" aria-label="{qr_label}">{qr_svg}</div>
<p>{or_type} <code>{secret}</code></p>
<form method="post" action="/auth/mfa/totp/confirm">
  <input type="hidden" name="csrf" value="{csrf}">
  <label for="code">{label}</label>
  <input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus>
  <button type="submit">{button}</button>
</form>"#,
        title = ui.h(M::ScanThisCode),
        qr_label = ui.h(M::QrCodeLabel),
        or_type = ui.h(M::OrTypeKey),
        label = ui.h(M::LabelAppCode),
        button = ui.h(M::ButtonConfirm),
        secret = escape(secret),
        csrf = escape(csrf),
    )
}

/// What the enrolment page says when a step is refused: status and sentence (a flow's own
/// failure through [`super::refusal_in`]).
pub(crate) struct Refusal {
    pub status: StatusCode,
    pub message: M,
}

pub(crate) fn refused(r: Refused) -> Refusal {
    let (code, message) = match r {
        Refused::Flow(e) => {
            let (status, message) = super::refusal_in(super::Step::Enrol, &e);
            return Refusal { status, message };
        }
        Refused::AlreadyEnabled => (Code::AlreadyEnabled, M::EnrolAlreadyEnabled),
        Refused::NotEnabled => (Code::NotEnabled, M::EnrolNotEnabled),
        Refused::NoPendingSetup => (Code::NoPendingSetup, M::EnrolNoPending),
        Refused::Code(_) => (Code::CodeMismatch, M::EnrolCodeMismatch),
        Refused::Banned(_) => (Code::TooManyFailures, M::EnrolBanned),
        Refused::Undescribable => (Code::Internal, M::EnrolUndescribable),
        Refused::NeedsTwoFactor => (Code::MfaRequired, M::EnrolNeedsTwoFactor),
        Refused::NeedsAddressProof => (Code::Forbidden, M::EnrolNeedsAddressProof),
    };
    Refusal { status: code.status(), message }
}

/// `POST /auth/mfa/totp/setup` from the enrolment page.
pub(crate) async fn enrol_setup(p: Post) -> Response {
    let ui = p.ui();
    let (id, f) = match form_caller(&ui, &p) {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let Post { s, rt, .. } = p;
    let csrf = f.get("csrf");
    match crate::flows::enrol::start_setup(&rt, &s.services, &id).await.map_err(refused) {
        // The SVG is generated by the qrcode crate from our own URI: no user input in it.
        Ok(setup) => html(
            StatusCode::OK,
            ui.page(M::AuthenticatorApp, &confirm_form(&ui, csrf, &setup.secret, &setup.qr_svg, None)),
            None,
        ),
        Err(e) => {
            let body = format!(
                "<h1>{}</h1>\n<p class=\"error\" role=\"alert\">{}</p>",
                ui.h(M::AuthenticatorApp),
                ui.h(e.message)
            );
            html(e.status, ui.page(M::AuthenticatorApp, &body), None)
        }
    }
}

/// `POST /auth/mfa/totp/confirm` from the enrolment page: shows the recovery codes once.
pub(crate) async fn enrol_confirm(p: Post) -> Response {
    let ui = p.ui();
    let (id, f) = match form_caller(&ui, &p) {
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
            let body = format!(
                "<h1>{}</h1>\n<p>{}</p>\n<ul>{items}</ul>",
                ui.h(M::AuthenticatorAdded),
                ui.h(M::KeepRecoveryCodes)
            );
            html(StatusCode::OK, ui.page(M::AuthenticatorApp, &body), None)
        }
        Err(e) => {
            let body = format!(
                "<h1>{}</h1>\n<p class=\"error\" role=\"alert\">{} <a href=\"/auth/mfa/totp\">{}</a>.</p>",
                ui.h(M::AuthenticatorApp),
                ui.h(e.message),
                ui.h(M::LinkStartAgain)
            );
            html(e.status, ui.page(M::AuthenticatorApp, &body), None)
        }
    }
}
