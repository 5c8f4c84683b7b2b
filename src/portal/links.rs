//! The portal's account-link pages: "Forgot password?" (ask for a reset; then the new-password
//! page a reset link opens, or the code form for a code sent by SMS), and sign-in links (ask for
//! one; the confirm page a link opens). A GET never changes state: a mail scanner that
//! prefetches a link only gets the page with its button. Same CSRF and origin checks as every
//! portal form.

use super::{
    code_form, error_html, escape, form_expired, html, page, rd_input, refusal, signed_in_redirect, Csrf, MfaStep,
    Post, Step,
};
use crate::clock::now_secs;
use crate::flows::error::FlowError;
use crate::flows::magic::{self, LinkRequest};
use crate::flows::reset::{self, Reset, ResetRequest};
use crate::flows::signin::Outcome;
use crate::web::Snapshot;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

const FORGOT_AGAIN: (&str, &str, &str) = ("Reset your password", "/auth/password/forgot", "Start again");
const LINK_AGAIN: (&str, &str, &str) = ("Sign in with a link", "/auth/magic-link", "Ask for a new link");

/// The browser's CSRF token, or a new one.
fn csrf_of(headers: &HeaderMap) -> String {
    super::existing_csrf(headers).map(str::to_string).unwrap_or_else(crate::sessions::new_secret)
}

fn query(raw: Option<String>) -> std::collections::HashMap<String, String> {
    super::form_fields(raw.unwrap_or_default().as_bytes())
}

fn forgot_form(csrf: &str, identifier: &str, error: Option<&str>) -> String {
    format!(
        r#"<h1>Reset your password</h1>
{error}
<p>Enter your e-mail address or mobile number. If it belongs to an account, we send you a link (by e-mail) or a code (by SMS).</p>
<form method="post" action="/auth/password/request-reset">
  <input type="hidden" name="csrf" value="{csrf}">
  <label for="identifier">Email or mobile</label>
  <input id="identifier" name="identifier" autocomplete="username" required value="{identifier}" autofocus>
  <button type="submit">Send</button>
</form>
<p><a href="/auth/login">Back to sign in</a></p>"#,
        error = error_html(error),
        csrf = escape(csrf),
        identifier = escape(identifier),
    )
}

/// The new-password form: with the link's `token` hidden, or (a code by SMS) with the code
/// field and the identifier.
fn reset_form(csrf: &str, token: Option<&str>, identifier: &str, error: Option<&str>) -> String {
    let secret = match token {
        Some(t) => format!(r#"<input type="hidden" name="token" value="{}">"#, escape(t)),
        None => format!(
            r#"<input type="hidden" name="identifier" value="{}">
  <label for="token">Code</label>
  <input id="token" name="token" inputmode="numeric" autocomplete="one-time-code" required autofocus>"#,
            escape(identifier)
        ),
    };
    format!(
        r#"<h1>Choose a new password</h1>
{error}
<form method="post" action="/auth/password/reset">
  <input type="hidden" name="csrf" value="{csrf}">
  {secret}
  <label for="new_password">New password</label>
  <input id="new_password" name="new_password" type="password" autocomplete="new-password" required>
  <label for="confirm_password">New password again</label>
  <input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password" required>
  <button type="submit">Set password</button>
</form>
<p><a href="/auth/password/forgot">Ask for a new link or code</a></p>"#,
        error = error_html(error),
        csrf = escape(csrf),
    )
}

/// `GET /auth/password/forgot`.
pub async fn forgot_page(Snapshot(rt): Snapshot, headers: HeaderMap) -> Response {
    let csrf = csrf_of(&headers);
    html(StatusCode::OK, page("Reset your password", &forgot_form(&csrf, "", None)), Some(Csrf::new(&rt, &csrf)))
}

/// `GET /auth/password/reset?token=…` (the link in the e-mail): the new-password form. Without
/// a token: the form for a code sent by SMS (`?identifier=` fills it in).
pub async fn reset_page(Snapshot(rt): Snapshot, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw);
    let csrf = csrf_of(&headers);
    let token = q.get("token").map(String::as_str).filter(|t| !t.is_empty());
    let identifier = q.get("identifier").map(String::as_str).unwrap_or("");
    let body = reset_form(&csrf, token, identifier, None);
    html(StatusCode::OK, page("Choose a new password", &body), Some(Csrf::new(&rt, &csrf)))
}

