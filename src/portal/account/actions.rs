//! The account page's form posts: each checks the CSRF token and origin, then the session
//! cookie, calls its flow, and answers 303 back to the page with a notice, or the page again
//! with the error in the action's section.

use super::render::Section;
use super::{account_page, see_other, signed_in, to_sign_in, Done, Shown, PATH};
use crate::catalogue::Code;
use crate::clock::now_secs;
use crate::flows::account::{self, Refused, Who};
use crate::flows::personal_tokens::{self as pat_flow, NewToken};
use crate::flows::services::blocking;
use crate::identity::Identity;
use crate::portal::{form_expired_in, Form, Lang, Post, Ui, M};
use axum::http::{header, StatusCode};
use axum::response::Response;
use std::sync::Arc;

/// Where a refused form sends the person: the account page.
const AGAIN: (M, &str, M) = (M::YourAccount, PATH, M::AcctOpenAgain);

/// The checked form and the signed-in caller, or the answer that ends the post.
#[allow(clippy::result_large_err)]
fn checked(p: &Post) -> Result<(Form, Arc<Identity>), Response> {
    let Some(form) = p.form() else { return Err(form_expired_in(&p.ui(), AGAIN)) };
    let Some(id) = signed_in(&p.rt, &p.headers, &p.info) else { return Err(to_sign_in(&p.rt)) };
    Ok((form, id))
}

fn done(d: Done) -> Response {
    see_other(&format!("{PATH}?done={}", d.as_str()))
}

/// A refused account action: its status and the catalogue's sentence in the language of `ui`
/// (a flow's own `Invalid` sentence, e.g. the password policy's, as the flow words it).
fn worded(ui: &Ui, r: Refused) -> (StatusCode, String) {
    let (code, message) = match r {
        Refused::Flow(crate::flows::error::FlowError::Invalid(m)) => (Code::InvalidField, m),
        Refused::Flow(e) if ui.lang == Lang::En => {
            let (status, message) = crate::portal::refusal(crate::portal::Step::Enrol, &e);
            return (status, message.to_string());
        }
        Refused::Flow(e) => {
            let (status, message) = crate::portal::refusal_in(crate::portal::Step::Enrol, &e);
            return (status, ui.t(message).to_string());
        }
        Refused::WrongPassword => (Code::PasswordMismatch, ui.t(M::AcctWrongPassword).to_string()),
        Refused::Banned(_) => (Code::TooManyFailures, ui.t(M::EnrolBanned).to_string()),
        Refused::ScopeNotHeld(s) => (Code::InvalidScope, M::AcctScopeNotHeld.with(ui.lang, "scope", &s)),
        Refused::TooManyTokens(max) => {
            (Code::TooManyTokens, M::AcctTooManyTokens.with(ui.lang, "max", &max.to_string()))
        }
        Refused::NotFound => (Code::NotFound, ui.t(M::AcctNoSuch).to_string()),
    };
    (code.status(), message)
}

/// The page again, with `shown`.
async fn again(p: &Post, id: &Arc<Identity>, status: StatusCode, shown: Shown) -> Response {
    account_page(&p.s, &p.rt, &p.ui(), &p.headers, id, status, shown).await
}

async fn refused_in(p: &Post, id: &Arc<Identity>, section: Section, r: Refused) -> Response {
    let (status, message) = worded(&p.ui(), r);
    again(p, id, status, Shown { error: Some((section, message)), ..Shown::default() }).await
}

/// A flow run on the blocking pool: the pool's own failure refused like the flow's.
async fn on_pool<T: Send + 'static>(f: impl FnOnce() -> Result<T, Refused> + Send + 'static) -> Result<T, Refused> {
    blocking(move || Ok(f())).await.map_err(Refused::Flow).and_then(|r| r)
}

