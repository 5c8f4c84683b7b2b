//! The portal's one-time-code steps: ask for a code (`/auth/otp/request` as a form), type it
//! (`/auth/otp/verify` as a form), and, in the MFA step, have a code sent as second factor
//! (`/auth/mfa/otp` as a form). Same CSRF and origin checks as every portal form.

use super::{
    code_form, error_html, escape, form_expired, html, page, rd_input, refusal, sign_in_again, signed_in_redirect,
    MfaStep, Post, Step, SIGN_IN_AGAIN,
};
use crate::clock::now_secs;
use crate::flows::error::FlowError;
use crate::flows::passwordless::{self, CodeRequest, CodeSignIn};
use crate::flows::services;
use crate::flows::signin::Outcome;
use axum::http::StatusCode;
use axum::response::Response;

pub fn request_form(rd: Option<&str>, csrf: &str, identifier: &str, error: Option<&str>) -> String {
    format!(
        r#"<h1>Sign in with a code</h1>
{error}
<form method="post" action="/auth/otp/request">
  <input type="hidden" name="csrf" value="{csrf}">
  {rd}
  <label for="identifier">Email or mobile</label>
  <input id="identifier" name="identifier" autocomplete="username" required value="{identifier}" autofocus>
  <button type="submit">Send code</button>
</form>
<p><a href="/auth/login">Sign in with a password instead</a></p>"#,
        error = error_html(error),
        csrf = escape(csrf),
        rd = rd_input(rd),
        identifier = escape(identifier),
    )
}

fn entry_form(rd: Option<&str>, csrf: &str, identifier: &str, error: Option<&str>) -> String {
    format!(
        r#"<h1>Enter your code</h1>
{error}
<p role="status">If <strong>{identifier}</strong> belongs to an account, a code is on its way.</p>
<form method="post" action="/auth/otp/verify">
  <input type="hidden" name="csrf" value="{csrf}">
  <input type="hidden" name="identifier" value="{identifier}">
  {rd}
  <label for="otp">Code</label>
  <input id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code" required autofocus>
  <button type="submit">Sign in</button>
</form>"#,
        error = error_html(error),
        csrf = escape(csrf),
        rd = rd_input(rd),
        identifier = escape(identifier),
    )
}

/// `POST /auth/otp/request` from the portal.
pub(crate) async fn submit_request(p: Post) -> Response {
    let Some(f) = p.form() else { return form_expired(SIGN_IN_AGAIN) };
    let Post { s, rt, info, .. } = p;
    let (get, csrf, rd) = (|k: &str| f.get(k), f.get("csrf"), f.rd.clone());
    let identifier = get("identifier").trim().to_string();
    let req = CodeRequest { tenant: info.tenant.clone(), app: None, identifier: identifier.clone(), channel: None };
    let sent = passwordless::request(rt.clone(), s.services.clone(), req, info.ip, info.origin(), now_secs()).await;
    let (status, title, body) = match sent {
        Ok(_) => (StatusCode::OK, "Enter your code", entry_form(rd.as_deref(), csrf, &identifier, None)),
        Err(e) => {
            let (status, msg) = refusal(Step::CodeRequest, &e);
            (status, "Sign in with a code", request_form(rd.as_deref(), csrf, &identifier, Some(msg)))
        }
    };
    html(status, page(title, &body), None)
}

/// `POST /auth/otp/verify` from the portal.
pub(crate) async fn submit_verify(p: Post) -> Response {
    let Some(f) = p.form() else { return form_expired(SIGN_IN_AGAIN) };
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
            html(StatusCode::OK, page("Second factor", &code_form(rd.as_deref(), csrf, &step, None)), None)
        }
        Err(e) => {
            let (status, msg) = refusal(Step::CodeEntry, &e);
            // Locked: the code is spent, so the page asks for a new one.
            let (title, form): (_, fn(_, _, _, _) -> _) = match e {
                FlowError::CodeLocked => ("Sign in with a code", request_form),
                _ => ("Enter your code", entry_form),
            };
            html(status, page(title, &form(rd.as_deref(), csrf, &identifier, Some(msg))), None)
        }
    }
}

/// `POST /auth/mfa/otp` from the portal's second-factor step.
pub(crate) async fn submit_mfa_send(p: Post) -> Response {
    let Some(f) = p.form() else { return form_expired(SIGN_IN_AGAIN) };
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
                Some("email") => "We sent a code to your e-mail address.",
                Some("sms") => "We sent a code to your mobile phone.",
                _ => "We sent you a code.",
            }),
            None,
        ),
        Err(e) => {
            let (status, msg) = refusal(Step::MfaSend, e);
            if matches!(e, FlowError::Unauthenticated(_)) {
                return sign_in_again(status, msg);
            }
            (None, Some(msg))
        }
    };
    let step = MfaStep { token: &token, methods: &methods, notice };
    let status = if error.is_some() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    html(status, page("Second factor", &code_form(rd.as_deref(), csrf, &step, error)), None)
}
