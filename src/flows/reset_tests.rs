//! The password reset at fixed instants: one use, expiry at its last second, supersession,
//! nothing stored or sent for nobody, sessions ended, a disabled user refused, the second factor
//! kept.
use super::*;
use crate::flows::links::Delivered;
use crate::flows::register::tests::{world, World, IP, T};
use crate::flows::signin::{password_login, Outcome};
use crate::store::TotpState;

const NEW: &str = "a-new-long-passphrase-7";

pub(crate) fn user(w: &World, email: &str) -> User {
    let u = User {
        id: format!("id-{email}"),
        tenant: "default".into(),
        email: Some(email.into()),
        email_verified: true,
        status: crate::domain::UserStatus::Active,
        ..Default::default()
    };
    w.svc.store.put_user(&u).unwrap();
    u
}

/// The token of the last link mailed to `to` (read from the outbox: no worker runs here).
pub(crate) fn last_token(w: &World, to: &str, marker: &str) -> String {
    let queued = w.svc.store.outbox_due(u64::MAX, 1000).unwrap();
    let m = queued.iter().rev().find(|(_, m)| m.to == to && m.text.contains(marker)).expect("a link went out");
    let rest = &m.1.text[m.1.text.find(marker).unwrap() + marker.len()..];
    rest.split(|c: char| c.is_whitespace()).next().unwrap().to_string()
}

async fn ask(w: &World, who: &str, now: u64) -> Delivered {
    let req = ResetRequest { tenant: "default".into(), identifier: who.into() };
    let a = request(w.rt.clone(), w.svc.clone(), req, IP, Origin::default(), now).unwrap();
    a.work.await.unwrap().unwrap()
}

async fn reset_at(w: &World, token: &str, password: &str, now: u64) -> Result<(), FlowError> {
    let r = Reset { tenant: "default".into(), token: token.into(), identifier: None, new_password: password.into() };
    reset(w.rt.clone(), w.svc.clone(), r, IP, Origin::default(), now).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_link_sets_the_password_once_and_ends_every_session() {
    let w = world("");
    let u = user(&w, "r@example.com");
    let (_, session, _) = w.svc.sessions.create(&u, vec![crate::domain::Amr::Pwd], vec![], 600).unwrap();
    assert_eq!(ask(&w, "R@example.com", T).await, Delivered::Sent { channel: "log".into() });
    let token = last_token(&w, "r@example.com", "reset?token=");
    let stored = w.svc.store.link(LinkPurpose::Reset, "default", &u.id).unwrap().unwrap();
    assert_eq!(stored.hash, crate::sessions::digest_hex(&token), "stored as its SHA-256 only");
    assert_eq!(stored.expires_at, T + 900, "links.reset_ttl defaults to 15 minutes");
    // The password rules come first, and a refused password leaves the link usable.
    let e = reset_at(&w, &token, "short", T + 1).await.unwrap_err();
    assert!(matches!(e, FlowError::Invalid(_)), "{e:?}");
    reset_at(&w, &token, NEW, T + 2).await.unwrap();
    assert!(w.svc.sessions.get(&session.id).is_none(), "the session ended");
    assert!(w.svc.store.sessions().unwrap().is_empty(), "and is gone from the store");
    let phc = w.svc.store.user(&u.id).unwrap().unwrap().password_hash.unwrap();
    assert!(w.svc.hasher.verify(NEW.into(), Some(phc)).await.unwrap().ok);
    let e = reset_at(&w, &token, "another-long-passphrase-8", T + 3).await.unwrap_err();
    assert!(matches!(e, FlowError::InvalidCode), "a link is used once: {e:?}");
    let notices: Vec<String> =
        w.svc.store.outbox_due(u64::MAX, 100).unwrap().into_iter().map(|(_, m)| m.purpose).collect();
    assert_eq!(notices, vec!["reset", "password_changed"], "the user is told");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_link_works_until_its_last_second_and_a_new_one_supersedes_it() {
    let w = world("");
    user(&w, "e@example.com");
    ask(&w, "e@example.com", T).await;
    let first = last_token(&w, "e@example.com", "reset?token=");
    let e = reset_at(&w, &first, NEW, T + 900).await.unwrap_err();
    assert!(matches!(e, FlowError::InvalidCode), "expired at T + ttl: {e:?}");
    ask(&w, "e@example.com", T + 1000).await;
    let second = last_token(&w, "e@example.com", "reset?token=");
    ask(&w, "e@example.com", T + 1001).await;
    let third = last_token(&w, "e@example.com", "reset?token=");
    let e = reset_at(&w, &second, NEW, T + 1002).await.unwrap_err();
    assert!(matches!(e, FlowError::InvalidCode), "superseded: {e:?}");
    reset_at(&w, &third, NEW, T + 1001 + 899).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_disabled_and_unproved_get_nothing_stored_or_sent() {
    let w = world("");
    let mut off = user(&w, "off@example.com");
    off.status = crate::domain::UserStatus::Disabled;
    w.svc.store.put_user(&off).unwrap();
    let unproved = User { email_verified: false, ..user(&w, "unproved@example.com") };
    w.svc.store.put_user(&unproved).unwrap();
    for who in ["nobody@example.com", "off@example.com", "unproved@example.com"] {
        assert_eq!(ask(&w, who, T).await, Delivered::NotSent, "{who}");
    }
    assert!(w.svc.store.links().unwrap().is_empty(), "nothing stored");
    assert!(w.svc.store.outbox_due(u64::MAX, 10).unwrap().is_empty(), "nothing sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_disabled_after_the_link_went_out_cannot_reset() {
    let w = world("");
    let mut u = user(&w, "d@example.com");
    ask(&w, "d@example.com", T).await;
    let token = last_token(&w, "d@example.com", "reset?token=");
    u.status = crate::domain::UserStatus::Disabled;
    w.svc.store.put_user(&u).unwrap();
    let e = reset_at(&w, &token, NEW, T + 1).await.unwrap_err();
    assert!(matches!(e, FlowError::InvalidCode), "{e:?}");
    assert!(w.svc.store.user(&u.id).unwrap().unwrap().password_hash.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_keeps_the_second_factor() {
    let w = world("");
    let mut u = user(&w, "t@example.com");
    u.totp = Some(TotpState { secret: "JBSWY3DPEHPK3PXP".into(), confirmed: true, last_step: None });
    w.svc.store.put_user(&u).unwrap();
    ask(&w, "t@example.com", T).await;
    reset_at(&w, &last_token(&w, "t@example.com", "reset?token="), NEW, T + 1).await.unwrap();
    let signed = password_login(
        w.rt.clone(),
        w.svc.clone(),
        "default".into(),
        "t@example.com".into(),
        NEW.into(),
        IP,
        Origin::default(),
        false,
        T + 2,
    )
    .await
    .unwrap();
    assert!(matches!(signed, Outcome::MfaRequired { .. }), "the next sign-in asks for the second factor");
}