/// `POST /auth/password/request-reset` from the portal: the same page whoever the identifier
/// belongs to (with the code form, for those who get a code by SMS).
pub(crate) async fn submit_forgot(p: Post) -> Response {
    let Some(f) = p.form() else { return form_expired(FORGOT_AGAIN) };
    let Post { s, rt, info, .. } = p;
    let (csrf, identifier) = (f.get("csrf"), f.get("identifier").trim().to_string());
    let req = ResetRequest { tenant: info.tenant.clone(), identifier: identifier.clone() };
    match reset::request(rt.clone(), s.services.clone(), req, info.ip, info.origin(), now_secs()) {
        Ok(_) => {
            let body = format!(
                "<h1>Check your messages</h1>\n<p role=\"status\">If <strong>{}</strong> belongs to an account, a link (by e-mail) or a code (by SMS) is on its way. Open the link, or enter the code below.</p>\n{}",
                escape(&identifier),
                reset_form(csrf, None, &identifier, None).replace("<h1>Choose a new password</h1>", "")
            );
            html(StatusCode::OK, page("Check your messages", &body), None)
        }
        Err(e) => {
            let (status, msg) = refusal(Step::LinkRequest, &e);
            html(status, page("Reset your password", &forgot_form(csrf, &identifier, Some(msg))), None)
        }
    }
}

/// `POST /auth/password/reset` from the portal.
pub(crate) async fn submit_reset(p: Post) -> Response {
    let Some(f) = p.form() else { return form_expired(FORGOT_AGAIN) };
    let Post { s, rt, info, .. } = p;
    let csrf = f.get("csrf");
    let identifier = f.get("identifier").trim().to_string();
    let token = f.get("token").to_string();
    let link_token = identifier.is_empty().then_some(token.as_str());
    let retry = |status: StatusCode, msg: &str| {
        html(status, page("Choose a new password", &reset_form(csrf, link_token, &identifier, Some(msg))), None)
    };
    if token.trim().is_empty() {
        return retry(StatusCode::UNPROCESSABLE_ENTITY, "Enter the code we sent you, or open the link again.");
    }
    if f.get("new_password") != f.get("confirm_password") {
        return retry(StatusCode::UNPROCESSABLE_ENTITY, "The two passwords differ; type the same one twice.");
    }
    let r = Reset {
        tenant: info.tenant.clone(),
        token: token.clone(),
        identifier: Some(identifier.clone()).filter(|i| !i.is_empty()),
        new_password: f.get("new_password").to_string(),
    };
    match reset::reset(rt.clone(), s.services.clone(), r, info.ip, info.origin(), now_secs()).await {
        Ok(()) => {
            let body = "<h1>Password changed</h1>\n<p role=\"status\">Your password was changed and every session of your account was ended.</p>\n<p><a href=\"/auth/login\">Sign in with your new password</a></p>";
            html(StatusCode::OK, page("Password changed", body), None)
        }
        // The password rules' own sentence.
        Err(FlowError::Invalid(m)) => retry(StatusCode::UNPROCESSABLE_ENTITY, &m),
        Err(e) => {
            let (status, msg) = refusal(Step::Reset, &e);
            retry(status, msg)
        }
    }
}

fn link_request_form(rd: Option<&str>, csrf: &str, email: &str, error: Option<&str>) -> String {
    format!(
        r#"<h1>Sign in with a link</h1>
{error}
<p>Enter your e-mail address. If it belongs to an account, we e-mail you a link that signs you in.</p>
<form method="post" action="/auth/magic-link">
  <input type="hidden" name="csrf" value="{csrf}">
  {rd}
  <label for="email">Email</label>
  <input id="email" name="email" type="email" autocomplete="email" required value="{email}" autofocus>
  <button type="submit">Send me a link</button>
</form>
<p><a href="/auth/login">Sign in with a password instead</a></p>"#,
        error = error_html(error),
        csrf = escape(csrf),
        rd = rd_input(rd),
        email = escape(email),
    )
}

