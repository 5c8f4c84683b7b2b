//! The sign-in portal: a small server-rendered page with no external assets, built as steps
//! (password and step-up here; the one-time-code steps in `code`, the second-factor step in
//! `mfa`, enrolment in `enrol`; what every form shares in `form`). Forms carry a CSRF token
//! (double submit: an HttpOnly SameSite=Strict cookie and a hidden field, compared in constant
//! time) and cross-origin posts are refused. `rd` is honoured only for allowed redirect hosts.

pub mod account;
pub mod code;
pub mod enrol;
mod form;
pub mod links;
pub mod messages;
mod mfa;
pub mod register;
mod ui;

pub(crate) use form::*;
pub(crate) use messages::{Lang, M};
pub(crate) use mfa::*;
pub(crate) use ui::Ui;

use crate::catalogue::Code;
use crate::flows::error::FlowError;
use crate::flows::issue;
use crate::flows::services;
use crate::flows::signin;
use crate::identity::Caller;
use crate::runtime::Runtime;
use crate::state::Shared;
use crate::web::{caller, mfa_attempt, session_cookies, ReqInfo, Snapshot};
pub use crate::web::{escape, page};
use axum::extract::RawQuery;
use axum::routing::{get, post};
use axum::Router;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The portal's pages (GET).
pub fn pages() -> Router<Arc<Shared>> {
    Router::new()
        .route("/auth/login", get(show))
        .route("/auth/mfa/totp", get(enrol::enrol_page))
        .route("/auth/password/forgot", get(links::forgot_page))
        .route("/auth/password/reset", get(links::reset_page))
        .route("/auth/magic-link", get(links::link_request_page))
        .route("/auth/magic-link/{token}", get(links::confirm_page))
        .route("/auth/register", get(register::register_page))
        .merge(account::routes())
}

/// The portal's form posts: paths the JSON API answers too; the /auth router sends a form post
/// (`application/x-www-form-urlencoded`) to one of them here, anything else to the API. Also
/// the account page, which the router sends here when a GET asks for HTML.
pub fn forms() -> Router<Arc<Shared>> {
    Router::new()
        .route("/auth/login", post(submit))
        .route("/auth/mfa/verify", post(submit_code))
        .route("/auth/mfa/otp", post(code::submit_mfa_send))
        .route("/auth/otp/request", post(code::submit_request))
        .route("/auth/otp/verify", post(code::submit_verify))
        .route("/auth/mfa/totp/setup", post(enrol::enrol_setup))
        .route("/auth/mfa/totp/confirm", post(enrol::enrol_confirm))
        .route("/auth/password/request-reset", post(links::submit_forgot))
        .route("/auth/password/reset", post(links::submit_reset))
        .route("/auth/magic-link", post(links::submit_link_request))
        .route("/auth/magic-link/{token}", post(links::submit_confirm))
        .route("/auth/register", post(register::submit_register))
        .route("/auth/register/confirm", post(register::submit_confirm))
        .merge(account::page_routes())
}

/// Whether a form post to `path` is the portal's (one of [`FORM_PATHS`], or a sign-in link's
/// confirm button).
pub fn is_form_path(path: &str) -> bool {
    FORM_PATHS.contains(&path)
        || path.strip_prefix("/auth/magic-link/").is_some_and(|t| !t.is_empty() && !t.contains('/'))
}

/// The paths of [`forms`] (besides the sign-in links' `/auth/magic-link/{token}`).
pub const FORM_PATHS: [&str; 12] = [
    "/auth/login",
    "/auth/mfa/verify",
    "/auth/mfa/otp",
    "/auth/otp/request",
    "/auth/otp/verify",
    "/auth/mfa/totp/setup",
    "/auth/mfa/totp/confirm",
    "/auth/password/request-reset",
    "/auth/password/reset",
    "/auth/magic-link",
    "/auth/register",
    "/auth/register/confirm",
];

