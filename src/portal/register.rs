//! The portal's "Create account" page, when the tenant allows self-registration: the form (the
//! addresses the tenant confirms, a name, a username, a password), then a code step per address
//! given (`/auth/register` and `/auth/register/confirm` as forms), then "sign in". An address
//! another account holds gets the same pages as a new one (the flow sends it nothing, and its
//! code step refuses every code like a wrong one). Same CSRF and origin checks as every form.

use super::{error_html, escape, existing_csrf, form_expired_in, html, refusal_in, Csrf, Post, Step, Ui, M};
use crate::clock::now_secs;
use crate::flows::error::FlowError;
use crate::flows::register::{self, Confirmation, Registration};
use crate::runtime::Runtime;
use crate::web::{ReqInfo, Snapshot};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

const REGISTER_AGAIN: (M, &str, M) = (M::CreateAccount, "/auth/register", M::LinkStartAgain);

/// Which address fields the tenant's form shows, and which it requires.
struct Fields {
    email: bool,
    email_required: bool,
    mobile: bool,
    mobile_required: bool,
}

fn fields_of(rt: &Runtime, tenant: &str) -> Fields {
    let sources = rt.config.tenant(tenant).map(|t| t.validation_sources.clone()).unwrap_or_default();
    let asks = |s: &str| sources.iter().any(|v| v == s);
    let only_mobile = asks("mobile") && !asks("email");
    Fields {
        email: !only_mobile,
        email_required: asks("email"),
        mobile: asks("mobile") || !rt.config.notifiers.sms.is_empty(),
        mobile_required: asks("mobile"),
    }
}

/// What the form echoes back after a refusal (never the password).
#[derive(Default)]
struct Given<'a> {
    email: &'a str,
    mobile: &'a str,
    name: &'a str,
    username: &'a str,
}

fn input(id: &str, label: &str, kind: &str, autocomplete: &str, value: &str, required: bool) -> String {
    let required = if required { " required" } else { "" };
    format!(
        r#"  <label for="{id}">{label}</label>
  <input id="{id}" name="{id}" type="{kind}" autocomplete="{autocomplete}" value="{}"{required}>
"#,
        escape(value)
    )
}

fn register_form(ui: &Ui, f: &Fields, csrf: &str, given: &Given, error: Option<&str>) -> String {
    let mut inputs = String::new();
    if f.email {
        inputs += &input("email", &ui.h(M::LabelEmail), "email", "email", given.email, f.email_required);
    }
    if f.mobile {
        inputs += &input("mobile", &ui.h(M::LabelMobile), "tel", "tel", given.mobile, f.mobile_required);
    }
    inputs += &input("name", &ui.h(M::LabelName), "text", "name", given.name, false);
    inputs += &input("username", &ui.h(M::LabelUsername), "text", "username", given.username, false);
    inputs += &input("password", &ui.h(M::LabelPassword), "password", "new-password", "", true);
    inputs += &input("confirm_password", &ui.h(M::LabelPasswordAgain), "password", "new-password", "", true);
    format!(
        r#"<h1>{title}</h1>
{error}
<p>{intro}</p>
<form method="post" action="/auth/register">
  <input type="hidden" name="csrf" value="{csrf}">
{inputs}  <button type="submit">{button}</button>
</form>
<p><a href="/auth/login">{have}</a></p>"#,
        title = ui.h(M::CreateAccount),
        error = error_html(error),
        intro = ui.h(M::RegisterIntro),
        csrf = escape(csrf),
        button = ui.h(M::ButtonCreateAccount),
        have = ui.h(M::LinkHaveAccount),
    )
}

/// The code step for one address (`source` is `email` or `mobile`); the other address rides
/// along for the step after.
pub(crate) fn code_step(ui: &Ui, csrf: &str, source: &str, email: &str, mobile: &str, error: Option<&str>) -> String {
    let (address, label) = if source == "email" { (email, M::LabelEmailCode) } else { (mobile, M::LabelSmsCode) };
    format!(
        r#"<h1>{title}</h1>
{error}
<p role="status">{sent}</p>
<form method="post" action="/auth/register/confirm">
  <input type="hidden" name="csrf" value="{csrf}">
  <input type="hidden" name="type" value="{source}">
  <input type="hidden" name="email" value="{email}">
  <input type="hidden" name="mobile" value="{mobile}">
  <label for="otp">{label}</label>
  <input id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code" required autofocus>
  <button type="submit">{button}</button>
</form>"#,
        title = ui.h(M::EnterYourCode),
        error = error_html(error),
        sent = ui.strong(M::RegisterCodeSent, "address", address),
        csrf = escape(csrf),
        source = escape(source),
        email = escape(email),
        mobile = escape(mobile),
        label = ui.h(label),
        button = ui.h(M::ButtonVerify),
    )
}

fn closed(ui: &Ui) -> Response {
    let body = format!(
        "<h1>{}</h1>\n<p class=\"error\" role=\"alert\">{}</p>\n<p><a href=\"/auth/login\">{}</a></p>",
        ui.h(M::CreateAccount),
        ui.h(M::RegistrationClosed),
        ui.h(M::LinkBackToSignIn)
    );
    html(StatusCode::NOT_FOUND, ui.page(M::CreateAccount, &body), None)
}

