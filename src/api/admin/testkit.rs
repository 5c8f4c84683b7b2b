//! What the admin API's `oneshot` tests share: an admin session started directly (as a
//! sign-in with two factors would), the headers a request sends with it, and waiting for an
//! audit event.

use crate::domain::{Amr, SessionKind};
use crate::sessions::{admin_csrf, Device};
use crate::state::Shared;
use crate::store::User;

/// The `Cookie` value of a new admin session of `u`, signed in with a password and TOTP. For a
/// `u` who is no administrator: the session of one who lost the role after signing in (the
/// store refuses to start one for a non-administrator).
pub(crate) fn admin_session(s: &Shared, u: &User) -> String {
    let set_admin = |admin: bool| {
        let changed = s.services.store.update_user(&u.id, |x| {
            x.admin = admin;
            Ok::<_, String>(())
        });
        changed.expect("store").expect("user");
    };
    if !u.admin {
        set_admin(true);
    }
    let started = s
        .services
        .sessions
        .start(SessionKind::Admin, u, vec![Amr::Pwd, Amr::Totp], vec![], 600, None, Device::default())
        .unwrap();
    if !u.admin {
        set_admin(false);
    }
    let (secret, _, _) = started;
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

/// The newest audit event of kind `event`, waiting (bounded) for the audit writer to store it.
pub(crate) async fn audited(s: &Shared, event: &str) -> crate::store::AuditEvent {
    for _ in 0..400 {
        if let Some(e) = s.services.store.audit(1000).unwrap().into_iter().find(|e| e.event == event) {
            return e;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("no {event} event");
}
