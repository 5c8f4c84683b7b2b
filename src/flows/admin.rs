//! Who performs an administrative operation, so every change to the directory is an audit event
//! naming its author (docs/http-api.md, admin API): an administrator over `/auth/admin/api`, or
//! an operator at the command line (directly or through the control socket).

use crate::audit::{Audit, EventKind, Origin};
use crate::store::AuditEvent;
use serde_json::Value;

/// The author of an administrative change.
#[derive(Debug, Clone)]
pub enum ActorKind {
    /// A signed-in administrator (user id and the name they are shown by).
    Admin { user_id: String, user: String },
    /// `gatehouse …` with the store opened by the command itself.
    Cli,
    /// `gatehouse …` sent to a running server over its control socket.
    ControlSocket,
}

/// An administrative caller and where the request came from.
#[derive(Debug, Clone)]
pub struct Actor {
    pub kind: ActorKind,
    pub origin: Origin,
}

impl Actor {
    /// How the actor is named in audit events: `admin:<user id>`, `cli` or `control socket`.
    pub fn name(&self) -> String {
        match &self.kind {
            ActorKind::Admin { user_id, .. } => format!("admin:{user_id}"),
            ActorKind::Cli => "cli".into(),
            ActorKind::ControlSocket => "control socket".into(),
        }
    }

    /// The audit event of an administrative change to `subject` (a user id, when the change
    /// concerns one user) in `tenant`; `detail.admin` names the actor.
    pub fn event(&self, kind: EventKind, tenant: Option<&str>, subject: Option<&str>, detail: Value) -> AuditEvent {
        let mut origin = self.origin.clone();
        if tenant.is_some() {
            origin.tenant = tenant.map(str::to_string);
        }
        let mut detail = match detail {
            Value::Object(m) => Value::Object(m),
            Value::Null => Value::Object(Default::default()),
            other => serde_json::json!({ "value": other }),
        };
        detail["admin"] = Value::String(self.name());
        Audit::event(kind, &origin, subject, detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_admin_event_names_its_author() {
        let a = Actor {
            kind: ActorKind::Admin { user_id: "u1".into(), user: "ops@example.com".into() },
            origin: Origin { ip: Some("203.0.113.7".into()), ..Default::default() },
        };
        let e = a.event(EventKind::UserDisabled, Some("default"), Some("u2"), json!({"why": "left"}));
        assert_eq!(e.event, "user_disabled");
        assert_eq!((e.user.as_deref(), e.tenant.as_deref()), (Some("u2"), Some("default")));
        assert_eq!(e.detail, json!({"why": "left", "admin": "admin:u1"}));
        assert_eq!(e.ip.as_deref(), Some("203.0.113.7"));
    }
}