/// `GET /auth/magic-link` (`?rd=` kept when allowed).
pub async fn link_request_page(Snapshot(rt): Snapshot, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw);
    let rd = super::allowed_rd(&rt, q.get("rd").map(String::as_str));
    let csrf = csrf_of(&headers);
    let body = link_request_form(rd.as_deref(), &csrf, "", None);
    html(StatusCode::OK, page("Sign in with a link", &body), Some(Csrf::new(&rt, &csrf)))
}

/// `POST /auth/magic-link` from the portal: the same page whoever the address belongs to.
pub(crate) async fn submit_link_request(p: Post) -> Response {
    let Some(f) = p.form() else { return form_expired(LINK_AGAIN) };
    let Post { s, rt, info, .. } = p;
    let email = f.get("email").trim().to_string();
    let req = LinkRequest { tenant: info.tenant.clone(), email: email.clone(), rd: f.rd.clone() };
    match magic::request(rt.clone(), s.services.clone(), req, info.ip, info.origin(), now_secs()) {
        Ok(_) => {
            let body = format!(
                "<h1>Check your e-mail</h1>\n<p role=\"status\">If <strong>{}</strong> belongs to an account, a sign-in link is on its way. Open it in this browser.</p>",
                escape(&email)
            );
            html(StatusCode::OK, page("Check your e-mail", &body), None)
        }
        Err(e) => {
            let (status, msg) = refusal(Step::LinkRequest, &e);
            html(
                status,
                page("Sign in with a link", &link_request_form(f.rd.as_deref(), f.get("csrf"), &email, Some(msg))),
                None,
            )
        }
    }
}

/// `GET /auth/magic-link/{token}`: only a button (the GET reads nothing and changes nothing).
pub async fn confirm_page(Snapshot(rt): Snapshot, headers: HeaderMap, Path(token): Path<String>) -> Response {
    let csrf = csrf_of(&headers);
    let mut path = "/auth/magic-link/".to_string();
    path.extend(url::form_urlencoded::byte_serialize(token.as_bytes()));
    let body = format!(
        r#"<h1>Sign in</h1>
<p>Press the button to sign in with the link we e-mailed you.</p>
<form method="post" action="{path}">
  <input type="hidden" name="csrf" value="{csrf}">
  <button type="submit" autofocus>Sign in</button>
</form>"#,
        path = escape(&path),
        csrf = escape(&csrf),
    );
    html(StatusCode::OK, page("Sign in", &body), Some(Csrf::new(&rt, &csrf)))
}

/// `POST /auth/magic-link/{token}` from the confirm page: the link is used; the session cookie
/// and 303 to the link's `rd` (when still allowed), or the second-factor step.
pub(crate) async fn submit_confirm(uri: Uri, p: Post) -> Response {
    let Some(f) = p.form() else { return form_expired(LINK_AGAIN) };
    let Post { s, rt, info, .. } = p;
    // From the path itself: this router runs nested in the /auth router's match, whose path
    // parameters a `Path` extractor would see twice.
    let token = uri.path().strip_prefix("/auth/magic-link/").unwrap_or_default().to_string();
    let (ip, origin, now) = (info.ip, info.origin(), now_secs());
    match magic::sign_in(rt.clone(), s.services.clone(), info.tenant.clone(), token, true, ip, origin, now).await {
        Ok(done) => {
            let rd = super::allowed_rd(&rt, done.rd.as_deref());
            match done.outcome {
                Outcome::SignedIn(signed) => signed_in_redirect(&rt, signed, rd),
                Outcome::MfaRequired { mfa_token, methods } => {
                    let step = MfaStep { token: &mfa_token, methods: &methods.join(","), notice: None };
                    html(
                        StatusCode::OK,
                        page("Second factor", &code_form(rd.as_deref(), f.get("csrf"), &step, None)),
                        None,
                    )
                }
            }
        }
        Err(e) => {
            let (status, msg) = refusal(Step::Link, &e);
            let body = format!(
                "<h1>Sign in</h1>\n<p class=\"error\" role=\"alert\">{}</p>\n<p><a href=\"/auth/magic-link\">Ask for a new link</a> or <a href=\"/auth/login\">sign in with a password</a>.</p>",
                escape(msg)
            );
            html(status, page("Sign in", &body), None)
        }
    }
}