/// Which portal step a flow refused: the same failure is worded for the page that shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The password form.
    Password,
    /// The second-factor code form.
    MfaCode,
    /// Asking for a sign-in code.
    CodeRequest,
    /// Typing a sign-in code.
    CodeEntry,
    /// Having a code sent in the second-factor step.
    MfaSend,
    /// The enrolment page (worded as the JSON API words it).
    Enrol,
    /// Asking for a reset or a sign-in link.
    LinkRequest,
    /// Setting a new password with a reset link or code.
    Reset,
    /// Using a sign-in link.
    Link,
}

/// The one place a flow's failure becomes what a portal page says: its status and sentence.
/// (Which form the page shows around it stays with the step's handler.)
pub(crate) fn refusal_in(step: Step, e: &FlowError) -> (StatusCode, M) {
    use Code as C;
    use FlowError as E;
    e.log_internal();
    let (code, msg) = match (step, e) {
        (Step::Password, E::InvalidCredentials) => (C::InvalidCredentials, M::WrongCredentials),
        (Step::Password | Step::CodeEntry, E::TooManyFailures { .. } | E::RateLimited(_)) => {
            (C::TooManyFailures, M::TooManyAttempts)
        }
        (Step::CodeEntry, E::InvalidCode | E::Invalid(_)) => (C::InvalidCode, M::CodeWrongOrExpired),
        (Step::CodeEntry, E::CodeLocked) => (C::TooManyAttempts, M::TooManyWrongCodes),
        (Step::Password | Step::CodeEntry, _) => (C::Unavailable, M::SignInUnavailable),
        (Step::MfaCode, E::InvalidCode) => (C::InvalidCode, M::CodeWrongOrUsed),
        (Step::MfaCode, _) => (C::Unauthenticated, M::SignInCannotContinue),
        (Step::CodeRequest, E::Invalid(_)) => (C::InvalidField, M::EnterEmailOrMobile),
        (Step::CodeRequest, E::RateLimited(_)) => (C::RateLimited, M::TooManyCodes),
        (Step::CodeRequest, _) => (C::Unavailable, M::CodesUnavailable),
        // The MFA step's page stays up with a notice: a refused code-sending is no failure of
        // the sign-in (503, not 429).
        (Step::MfaSend, E::RateLimited(_)) => (C::Unavailable, M::TooManyCodesWait),
        (Step::MfaSend, E::Unauthenticated(_)) => (C::Unauthenticated, M::SignInCannotContinue),
        (Step::MfaSend, _) => (C::Unavailable, M::CodeUnavailableOtherMethod),
        (Step::Enrol, _) => (e.code(), enrol_refusal(e)),
        (Step::LinkRequest, E::Invalid(_)) => (C::InvalidField, M::EnterEmailOrMobile),
        (Step::LinkRequest, E::RateLimited(_)) => (C::RateLimited, M::TooManyMessages),
        (Step::LinkRequest, _) => (C::Unavailable, M::MessagesUnavailable),
        (Step::Reset | Step::Link, E::TooManyFailures { .. } | E::RateLimited(_)) => {
            (C::TooManyFailures, M::TooManyAttempts)
        }
        (Step::Reset, E::InvalidCode | E::Invalid(_)) => (C::InvalidCode, M::ResetInvalid),
        (Step::Reset, E::CodeLocked) => (C::TooManyAttempts, M::TooManyWrongCodesNew),
        (Step::Link, E::InvalidCode) => (C::InvalidCode, M::LinkInvalid),
        (Step::Reset | Step::Link, _) => (C::Unavailable, M::NotPossibleNow),
    };
    (code.status(), msg)
}

/// [`refusal_in`] in English, with the flow's own sentence where the enrolment step has one (the
/// account page's English answers: the flows word them in English only).
pub(crate) fn refusal(step: Step, e: &FlowError) -> (StatusCode, &'static str) {
    let (status, m) = refusal_in(step, e);
    match (step, e) {
        // The flow's own sentence, as the JSON API words it.
        (Step::Enrol, FlowError::Unauthenticated(s) | FlowError::Forbidden(s)) => (status, s),
        _ => (status, m.text(Lang::En)),
    }
}

