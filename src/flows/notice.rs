//! Notices to a user about security-relevant changes of their account (docs/http-api.md §5,
//! "Notices"): through the outbox, with the tenant's templates, to the user's own proved
//! address (e-mail first, else SMS, else the development log). A notice carries no secret and
//! no link: it only tells the user what happened and what to do if it was not them.
//!
//! Callers: the password reset (`PasswordChanged`), authenticator enrolment
//! (`SecondFactorAdded`); the account page's address change (`AddressChanged`, to the old
//! address) and personal tokens (`PersonalTokenCreated`) call [`notice`] the same way.

use crate::domain::Purpose;
use crate::flows::error::FlowError;
use crate::flows::services::Services;
use crate::runtime::Runtime;
use crate::store::User;
use serde_json::json;

/// What a notice tells the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Their password was changed (a reset or a change): every session ended.
    PasswordChanged,
    /// A second factor (an authenticator app) was set up.
    SecondFactorAdded,
    /// An address was replaced: the notice goes to the `previous` address (e-mail or mobile),
    /// so the owner of the old one hears of it.
    AddressChanged { previous: String },
    /// A personal API token was created.
    PersonalTokenCreated,
}

impl Notice {
    /// The message template's purpose (`notifiers.templates.<purpose>`).
    pub fn purpose(&self) -> Purpose {
        match self {
            Notice::PasswordChanged => Purpose::PasswordChanged,
            Notice::SecondFactorAdded => Purpose::MfaAdded,
            Notice::AddressChanged { .. } => Purpose::AddressChanged,
            Notice::PersonalTokenCreated => Purpose::TokenCreated,
        }
    }
}

/// The channel and address a notice goes to, if any reaches it.
fn destination(rt: &Runtime, user: &User, kind: &Notice) -> Option<(String, String)> {
    let cfg = &rt.config;
    match kind {
        Notice::AddressChanged { previous } if previous.contains('@') => {
            crate::notify::user_channel(cfg, Some(previous), None, None)
        }
        Notice::AddressChanged { previous } => crate::notify::user_channel(cfg, None, Some(previous), None),
        _ => crate::notify::user_channel(cfg, user.verified_email(), user.verified_mobile(), None),
    }
}

/// Queues the notice `kind` for `user`; `Ok(false)` when no channel reaches them. Blocking (one
/// store write); audited as `notice_queued`.
pub fn notice(rt: &Runtime, svc: &Services, user: &User, kind: Notice, now: u64) -> Result<bool, FlowError> {
    let Some((channel, to)) = destination(rt, user, &kind) else { return Ok(false) };
    let m = crate::flows::links::message(
        rt,
        &crate::flows::links::Message {
            purpose: kind.purpose(),
            tenant: &user.tenant,
            channel: &channel,
            to: &to,
            ttl: 0,
            code: "",
            link: "",
        },
        now,
    );
    svc.store.enqueue(&m)?;
    svc.outbox.wake();
    let origin = crate::audit::Origin { tenant: Some(user.tenant.clone()), ..Default::default() };
    svc.audit.record(crate::audit::Audit::event(
        crate::audit::EventKind::NoticeQueued,
        &origin,
        Some(&user.id),
        json!({"notice": kind.purpose(), "channel": channel}),
    ));
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::register::tests::{world, T};

    #[test]
    fn a_notice_goes_to_the_users_address_and_an_address_change_to_the_old_one() {
        let w = world("");
        let u = User {
            id: "u1".into(),
            tenant: "default".into(),
            email: Some("new@example.com".into()),
            email_verified: true,
            status: crate::domain::UserStatus::Active,
            ..Default::default()
        };
        assert!(notice(&w.rt, &w.svc, &u, Notice::PasswordChanged, T).unwrap());
        let previous = Notice::AddressChanged { previous: "old@example.com".into() };
        assert!(notice(&w.rt, &w.svc, &u, previous, T).unwrap());
        let queued = w.svc.store.outbox_due(T, 10).unwrap();
        let to: Vec<(&str, String)> = queued.iter().map(|(_, m)| (m.to.as_str(), m.purpose.to_string())).collect();
        assert_eq!(
            to,
            vec![
                ("new@example.com", "password_changed".to_string()),
                ("old@example.com", "address_changed".to_string())
            ]
        );
        assert!(queued[0].1.text.contains("password"), "{}", queued[0].1.text);
        let nobody = User { email_verified: false, ..u };
        assert!(!notice(&w.rt, &w.svc, &nobody, Notice::SecondFactorAdded, T).unwrap(), "no proved address");
    }

    /// The account page's hook (`flows::account::notify_user`) queues the notice it names.
    #[test]
    fn the_account_pages_hook_sends_through_here() {
        let w = world("");
        let u = User {
            id: "u2".into(),
            tenant: "default".into(),
            email: Some("pat@example.com".into()),
            email_verified: true,
            status: crate::domain::UserStatus::Active,
            ..Default::default()
        };
        crate::flows::account::notify_user(&w.rt, &w.svc, &u, Notice::PersonalTokenCreated, T);
        let queued = w.svc.store.outbox_due(T, 10).unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!((queued[0].1.to.as_str(), queued[0].1.purpose.as_str()), ("pat@example.com", "token_created"));
    }
}
