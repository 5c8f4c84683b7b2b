//! The portal's account-link pages: "Forgot password?" (ask for a reset; then the new-password
//! page a reset link opens, or the code form for a code sent by SMS), and sign-in links (ask for
//! one; the confirm page a link opens). A GET never changes state: a mail scanner that
//! prefetches a link only gets the page with its button. Same CSRF and origin checks as every
//! portal form.

use super::{
    code_form, error_html, escape, form_expired_in, html, one_field_form, rd_input, refusal_in, signed_in_redirect,
    Csrf, MfaStep, OneField, Post, Step, Ui, M,
};
use crate::clock::now_secs;
use crate::flows::error::FlowError;
use crate::flows::magic::{self, LinkRequest};
use crate::flows::reset::{self, Reset, ResetRequest};
use crate::flows::signin::Outcome;
use crate::web::{ReqInfo, Snapshot};
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

const FORGOT_AGAIN: (M, &str, M) = (M::ResetYourPassword, "/auth/password/forgot", M::LinkStartAgain);
const LINK_AGAIN: (M, &str, M) = (M::SignInWithLink, "/auth/magic-link", M::LinkAskNewLink);

/// The browser's CSRF token, or a new one.
fn csrf_of(headers: &HeaderMap) -> String {
    super::existing_csrf(headers).map(str::to_string).unwrap_or_else(crate::sessions::new_secret)
}

fn query(raw: Option<String>) -> std::collections::HashMap<String, String> {
    super::form_fields(raw.unwrap_or_default().as_bytes())
}

pub(crate) fn forgot_form(ui: &Ui, csrf: &str, identifier: &str, error: Option<&str>) -> String {
    let form = OneField {
        title: M::ResetYourPassword,
        intro: Some(M::ForgotIntro),
        action: "/auth/password/request-reset",
        rd: None,
        field: "identifier",
        attrs: r#"autocomplete="username""#,
        label: M::LabelEmailOrMobile,
        button: M::ButtonSend,
        back: M::LinkBackToSignIn,
    };
    one_field_form(ui, form, csrf, identifier, error)
}