/// `POST /auth/account/change-password {current_password, new_password}`.
pub(crate) async fn change_password(p: Post) -> Response {
    let (f, id) = match checked(&p) {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let (current, new) = (f.get("current_password").to_string(), f.get("new_password").to_string());
    if current.is_empty() || current.len() > 1024 {
        let r = Refused::Flow(crate::flows::error::FlowError::Invalid(p.ui().t(M::AcctEnterCurrent).into()));
        return refused_in(&p, &id, Section::Password, r).await;
    }
    let origin = p.info.origin();
    let who = Who { id: &id, ip: p.info.ip, origin: &origin };
    match account::change_password(&p.rt, &p.s.services, &who, current, new, now_secs()).await {
        Ok(_) => done(Done::PasswordChanged),
        Err(r) => refused_in(&p, &id, Section::Password, r).await,
    }
}

/// `POST /auth/account/end-session {session}`: ending the session in use signs out.
pub(crate) async fn end_session(p: Post) -> Response {
    let (f, id) = match checked(&p) {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let sid = f.get("session").to_string();
    let current = sid == id.session_id;
    let (svc, origin, ip, id2) = (p.s.services.clone(), p.info.origin(), p.info.ip, id.clone());
    let ended = on_pool(move || account::end_session(&svc, &Who { id: &id2, ip, origin: &origin }, &sid)).await;
    match ended {
        Ok(()) if current => {
            let mut resp = see_other("/auth/login");
            for c in crate::web::session_cookies(&p.rt, "", 0) {
                resp.headers_mut().append(header::SET_COOKIE, c);
            }
            resp
        }
        Ok(()) => done(Done::SessionEnded),
        Err(r) => refused_in(&p, &id, Section::Sessions, r).await,
    }
}

/// `POST /auth/account/end-other-sessions`.
pub(crate) async fn end_other_sessions(p: Post) -> Response {
    let (_, id) = match checked(&p) {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let (svc, origin, ip, id2) = (p.s.services.clone(), p.info.origin(), p.info.ip, id.clone());
    let ended = on_pool(move || account::end_other_sessions(&svc, &Who { id: &id2, ip, origin: &origin })).await;
    match ended {
        Ok(_) => done(Done::OtherSessionsEnded),
        Err(r) => refused_in(&p, &id, Section::Sessions, r).await,
    }
}

/// The token asked for by the form: its name, the ticked scopes (none: every scope held) and
/// the lifetime in days (empty: the default).
fn new_token(ui: &Ui, body: &[u8], f: &Form) -> Result<NewToken, Refused> {
    let scopes: Vec<String> =
        url::form_urlencoded::parse(body).filter(|(k, _)| k == "scope").map(|(_, v)| v.into_owned()).collect();
    let days = f.get("days").trim();
    let expires_in = if days.is_empty() {
        None
    } else {
        let d: u64 = days
            .parse()
            .map_err(|_| Refused::Flow(crate::flows::error::FlowError::Invalid(ui.t(M::AcctWholeDays).into())))?;
        Some(d.saturating_mul(86_400))
    };
    Ok(NewToken { name: f.get("name").to_string(), scopes: (!scopes.is_empty()).then_some(scopes), expires_in })
}

/// `POST /auth/account/new-token {name, scope*, days?}`: the page with the token, shown once
/// (it is in no URL, so this answer is the page itself).
pub(crate) async fn create_token(p: Post) -> Response {
    let (f, id) = match checked(&p) {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let asked = match new_token(&p.ui(), &p.body, &f) {
        Ok(a) => a,
        Err(r) => return refused_in(&p, &id, Section::Tokens, r).await,
    };
    let (rt, svc, origin, ip, id2) = (p.rt.clone(), p.s.services.clone(), p.info.origin(), p.info.ip, id.clone());
    let made =
        on_pool(move || pat_flow::create(&rt, &svc, &Who { id: &id2, ip, origin: &origin }, asked, now_secs())).await;
    match made {
        Ok((view, token)) => {
            again(&p, &id, StatusCode::OK, Shown { new_token: Some((view.name, token)), ..Shown::default() }).await
        }
        Err(r) => refused_in(&p, &id, Section::Tokens, r).await,
    }
}

/// `POST /auth/account/revoke-token {token}` (the token's id).
pub(crate) async fn revoke_token(p: Post) -> Response {
    let (f, id) = match checked(&p) {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let token_id = f.get("token").to_string();
    let (svc, origin, ip, id2) = (p.s.services.clone(), p.info.origin(), p.info.ip, id.clone());
    let revoked = on_pool(move || pat_flow::revoke(&svc, &Who { id: &id2, ip, origin: &origin }, &token_id)).await;
    match revoked {
        Ok(()) => done(Done::TokenRevoked),
        Err(r) => refused_in(&p, &id, Section::Tokens, r).await,
    }
}

async fn factor_refused(p: &Post, id: &Arc<Identity>, r: crate::flows::enrol::Refused) -> Response {
    let e = crate::portal::enrol::refused(r);
    again(
        p,
        id,
        e.status,
        Shown { error: Some((Section::Factors, p.ui().t(e.message).to_string())), ..Shown::default() },
    )
    .await
}

/// `POST /auth/account/remove-totp {code}`.
pub(crate) async fn remove_totp(p: Post) -> Response {
    let (f, id) = match checked(&p) {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let origin = p.info.origin();
    let who = crate::flows::enrol::Caller { id: &id, ip: p.info.ip, origin: &origin };
    let code = f.get("code").trim().to_string();
    match crate::flows::enrol::remove(&p.rt, &p.s.services, &who, code, now_secs()).await {
        Ok(()) => done(Done::TotpRemoved),
        Err(r) => factor_refused(&p, &id, r).await,
    }
}

/// `POST /auth/account/new-recovery-codes {code}`: the page with the new codes, shown once.
pub(crate) async fn regenerate_codes(p: Post) -> Response {
    let (f, id) = match checked(&p) {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let origin = p.info.origin();
    let who = crate::flows::enrol::Caller { id: &id, ip: p.info.ip, origin: &origin };
    let code = f.get("code").trim().to_string();
    match crate::flows::enrol::regenerate(&p.rt, &p.s.services, &who, code, now_secs()).await {
        Ok(codes) => again(&p, &id, StatusCode::OK, Shown { new_codes: Some(codes), ..Shown::default() }).await,
        Err(r) => factor_refused(&p, &id, r).await,
    }
}

/// `POST /auth/account/code-factor {on: "1" | "0"}`: a code by message as the second factor.
pub(crate) async fn code_factor(p: Post) -> Response {
    let (f, id) = match checked(&p) {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let on = f.get("on") == "1";
    let (rt, svc, origin, ip, id2) = (p.rt.clone(), p.s.services.clone(), p.info.origin(), p.info.ip, id.clone());
    let set = on_pool(move || {
        crate::flows::mfa_by_code::set(&rt, &svc, &Who { id: &id2, ip, origin: &origin }, on, now_secs())
    })
    .await;
    match set {
        Ok(_) => done(if on { Done::CodeFactorOn } else { Done::CodeFactorOff }),
        Err(r) => refused_in(&p, &id, Section::Factors, r).await,
    }
}