/// A flow's failure on the enrolment page (its status is the catalogue's for
/// [`FlowError::code`]).
fn enrol_refusal(e: &FlowError) -> M {
    use FlowError as E;
    match e {
        E::TooManyFailures { .. } => M::EnrolBanned,
        E::RateLimited(_) => M::TooManyAttempts,
        E::Unauthenticated(_) => M::SignInFirst,
        E::Forbidden(_) => M::EnrolNotAllowed,
        E::InvalidCode | E::InvalidCredentials | E::Invalid(_) => M::EnrolCodeMismatch,
        E::NotFound => M::EnrolNoPending,
        E::Busy => M::Busy,
        E::NotInDirectory | E::NotAssigned => M::EnrolNotAllowed,
        E::CodeLocked => M::TooManyWrongCodesNew,
        E::Store(_) => M::NotPossibleNow,
    }
}

#[derive(Default)]
struct PortalQuery {
    rd: Option<String>,
    step: Option<String>,
    method: Option<String>,
}

/// The portal URL of the one-time-code step, keeping `rd`.
fn code_link(rd: Option<&str>) -> String {
    let mut u = "/auth/login?method=code".to_string();
    if let Some(r) = rd {
        u.push_str("&rd=");
        u.extend(url::form_urlencoded::byte_serialize(r.as_bytes()));
    }
    u
}

