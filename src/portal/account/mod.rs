//! The signed-in user's account page, `GET /auth/account` for browsers (the /auth router sends
//! a GET that asks for HTML here, anything else to the JSON API): profile, password, second
//! factors, sessions, personal API tokens and the account's recent security events. Every
//! action is a form post (CSRF checked) to a path of its own under `/auth/account/`, answered
//! 303 back to the page with a one-line notice (`?done=…`); a refused action shows the page
//! again with the error in its section. A secret shown once (a new token, new recovery codes)
//! is shown in the answer to its post, never put in a URL or a cookie.

mod actions;
mod render;

use super::{html, Csrf, Ui, M};
use crate::flows::account::{self, Refused};
use crate::flows::personal_tokens as pat_flow;
use crate::flows::services::blocking;
use crate::identity::{Caller, Identity};
use crate::runtime::Runtime;
use crate::state::Shared;
use crate::web::{ReqInfo, Snapshot};
use axum::extract::RawQuery;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

pub(crate) use render::Shown;

/// The account page's path.
pub const PATH: &str = "/auth/account";

/// The page (reached through the /auth router's HTML choice; see [`wants_page`]).
pub fn page_routes() -> Router<Arc<Shared>> {
    Router::new().route(PATH, get(show))
}

/// The page's form posts (paths only the portal answers).
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/auth/account/change-password", post(actions::change_password))
        .route("/auth/account/end-session", post(actions::end_session))
        .route("/auth/account/end-other-sessions", post(actions::end_other_sessions))
        .route("/auth/account/new-token", post(actions::create_token))
        .route("/auth/account/revoke-token", post(actions::revoke_token))
        .route("/auth/account/remove-totp", post(actions::remove_totp))
        .route("/auth/account/new-recovery-codes", post(actions::regenerate_codes))
        .route("/auth/account/code-factor", post(actions::code_factor))
}

/// Whether a request is a browser's for the account page: a GET (or HEAD) of [`PATH`] without
/// `Authorization` whose `Accept` names `text/html` before any JSON (a browser's navigation
/// does; an API client that sends a bearer token, no `Accept`, `*/*` or `application/json`
/// gets the JSON).
pub fn wants_page(method: &axum::http::Method, path: &str, headers: &HeaderMap) -> bool {
    let get = method == axum::http::Method::GET || method == axum::http::Method::HEAD;
    if path != PATH || !get || headers.contains_key(header::AUTHORIZATION) {
        return false;
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let position = |what: &str| accept.to_ascii_lowercase().find(what);
    match (position("text/html"), position("application/json")) {
        (Some(h), Some(j)) => h < j,
        (Some(_), None) => true,
        _ => false,
    }
}

/// The one-line notice a successful action leaves on the page (`?done=…`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Done {
    PasswordChanged,
    SessionEnded,
    OtherSessionsEnded,
    TokenRevoked,
    TotpRemoved,
    CodeFactorOn,
    CodeFactorOff,
}