/// The new-password form: with the link's `token` hidden, or (a code by SMS) with the code
/// field and the identifier.
pub(crate) fn reset_form(ui: &Ui, csrf: &str, token: Option<&str>, identifier: &str, error: Option<&str>) -> String {
    let secret = match token {
        Some(t) => format!(r#"<input type="hidden" name="token" value="{}">"#, escape(t)),
        None => format!(
            r#"<input type="hidden" name="identifier" value="{}">
  <label for="token">{}</label>
  <input id="token" name="token" inputmode="numeric" autocomplete="one-time-code" required autofocus>"#,
            escape(identifier),
            ui.h(M::LabelCode)
        ),
    };
    format!(
        r#"<h1>{title}</h1>
{error}
<form method="post" action="/auth/password/reset">
  <input type="hidden" name="csrf" value="{csrf}">
  {secret}
  <label for="new_password">{l_new}</label>
  <input id="new_password" name="new_password" type="password" autocomplete="new-password" required>
  <label for="confirm_password">{l_again}</label>
  <input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password" required>
  <button type="submit">{button}</button>
</form>
<p><a href="/auth/password/forgot">{again}</a></p>"#,
        title = ui.h(M::ChooseNewPassword),
        l_new = ui.h(M::LabelNewPassword),
        l_again = ui.h(M::LabelNewPasswordAgain),
        button = ui.h(M::ButtonSetPassword),
        again = ui.h(M::LinkNewLinkOrCode),
        error = error_html(error),
        csrf = escape(csrf),
    )
}

/// `GET /auth/password/forgot`.
pub async fn forgot_page(Snapshot(rt): Snapshot, info: ReqInfo, headers: HeaderMap) -> Response {
    let ui = Ui::new(&rt, &info.tenant, &headers);
    let csrf = csrf_of(&headers);
    let body = forgot_form(&ui, &csrf, "", None);
    html(StatusCode::OK, ui.page(M::ResetYourPassword, &body), Some(Csrf::new(&rt, &csrf)))
}

/// `GET /auth/password/reset?token=…` (the link in the e-mail): the new-password form. Without
/// a token: the form for a code sent by SMS (`?identifier=` fills it in).
pub async fn reset_page(
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let ui = Ui::new(&rt, &info.tenant, &headers);
    let q = query(raw);
    let csrf = csrf_of(&headers);
    let token = q.get("token").map(String::as_str).filter(|t| !t.is_empty());
    let identifier = q.get("identifier").map(String::as_str).unwrap_or("");
    let body = reset_form(&ui, &csrf, token, identifier, None);
    html(StatusCode::OK, ui.page(M::ChooseNewPassword, &body), Some(Csrf::new(&rt, &csrf)))
}

/// `POST /auth/password/request-reset` from the portal: the same page whoever the identifier
/// belongs to (with the code form, for those who get a code by SMS).
pub(crate) async fn submit_forgot(p: Post) -> Response {
    let ui = p.ui();
    let Some(f) = p.form() else { return form_expired_in(&ui, FORGOT_AGAIN) };
    let Post { s, rt, info, .. } = p;
    let (csrf, identifier) = (f.get("csrf"), f.get("identifier").trim().to_string());
    let req = ResetRequest { tenant: info.tenant.clone(), identifier: identifier.clone() };
    match reset::request(rt.clone(), s.services.clone(), req, info.ip, info.origin(), now_secs()) {
        Ok(_) => {
            let heading = format!("<h1>{}</h1>", ui.h(M::ChooseNewPassword));
            let body = format!(
                "<h1>{}</h1>\n<p role=\"status\">{}</p>\n{}",
                ui.h(M::CheckYourMessages),
                ui.strong(M::ResetOnItsWay, "identifier", &identifier),
                reset_form(&ui, csrf, None, &identifier, None).replace(&heading, "")
            );
            html(StatusCode::OK, ui.page(M::CheckYourMessages, &body), None)
        }
        Err(e) => {
            let (status, msg) = refusal_in(Step::LinkRequest, &e);
            let form = forgot_form(&ui, csrf, &identifier, Some(ui.t(msg)));
            html(status, ui.page(M::ResetYourPassword, &form), None)
        }
    }
}

/// `POST /auth/password/reset` from the portal.
pub(crate) async fn submit_reset(p: Post) -> Response {
    let ui = p.ui();
    let Some(f) = p.form() else { return form_expired_in(&ui, FORGOT_AGAIN) };
    let Post { s, rt, info, .. } = p;
    let csrf = f.get("csrf");
    let identifier = f.get("identifier").trim().to_string();
    let token = f.get("token").to_string();
    let link_token = identifier.is_empty().then_some(token.as_str());
    let retry = |status: StatusCode, msg: &str| {
        html(status, ui.page(M::ChooseNewPassword, &reset_form(&ui, csrf, link_token, &identifier, Some(msg))), None)
    };
    if token.trim().is_empty() {
        return retry(StatusCode::UNPROCESSABLE_ENTITY, ui.t(M::EnterCodeOrOpenLink));
    }
    if f.get("new_password") != f.get("confirm_password") {
        return retry(StatusCode::UNPROCESSABLE_ENTITY, ui.t(M::PasswordsDiffer));
    }
    let r = Reset {
        tenant: info.tenant.clone(),
        token: token.clone(),
        identifier: Some(identifier.clone()).filter(|i| !i.is_empty()),
        new_password: f.get("new_password").to_string(),
    };
    match reset::reset(rt.clone(), s.services.clone(), r, info.ip, info.origin(), now_secs()).await {
        Ok(()) => {
            let body = format!(
                "<h1>{}</h1>\n<p role=\"status\">{}</p>\n<p><a href=\"/auth/login\">{}</a></p>",
                ui.h(M::PasswordChanged),
                ui.h(M::PasswordChangedText),
                ui.h(M::LinkSignInNewPassword)
            );
            html(StatusCode::OK, ui.page(M::PasswordChanged, &body), None)
        }
        // The password rules' own sentence (from the flow, in English) after the catalogue's.
        Err(FlowError::Invalid(m)) => {
            retry(StatusCode::UNPROCESSABLE_ENTITY, &format!("{} {m}", ui.t(M::PasswordRefused)))
        }
        Err(e) => {
            let (status, msg) = refusal_in(Step::Reset, &e);
            retry(status, ui.t(msg))
        }
    }
}

pub(crate) fn link_request_form(ui: &Ui, rd: Option<&str>, csrf: &str, email: &str, error: Option<&str>) -> String {
    let form = OneField {
        title: M::SignInWithLink,
        intro: Some(M::LinkIntro),
        action: "/auth/magic-link",
        rd: Some(rd_input(rd)),
        field: "email",
        attrs: r#"type="email" autocomplete="email""#,
        label: M::LabelEmail,
        button: M::ButtonSendLink,
        back: M::LinkPasswordInstead,
    };
    one_field_form(ui, form, csrf, email, error)
}

/// `GET /auth/magic-link` (`?rd=` kept when allowed).
pub async fn link_request_page(
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let ui = Ui::new(&rt, &info.tenant, &headers);
    let q = query(raw);
    let rd = super::allowed_rd(&rt, q.get("rd").map(String::as_str));
    let csrf = csrf_of(&headers);
    let body = link_request_form(&ui, rd.as_deref(), &csrf, "", None);
    html(StatusCode::OK, ui.page(M::SignInWithLink, &body), Some(Csrf::new(&rt, &csrf)))
}

/// `POST /auth/magic-link` from the portal: the same page whoever the address belongs to.
pub(crate) async fn submit_link_request(p: Post) -> Response {
    let ui = p.ui();
    let Some(f) = p.form() else { return form_expired_in(&ui, LINK_AGAIN) };
    let Post { s, rt, info, .. } = p;
    let email = f.get("email").trim().to_string();
    let req = LinkRequest { tenant: info.tenant.clone(), email: email.clone(), rd: f.rd.clone() };
    match magic::request(rt.clone(), s.services.clone(), req, info.ip, info.origin(), now_secs()) {
        Ok(_) => {
            let body = format!(
                "<h1>{}</h1>\n<p role=\"status\">{}</p>",
                ui.h(M::CheckYourEmail),
                ui.strong(M::LinkOnItsWay, "email", &email)
            );
            html(StatusCode::OK, ui.page(M::CheckYourEmail, &body), None)
        }
        Err(e) => {
            let (status, msg) = refusal_in(Step::LinkRequest, &e);
            let form = link_request_form(&ui, f.rd.as_deref(), f.get("csrf"), &email, Some(ui.t(msg)));
            html(status, ui.page(M::SignInWithLink, &form), None)
        }
    }
}

/// `GET /auth/magic-link/{token}`: only a button (the GET reads nothing and changes nothing).
pub async fn confirm_page(
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let ui = Ui::new(&rt, &info.tenant, &headers);
    let csrf = csrf_of(&headers);
    let mut path = "/auth/magic-link/".to_string();
    path.extend(url::form_urlencoded::byte_serialize(token.as_bytes()));
    let body = format!(
        r#"<h1>{title}</h1>
<p>{press}</p>
<form method="post" action="{path}">
  <input type="hidden" name="csrf" value="{csrf}">
  <button type="submit" autofocus>{button}</button>
</form>"#,
        title = ui.h(M::SignIn),
        press = ui.h(M::PressToSignIn),
        button = ui.h(M::ButtonSignIn),
        path = escape(&path),
        csrf = escape(&csrf),
    );
    html(StatusCode::OK, ui.page(M::SignIn, &body), Some(Csrf::new(&rt, &csrf)))
}

/// `POST /auth/magic-link/{token}` from the confirm page: the link is used; the session cookie
/// and 303 to the link's `rd` (when still allowed), or the second-factor step.
pub(crate) async fn submit_confirm(uri: Uri, p: Post) -> Response {
    let ui = p.ui();
    let Some(f) = p.form() else { return form_expired_in(&ui, LINK_AGAIN) };
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
                    let form = code_form(&ui, rd.as_deref(), f.get("csrf"), &step, None);
                    html(StatusCode::OK, ui.page(M::SecondFactor, &form), None)
                }
            }
        }
        Err(e) => {
            let (status, msg) = refusal_in(Step::Link, &e);
            let body = format!(
                "<h1>{}</h1>\n<p class=\"error\" role=\"alert\">{}</p>\n<p><a href=\"/auth/magic-link\">{}</a> {} <a href=\"/auth/login\">{}</a>.</p>",
                ui.h(M::SignIn),
                ui.h(msg),
                ui.h(M::LinkAskNewLink),
                ui.h(M::Or),
                ui.h(M::LinkSignInWithPassword)
            );
            html(status, ui.page(M::SignIn, &body), None)
        }
    }
}