fn password_form(ui: &Ui, rd: Option<&str>, csrf: &str, identifier: &str, error: Option<&str>, codes: bool) -> String {
    let link = if codes {
        let mut magic = "/auth/magic-link".to_string();
        if let Some(r) = rd {
            magic.push_str("?rd=");
            magic.extend(url::form_urlencoded::byte_serialize(r.as_bytes()));
        }
        format!(
            r#"<p><a href="{}">{}</a></p>
<p><a href="{}">{}</a></p>
<p><a href="/auth/password/forgot">{}</a></p>"#,
            escape(&code_link(rd)),
            ui.h(M::LinkCodeInstead),
            escape(&magic),
            ui.h(M::LinkMagic),
            ui.h(M::LinkForgot),
        )
    } else {
        String::new()
    };
    let create = if ui.registration {
        format!(r#"<p><a href="/auth/register">{}</a></p>"#, ui.h(M::LinkCreateAccount))
    } else {
        String::new()
    };
    password_form_inner(ui, rd, csrf, identifier, error) + &link + &create
}

fn password_form_inner(ui: &Ui, rd: Option<&str>, csrf: &str, identifier: &str, error: Option<&str>) -> String {
    let error = error_html(error);
    let rd = rd_input(rd);
    format!(
        r#"<h1>{title}</h1>
{error}
<form method="post" action="/auth/login">
  <input type="hidden" name="csrf" value="{csrf}">
  {rd}
  <label for="identifier">{l_id}</label>
  <input id="identifier" name="identifier" autocomplete="username" required value="{identifier}" autofocus>
  <label for="password">{l_pw}</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">{button}</button>
</form>"#,
        title = ui.h(M::SignIn),
        l_id = ui.h(M::LabelIdentifier),
        l_pw = ui.h(M::LabelPassword),
        button = ui.h(M::ButtonSignIn),
        identifier = escape(identifier),
    )
}

/// `GET /auth/login`.
pub async fn show(Snapshot(rt): Snapshot, info: ReqInfo, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let fields = form_fields(raw.unwrap_or_default().as_bytes());
    let q = PortalQuery {
        rd: fields.get("rd").cloned(),
        step: fields.get("step").cloned(),
        method: fields.get("method").cloned(),
    };
    let rd = allowed_rd(&rt, q.rd.as_deref());
    let ui = Ui::new(&rt, &info.tenant, &headers);
    let known = match caller(&rt, &headers, &info.tenant) {
        Caller::Known(id) => Some(id),
        _ => None,
    };
    if let Some(id) = &known {
        let one_factor = crate::identity::level_of(&id.amr) == crate::policy::AuthLevel::OneFactor;
        if q.step.as_deref() == Some("mfa") && one_factor {
            return step_up_offer(&ui, &rt, &headers, rd.as_deref());
        }
        if q.step.is_none() {
            let cont = rd
                .as_deref()
                .map(|r| format!(r#"<p><a href="{}">{}</a></p>"#, escape(r), ui.h(M::ButtonContinue)))
                .unwrap_or_default();
            let body = format!(
                "<h1>{}</h1>\n<p>{}</p>\n{cont}",
                ui.h(M::SignedIn),
                ui.strong(M::SignedInAs, "user", &id.user)
            );
            return html(StatusCode::OK, ui.page(M::SignedIn, &body), None);
        }
    }
    // Reuse the browser's token: a second load of the page (another tab, or the browser's own
    // favicon request bounced to the portal) must not void the form already shown.
    let csrf = existing_csrf(&headers).map(str::to_string).unwrap_or_else(crate::sessions::new_secret);
    if q.method.as_deref() == Some("code") {
        let body = code::request_form(&ui, rd.as_deref(), &csrf, "", None);
        return html(StatusCode::OK, ui.page(M::SignInWithCode, &body), Some(Csrf::new(&rt, &csrf)));
    }
    html(
        StatusCode::OK,
        ui.page(M::SignIn, &password_form(&ui, rd.as_deref(), &csrf, "", None, codes_enabled(&rt))),
        Some(Csrf::new(&rt, &csrf)),
    )
}

/// `GET /auth/login?step=mfa` of a one-factor caller: a button that starts the step-up by POST
/// (a GET never creates state, not even a pending MFA step).
fn step_up_offer(ui: &Ui, rt: &Runtime, headers: &HeaderMap, rd: Option<&str>) -> Response {
    let csrf = existing_csrf(headers).map(str::to_string).unwrap_or_else(crate::sessions::new_secret);
    let body = format!(
        r#"<h1>{}</h1>
<p>{}</p>
<form method="post" action="/auth/login">
  <input type="hidden" name="csrf" value="{}">
  <input type="hidden" name="step" value="mfa">
  {}
  <button type="submit" autofocus>{}</button>
</form>"#,
        ui.h(M::SecondFactorNeeded),
        ui.h(M::PageNeedsSecondFactor),
        escape(&csrf),
        rd_input(rd),
        ui.h(M::ButtonContinue),
    );
    html(StatusCode::OK, ui.page(M::SecondFactor, &body), Some(Csrf::new(rt, &csrf)))
}

/// `POST /auth/login` with `step=mfa` (a checked portal form): the step-up starts.
async fn step_up_post(
    ui: &Ui,
    s: &Arc<Shared>,
    rt: &Arc<Runtime>,
    info: &ReqInfo,
    headers: &HeaderMap,
    rd: Option<String>,
) -> Response {
    match caller(rt, headers, &info.tenant) {
        Caller::Known(id) if crate::identity::level_of(&id.amr) == crate::policy::AuthLevel::OneFactor => {
            step_up_page(ui, s, rt, headers, &id, rd).await
        }
        _ => sign_in_again(ui, StatusCode::UNAUTHORIZED, M::NoOneFactorSession),
    }
}

/// The step-up of a signed-in, one-factor caller: the second-factor step right away (no second
/// password); success starts a new two-factor session. Without any second factor, the way to
/// set one up.
async fn step_up_page(
    ui: &Ui,
    s: &Arc<Shared>,
    rt: &Arc<Runtime>,
    headers: &HeaderMap,
    id: &crate::identity::Identity,
    rd: Option<String>,
) -> Response {
    let (rt2, svc, user_id) = (rt.clone(), s.services.clone(), id.user_id.clone());
    let amr = id.amr.clone();
    let used = first_factor_channel(&amr);
    let started = services::blocking(move || {
        let user = svc.store.user(&user_id)?.filter(|u| u.is_active()).ok_or(FlowError::InvalidCode)?;
        let methods = signin::mfa_methods(&rt2, &user, used);
        let token = (!methods.is_empty())
            .then(|| svc.mfa.start_at(&user.id, &user.tenant, amr, true, used, crate::clock::now_secs()))
            .transpose()?;
        Ok((token, methods.join(",")))
    })
    .await;
    let csrf = existing_csrf(headers).map(str::to_string).unwrap_or_else(crate::sessions::new_secret);
    match started {
        Ok((Some(token), methods)) => {
            let step = MfaStep { token: &token, methods: &methods, notice: None };
            let body = code_form(ui, rd.as_deref(), &csrf, &step, None);
            html(StatusCode::OK, ui.page(M::SecondFactor, &body), Some(Csrf::new(rt, &csrf)))
        }
        Ok((None, _)) => {
            let body = format!(
                "<h1>{}</h1>\n<p>{}</p>\n<p><a href=\"/auth/mfa/totp\">{}</a>, {}</p>",
                ui.h(M::SecondFactorNeeded),
                ui.h(M::NoSecondFactorYet),
                ui.h(M::LinkSetUpApp),
                ui.h(M::ThenOpenAgain)
            );
            html(StatusCode::FORBIDDEN, ui.page(M::SecondFactor, &body), None)
        }
        Err(e) => {
            e.log_internal();
            sign_in_again(ui, StatusCode::UNAUTHORIZED, M::CannotStepUp)
        }
    }
}

/// The kind of channel a session's first factor used (a code, or a sign-in link by e-mail): a
/// code as second factor must take another kind.
pub(crate) fn first_factor_channel(amr: &[crate::domain::Amr]) -> Option<crate::notify::AddressKind> {
    use crate::domain::Amr;
    if amr.contains(&Amr::Sms) {
        Some(crate::notify::AddressKind::Phone)
    } else if amr.contains(&Amr::Otp) || amr.contains(&Amr::Email) {
        Some(crate::notify::AddressKind::Email)
    } else {
        None
    }
}

/// `POST /auth/login` from the portal's form.
pub(crate) async fn submit(p: Post) -> Response {
    let ui = p.ui();
    let Some(f) = p.form() else { return form_expired_in(&ui, SIGN_IN_AGAIN) };
    let Post { s, rt, info, headers, .. } = p;
    if f.get("step") == "mfa" {
        return step_up_post(&ui, &s, &rt, &info, &headers, f.rd.clone()).await;
    }
    let (get, form_csrf, rd) = (|k: &str| f.get(k), f.get("csrf"), f.rd.clone());
    let identifier = get("identifier").trim();
    let password = get("password");
    let retry = |status: StatusCode, msg: M| {
        let form = password_form(&ui, rd.as_deref(), form_csrf, identifier, Some(ui.t(msg)), codes_enabled(&rt));
        html(status, ui.page(M::SignIn, &form), None)
    };
    if identifier.is_empty() || password.is_empty() || identifier.len() > 320 || password.len() > 1024 {
        return retry(StatusCode::UNPROCESSABLE_ENTITY, M::EnterIdentifierAndPassword);
    }
    let origin = info.origin();
    let attempt = signin::password_login(
        rt.clone(),
        s.services.clone(),
        info.tenant.clone(),
        identifier.to_string(),
        password.to_string(),
        info.ip,
        origin,
        true,
        crate::clock::now_secs(),
    );
    match attempt.await {
        Ok(signin::Outcome::SignedIn(signed)) => signed_in_redirect(&rt, signed, rd),
        Ok(signin::Outcome::MfaRequired { mfa_token, methods }) => {
            let step = MfaStep { token: &mfa_token, methods: &methods.join(","), notice: None };
            html(StatusCode::OK, ui.page(M::SecondFactor, &code_form(&ui, rd.as_deref(), form_csrf, &step, None)), None)
        }
        Err(e) => {
            let (status, msg) = refusal_in(Step::Password, &e);
            retry(status, msg)
        }
    }
}

/// 303 to `rd` (or the portal) with the session cookie.
pub(crate) fn signed_in_redirect(rt: &Runtime, signed: issue::SignedIn, rd: Option<String>) -> Response {
    let max_age = signed.session.expires_at.saturating_sub(signed.session.created_at);
    let target = rd.unwrap_or_else(|| "/auth/login".to_string());
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&target) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for c in session_cookies(rt, &signed.cookie, max_age) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

#[cfg(test)]
pub(crate) mod lang_tests;
#[cfg(test)]
mod tests;
