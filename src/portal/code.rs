//! The portal's one-time-code steps: ask for a code (`/auth/otp/request` as a form), type it
//! (`/auth/otp/verify` as a form), and, in the MFA step, have a code sent as second factor
//! (`/auth/mfa/otp` as a form). Same CSRF and origin checks as every portal form.

use super::{
    code_form, error_html, escape, form_expired_in, html, one_field_form, rd_input, refusal_in, sign_in_again,
    signed_in_redirect, MfaStep, OneField, Post, Step, Ui, M, SIGN_IN_AGAIN,
};
use crate::clock::now_secs;
use crate::flows::error::FlowError;
use crate::flows::passwordless::{self, CodeRequest, CodeSignIn};
use crate::flows::services;
use crate::flows::signin::Outcome;
use axum::http::StatusCode;
use axum::response::Response;

pub(crate) fn request_form(ui: &Ui, rd: Option<&str>, csrf: &str, identifier: &str, error: Option<&str>) -> String {
    let form = OneField {
        title: M::SignInWithCode,
        intro: None,
        action: "/auth/otp/request",
        rd: Some(rd_input(rd)),
        field: "identifier",
        attrs: r#"autocomplete="username""#,
        label: M::LabelEmailOrMobile,
        button: M::ButtonSendCode,
        back: M::LinkPasswordInstead,
    };
    one_field_form(ui, form, csrf, identifier, error)
}

pub(crate) fn entry_form(ui: &Ui, rd: Option<&str>, csrf: &str, identifier: &str, error: Option<&str>) -> String {
    format!(
        r#"<h1>{title}</h1>
{error}
<p role="status">{status}</p>
<form method="post" action="/auth/otp/verify">
  <input type="hidden" name="csrf" value="{csrf}">
  <input type="hidden" name="identifier" value="{identifier}">
  {rd}
  <label for="otp">{label}</label>
  <input id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code" required autofocus>
  <button type="submit">{button}</button>
</form>"#,
        title = ui.h(M::EnterYourCode),
        status = ui.strong(M::CodeOnItsWay, "identifier", identifier),
        label = ui.h(M::LabelCode),
        button = ui.h(M::ButtonSignIn),
        error = error_html(error),
        csrf = escape(csrf),
        rd = rd_input(rd),
        identifier = escape(identifier),
    )
}

/// `POST /auth/otp/request` from the portal.
pub(crate) async fn submit_request(p: Post) -> Response {
    let ui = p.ui();
    let Some(f) = p.form() else { return form_expired_in(&ui, SIGN_IN_AGAIN) };
    let Post { s, rt, info, .. } = p;
    let (get, csrf, rd) = (|k: &str| f.get(k), f.get("csrf"), f.rd.clone());
    let identifier = get("identifier").trim().to_string();
    let req = CodeRequest { tenant: info.tenant.clone(), app: None, identifier: identifier.clone(), channel: None };
    let sent = passwordless::request(rt.clone(), s.services.clone(), req, info.ip, info.origin(), now_secs()).await;
    let (status, title, body) = match sent {
        Ok(_) => (StatusCode::OK, M::EnterYourCode, entry_form(&ui, rd.as_deref(), csrf, &identifier, None)),
        Err(e) => {
            let (status, msg) = refusal_in(Step::CodeRequest, &e);
            (status, M::SignInWithCode, request_form(&ui, rd.as_deref(), csrf, &identifier, Some(ui.t(msg))))
        }
    };
    html(status, ui.page(title, &body), None)
}

/// `POST /auth/otp/verify` from the portal.
pub(crate) async fn submit_verify(p: Post) -> Response {
    let ui = p.ui();
    let Some(f) = p.form() else { return form_expired_in(&ui, SIGN_IN_AGAIN) };
    let Post { s, rt, info, .. } = p;
    let (get, csrf, rd) = (|k: &str| f.get(k), f.get("csrf"), f.rd.clone());
    let identifier = get("identifier").trim().to_string();
    let req = CodeSignIn {
        tenant: info.tenant.clone(),
        app: None,
        identifier: identifier.clone(),
        code: get("otp").trim().to_string(),
        set_cookie: true,
    };
    match passwordless::verify(rt.clone(), s.services.clone(), req, info.ip, info.origin(), now_secs()).await {
        Ok(Outcome::SignedIn(signed)) => signed_in_redirect(&rt, signed, rd),
        Ok(Outcome::MfaRequired { mfa_token, methods }) => {
            let step = MfaStep { token: &mfa_token, methods: &methods.join(","), notice: None };
            html(StatusCode::OK, ui.page(M::SecondFactor, &code_form(&ui, rd.as_deref(), csrf, &step, None)), None)
        }
        Err(e) => {
            let (status, msg) = refusal_in(Step::CodeEntry, &e);
            // Locked: the code is spent, so the page asks for a new one.
            let (title, form): (_, fn(_, _, _, _, _) -> _) = match e {
                FlowError::CodeLocked => (M::SignInWithCode, request_form),
                _ => (M::EnterYourCode, entry_form),
            };
            html(status, ui.page(title, &form(&ui, rd.as_deref(), csrf, &identifier, Some(ui.t(msg)))), None)
        }
    }
}

/// `POST /auth/mfa/otp` from the portal's second-factor step.
pub(crate) async fn submit_mfa_send(p: Post) -> Response {
    let ui = p.ui();
    let Some(f) = p.form() else { return form_expired_in(&ui, SIGN_IN_AGAIN) };
    let Post { s, rt, info, .. } = p;
    let (get, csrf, rd) = (|k: &str| f.get(k), f.get("csrf"), f.rd.clone());
    let token = get("mfa_token").to_string();
    let methods = get("methods").to_string();
    let (svc, ip, origin, now) = (s.services.clone(), info.ip, info.origin(), now_secs());
    let t2 = token.clone();
    let sent = services::blocking(move || passwordless::send_mfa_code(&rt, &svc, &t2, None, ip, &origin, now)).await;
    let (notice, error) = match &sent {
        Ok(out) => (
            Some(match out.channel.as_deref() {
                Some("email") => M::SentToEmail,
                Some("sms") => M::SentToPhone,
                _ => M::SentToYou,
            }),
            None,
        ),
        Err(e) => {
            let (status, msg) = refusal_in(Step::MfaSend, e);
            if matches!(e, FlowError::Unauthenticated(_)) {
                return sign_in_again(&ui, status, msg);
            }
            (None, Some(ui.t(msg)))
        }
    };
    let step = MfaStep { token: &token, methods: &methods, notice };
    let status = if error.is_some() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    html(status, ui.page(M::SecondFactor, &code_form(&ui, rd.as_deref(), csrf, &step, error)), None)
}