impl Done {
    pub(crate) const ALL: [Done; 7] = [
        Done::PasswordChanged,
        Done::SessionEnded,
        Done::OtherSessionsEnded,
        Done::TokenRevoked,
        Done::TotpRemoved,
        Done::CodeFactorOn,
        Done::CodeFactorOff,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Done::PasswordChanged => "password-changed",
            Done::SessionEnded => "session-ended",
            Done::OtherSessionsEnded => "other-sessions-ended",
            Done::TokenRevoked => "token-revoked",
            Done::TotpRemoved => "totp-removed",
            Done::CodeFactorOn => "code-factor-on",
            Done::CodeFactorOff => "code-factor-off",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Done> {
        Done::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// The notice's text in the catalogue.
    pub(crate) fn sentence(self) -> M {
        match self {
            Done::PasswordChanged => M::DonePasswordChanged,
            Done::SessionEnded => M::DoneSessionEnded,
            Done::OtherSessionsEnded => M::DoneOtherSessionsEnded,
            Done::TokenRevoked => M::DoneTokenRevoked,
            Done::TotpRemoved => M::DoneTotpRemoved,
            Done::CodeFactorOn => M::DoneCodeFactorOn,
            Done::CodeFactorOff => M::DoneCodeFactorOff,
        }
    }
}

/// The caller, signed in by session cookie only (a bearer token, a personal one above all, is
/// no browser's identity here).
pub(crate) fn signed_in(rt: &Runtime, headers: &HeaderMap, info: &ReqInfo) -> Option<Arc<Identity>> {
    let cookie = crate::identity::cookie_in(
        headers.get_all(header::COOKIE).iter().map(|v| v.as_bytes()),
        &rt.config.session.cookie_name,
    );
    match rt.identity.resolve(None, cookie, &info.tenant, None) {
        Caller::Known(id) => Some(id),
        _ => None,
    }
}

/// 303 to `location`, not stored.
pub(crate) fn see_other(location: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// 303 to the sign-in page, with `rd` back to the account page when that is an allowed target.
pub(crate) fn to_sign_in(rt: &Runtime) -> Response {
    let mut back = rt.config.server.public_url.clone();
    back.set_path(PATH);
    back.set_query(None);
    see_other(&crate::redirect::portal_url(&rt.config, back.as_str(), false))
}

/// `GET /auth/account` for a browser.
async fn show(
    axum::extract::State(s): axum::extract::State<Arc<Shared>>,
    Snapshot(rt): Snapshot,
    info: ReqInfo,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let Some(id) = signed_in(&rt, &headers, &info) else { return to_sign_in(&rt) };
    let fields = super::form_fields(raw.unwrap_or_default().as_bytes());
    let done = fields.get("done").and_then(|d| Done::parse(d));
    let shown = Shown { done, ..Shown::default() };
    let ui = Ui::new(&rt, &info.tenant, &headers);
    account_page(&s, &rt, &ui, &headers, &id, StatusCode::OK, shown).await
}

/// The account page for `id` with `shown` (a notice, an error in a section, a secret shown
/// once), answered with `status`, in the language of `ui`.
pub(crate) async fn account_page(
    s: &Arc<Shared>,
    rt: &Arc<Runtime>,
    ui: &Ui,
    headers: &HeaderMap,
    id: &Arc<Identity>,
    status: StatusCode,
    shown: Shown,
) -> Response {
    let (rt2, svc, id2) = (rt.clone(), s.services.clone(), id.clone());
    let loaded = blocking(move || {
        let user = account::active_user(&svc, &id2)?;
        let tokens = pat_flow::list(&svc, &id2).map_err(|r| match r {
            Refused::Flow(e) => e,
            _ => crate::flows::error::FlowError::NotFound,
        })?;
        let events =
            svc.store.audit_of_user(&user.id, render::EVENTS_SCANNED, render::EVENTS_SHOWN, render::shown_event)?;
        let channels = account::otp_channels(&rt2, &user);
        Ok((user, tokens, events, channels))
    })
    .await;
    let (user, tokens, events, channels) = match loaded {
        Ok(found) => found,
        Err(crate::flows::error::FlowError::Unauthenticated(_)) => return to_sign_in(rt),
        Err(e) => {
            e.log_internal();
            let body = format!(
                "<h1>{}</h1>\n<p class=\"error\" role=\"alert\">{}</p>",
                ui.h(M::YourAccount),
                ui.h(M::AcctUnavailable)
            );
            return html(StatusCode::SERVICE_UNAVAILABLE, ui.page(M::YourAccount, &body), None);
        }
    };
    let csrf = super::existing_csrf(headers).map(str::to_string).unwrap_or_else(crate::sessions::new_secret);
    let data = render::Data {
        user: &user,
        sessions: account::sessions(&s.services, id),
        tokens,
        events,
        channels,
        held_scopes: rt.scopes_of(&user.groups),
    };
    let body = render::page_body(ui, &data, &shown, &csrf);
    html(status, render::account_html(ui, &body), Some(Csrf::new(rt, &csrf)))
}
