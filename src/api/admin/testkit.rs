//! What the admin API's `oneshot` tests share: an admin session started directly (as a
//! sign-in with two factors would), and the headers a request sends with it.

use crate::domain::{Amr, SessionKind};
use crate::sessions::{admin_csrf, Device};
use crate::state::Shared;
use crate::store::User;

/// The `Cookie` value of a new admin session of `u`, signed in with a password and TOTP.
pub(crate) fn admin_session(s: &Shared, u: &User) -> String {
    let (secret, _, _) = s
        .services
        .sessions
        .start(SessionKind::Admin, u, vec![Amr::Pwd, Amr::Totp], vec![], 600, None, Device::default())
        .unwrap();
    format!("{}={secret}", crate::config::ADMIN_COOKIE)
}

/// The headers of a request with `cookie` (none when empty): the cookie, and with an admin
/// session's cookie its CSRF token, as the console sends them.
pub(crate) fn auth_headers(cookie: &str) -> Vec<(&'static str, String)> {
    let mut h = vec![];
    if cookie.is_empty() {
        return h;
    }
    h.push(("cookie", cookie.to_string()));
    if let Some(secret) = cookie.strip_prefix(&format!("{}=", crate::config::ADMIN_COOKIE)) {
        h.push((crate::api::admin::session::CSRF_HEADER, admin_csrf(secret)));
    }
    h
}
