//! The actions on one user, each behind a confirmation page naming the user (a `GET` of the
//! action's address; the console's script shows it in a dialog): disable, enable, delete, reset
//! MFA, end every session, make or stop being an administrator. A `POST` without the
//! confirmation's `confirm=yes` changes nothing and answers the confirmation page. Ending one
//! session is a plain button on the user's page.

use super::{directory, label, user_href};
use crate::api::admin::users::api_error;
use crate::api::ApiError;
use crate::console::{error_page, html, see_other, Confirm, Console, Fields, Tab};
use crate::flows::users::UserPatch;
use crate::state::Shared;
use crate::store::User;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

/// An action on a user that needs a confirmation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Disable,
    Enable,
    Delete,
    ResetMfa,
    EndSessions,
    MakeAdmin,
    RemoveAdmin,
}

impl Action {
    pub const ALL: [Action; 7] = [
        Action::Disable,
        Action::Enable,
        Action::Delete,
        Action::ResetMfa,
        Action::EndSessions,
        Action::MakeAdmin,
        Action::RemoveAdmin,
    ];

    /// The last segment of the action's address (and its `?done=` after it is done).
    pub fn slug(self) -> &'static str {
        match self {
            Action::Disable => "disable",
            Action::Enable => "enable",
            Action::Delete => "delete",
            Action::ResetMfa => "reset-mfa",
            Action::EndSessions => "end-sessions",
            Action::MakeAdmin => "make-admin",
            Action::RemoveAdmin => "remove-admin",
        }
    }

    fn question(self, who: &str) -> String {
        match self {
            Action::Disable => format!("Disable {who}?"),
            Action::Enable => format!("Enable {who}?"),
            Action::Delete => format!("Delete {who}?"),
            Action::ResetMfa => format!("Reset the second factors of {who}?"),
            Action::EndSessions => format!("End every session of {who}?"),
            Action::MakeAdmin => format!("Make {who} an administrator?"),
            Action::RemoveAdmin => format!("Remove the administrator role from {who}?"),
        }
    }

    fn consequence(self) -> &'static str {
        match self {
            Action::Disable => "They are signed out everywhere at once (sessions, access and refresh tokens, personal tokens) and cannot sign in until enabled again.",
            Action::Enable => "They can sign in again.",
            Action::Delete => "Their account, sessions, tokens, assignments and second factors are removed for good. The audit log keeps its events.",
            Action::ResetMfa => "Their authenticator app and recovery codes are removed; they set up a new one at their next sign-in.",
            Action::EndSessions => "They are signed out on every device and must sign in again.",
            Action::MakeAdmin => "They can sign in to this console and change the directory, applications and settings of this tenant.",
            Action::RemoveAdmin => "They can no longer use this console or the admin API.",
        }
    }

    fn button(self) -> &'static str {
        match self {
            Action::Disable => "Disable user",
            Action::Enable => "Enable user",
            Action::Delete => "Delete user",
            Action::ResetMfa => "Reset MFA",
            Action::EndSessions => "End all sessions",
            Action::MakeAdmin => "Make administrator",
            Action::RemoveAdmin => "Remove administrator",
        }
    }

    /// Runs the action as the administrator of `w` on user `id`.
    fn run(self, w: &crate::console::Work, id: &str) -> Result<(), ApiError> {
        let d = directory(w);
        let now = crate::clock::now_secs();
        let admin = |on: bool| UserPatch { admin: Some(on), ..Default::default() };
        match self {
            Action::Disable => d.set_status(&w.actor, now, &w.tenant, id, false).map(drop),
            Action::Enable => d.set_status(&w.actor, now, &w.tenant, id, true).map(drop),
            Action::Delete => d.delete(&w.actor, &w.tenant, id).map(drop),
            Action::ResetMfa => d.reset_mfa(&w.actor, now, &w.tenant, id).map(drop),
            Action::EndSessions => d.revoke_sessions(&w.actor, &w.tenant, id, None).map(drop),
            Action::MakeAdmin => d.update(&w.actor, now, &w.tenant, id, admin(true)).map(drop),
            Action::RemoveAdmin => d.update(&w.actor, now, &w.tenant, id, admin(false)).map(drop),
        }
        .map_err(api_error)
    }
}

/// The sentence shown after a change (`?done=<slug>` on the page it leads to).
pub fn notice_of(raw: Option<&str>) -> Option<&'static str> {
    let done = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()).find(|(k, _)| k == "done")?.1;
    Some(match done.as_ref() {
        "created" => "User created.",
        "updated" => "Changes saved.",
        "disable" => "User disabled: their sessions and tokens have ended.",
        "enable" => "User enabled.",
        "delete" => "User deleted.",
        "reset-mfa" => "Second factors reset.",
        "end-sessions" => "Every session of the user has ended.",
        "end-session" => "The session has ended.",
        "make-admin" => "The user is now an administrator.",
        "remove-admin" => "The user is no longer an administrator.",
        _ => return None,
    })
}

pub fn routes() -> Router<Arc<Shared>> {
    let mut r = Router::new().route("/auth/admin/directory/users/{id}/sessions/{sid}/end", post(end_session));
    for a in Action::ALL {
        r = r.route(
            &format!("/auth/admin/directory/users/{{id}}/{}", a.slug()),
            get(move |c: Console, Path(id): Path<String>| confirm_page(c, id, a, StatusCode::OK))
                .post(move |c: Console, Path(id): Path<String>, f: Fields| act(c, id, a, f)),
        );
    }
    r
}

fn confirm(c: &Console, u: &User, a: Action) -> Confirm {
    let href = user_href(&u.id);
    Confirm {
        chrome: c.chrome(Tab::Directory, a.question(&label(u))),
        question: a.question(&label(u)),
        consequence: a.consequence().into(),
        action: format!("{href}/{}", a.slug()),
        button: a.button().into(),
        cancel: href,
        hidden: vec![("confirm".into(), "yes".into())],
    }
}

/// The confirmation of `a`, naming the user.
async fn confirm_page(c: Console, id: String, a: Action, status: StatusCode) -> Response {
    match c.run(move |w| directory(w).find(&w.tenant, &id).map_err(api_error)).await {
        Ok(u) => html(status, &confirm(&c, &u, a)),
        Err(e) => error_page(e),
    }
}

/// `POST /users/{id}/<action>`: with `confirm=yes`, does it and shows the user's page (the
/// table after a delete) with a notice; without, changes nothing and asks (400).
async fn act(c: Console, id: String, a: Action, f: Fields) -> Response {
    if f.get("confirm") != "yes" {
        return confirm_page(c, id, a, StatusCode::BAD_REQUEST).await;
    }
    let target = id.clone();
    match c.run(move |w| a.run(w, &target)).await {
        Ok(()) if a == Action::Delete => see_other(&format!("{}?done=delete", Tab::Directory.href())),
        Ok(()) => see_other(&format!("{}?done={}", user_href(&id), a.slug())),
        Err(e) => error_page(e),
    }
}

/// `POST /users/{id}/sessions/{sid}/end`: ends one session of the user.
async fn end_session(c: Console, Path((id, sid)): Path<(String, String)>) -> Response {
    let target = id.clone();
    let ended =
        c.run(move |w| directory(w).revoke_sessions(&w.actor, &w.tenant, &target, Some(&sid)).map_err(api_error)).await;
    match ended {
        Ok(_) => see_other(&format!("{}?done=end-session", user_href(&id))),
        Err(e) => error_page(e),
    }
}