/// `GET /auth/register`: the form, when the tenant allows self-registration (404 otherwise).
pub async fn register_page(Snapshot(rt): Snapshot, info: ReqInfo, headers: HeaderMap) -> Response {
    let ui = Ui::new(&rt, &info.tenant, &headers);
    if !ui.registration {
        return closed(&ui);
    }
    let csrf = existing_csrf(&headers).map(str::to_string).unwrap_or_else(crate::sessions::new_secret);
    let body = register_form(&ui, &fields_of(&rt, &info.tenant), &csrf, &Given::default(), None);
    html(StatusCode::OK, ui.page(M::CreateAccount, &body), Some(Csrf::new(&rt, &csrf)))
}

/// `POST /auth/register` from the portal: the first code step, alike for a new address and a
/// taken one.
pub(crate) async fn submit_register(p: Post) -> Response {
    let ui = p.ui();
    let Some(f) = p.form() else { return form_expired_in(&ui, REGISTER_AGAIN) };
    if !ui.registration {
        return closed(&ui);
    }
    let Post { s, rt, info, .. } = p;
    let csrf = f.get("csrf");
    let given = Given {
        email: f.get("email").trim(),
        mobile: f.get("mobile").trim(),
        name: f.get("name"),
        username: f.get("username"),
    };
    let retry = |status: StatusCode, msg: &str| {
        let form = register_form(&ui, &fields_of(&rt, &info.tenant), csrf, &given, Some(msg));
        html(status, ui.page(M::CreateAccount, &form), None)
    };
    if given.email.is_empty() && given.mobile.is_empty() {
        return retry(StatusCode::UNPROCESSABLE_ENTITY, ui.t(M::RegisterNeedsAddress));
    }
    if f.get("password") != f.get("confirm_password") {
        return retry(StatusCode::UNPROCESSABLE_ENTITY, ui.t(M::PasswordsDiffer));
    }
    let some = |v: &str| Some(v.to_string()).filter(|v| !v.trim().is_empty());
    let r = Registration {
        tenant: info.tenant.clone(),
        email: some(given.email),
        mobile: some(given.mobile),
        username: some(given.username),
        name: some(given.name),
        password: some(f.get("password")),
        validation_sources: None,
        custom_payload: None,
    };
    match register::register(rt.clone(), s.services.clone(), r, info.ip, info.origin(), now_secs()).await {
        Ok(_) => {
            let first = if given.email.is_empty() { "mobile" } else { "email" };
            let body = code_step(&ui, csrf, first, given.email, given.mobile, None);
            html(StatusCode::OK, ui.page(M::EnterYourCode, &body), None)
        }
        Err(FlowError::Forbidden(_)) => closed(&ui),
        // The directory's or the password rules' own sentence (from the flow, in English).
        Err(FlowError::Invalid(m)) => {
            retry(StatusCode::UNPROCESSABLE_ENTITY, &format!("{} {m}", ui.t(M::RegisterRefused)))
        }
        Err(e @ (FlowError::RateLimited(_) | FlowError::TooManyFailures { .. })) => {
            e.log_internal();
            retry(StatusCode::TOO_MANY_REQUESTS, ui.t(M::RegisterTooMany))
        }
        Err(e) => {
            e.log_internal();
            retry(StatusCode::SERVICE_UNAVAILABLE, ui.t(M::NotPossibleNow))
        }
    }
}

/// `POST /auth/register/confirm` from a code step: the next address's step, or "sign in".
pub(crate) async fn submit_confirm(p: Post) -> Response {
    let ui = p.ui();
    let Some(f) = p.form() else { return form_expired_in(&ui, REGISTER_AGAIN) };
    let Post { s, rt, info, .. } = p;
    let (csrf, email, mobile) = (f.get("csrf"), f.get("email").trim(), f.get("mobile").trim());
    let source = if f.get("type") == "mobile" { "mobile" } else { "email" };
    let identifier = if source == "email" { email } else { mobile };
    let c = Confirmation {
        tenant: info.tenant.clone(),
        source: source.to_string(),
        identifier: identifier.to_string(),
        code: f.get("otp").trim().to_string(),
    };
    match register::confirm(rt.clone(), s.services.clone(), c, info.ip, info.origin(), now_secs()).await {
        Ok(v) if v["active"] == true => {
            let body = format!(
                "<h1>{}</h1>\n<p role=\"status\">{}</p>\n<p><a href=\"/auth/login\">{}</a></p>",
                ui.h(M::AccountReady),
                ui.h(M::AccountReadyText),
                ui.h(M::LinkSignInNow)
            );
            html(StatusCode::OK, ui.page(M::AccountReady, &body), None)
        }
        Ok(v) => {
            let next = v["pending"].get(0).and_then(|s| s.as_str()).unwrap_or("email");
            let next = if next == "mobile" { "mobile" } else { "email" };
            html(StatusCode::OK, ui.page(M::EnterYourCode, &code_step(&ui, csrf, next, email, mobile, None)), None)
        }
        Err(e) => {
            let (status, msg) = refusal_in(Step::CodeEntry, &e);
            let body = code_step(&ui, csrf, source, email, mobile, Some(ui.t(msg)));
            html(status, ui.page(M::EnterYourCode, &body), None)
        }
    }
}
