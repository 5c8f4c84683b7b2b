//! Sign-in links at fixed instants: one use, expiry, supersession, `rd` only when allowed, the
//! `amr` of a link, the second factor after it, nothing for an unproved address.
use super::*;
use crate::flows::links::Delivered;
use crate::flows::register::tests::{world, World, IP, T};
use crate::flows::reset::tests::{last_token, user};
use crate::store::TotpState;

async fn ask(w: &World, email: &str, rd: Option<&str>, now: u64) -> Delivered {
    let req = LinkRequest { tenant: "default".into(), email: email.into(), rd: rd.map(str::to_string) };
    let a = request(w.rt.clone(), w.svc.clone(), req, IP, Origin::default(), now).unwrap();
    a.work.await.unwrap().unwrap()
}

async fn use_at(w: &World, token: &str, now: u64) -> Result<LinkSignIn, FlowError> {
    sign_in(w.rt.clone(), w.svc.clone(), "default".into(), token.into(), false, IP, Origin::default(), now).await
}

const MARK: &str = "/auth/magic-link/";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_signs_in_once_with_its_own_amr_until_it_expires() {
    let w = world("session: {allowed_redirect_domains: [example.com]}\n");
    user(&w, "m@example.com");
    assert_eq!(
        ask(&w, "m@example.com", Some("https://app.example.com/x"), T).await,
        Delivered::Sent { channel: "log".into() }
    );
    let token = last_token(&w, "m@example.com", MARK);
    let done = use_at(&w, &token, T + 599).await.unwrap();
    assert_eq!(done.rd.as_deref(), Some("https://app.example.com/x"), "an allowed rd is kept");
    let Outcome::SignedIn(s) = done.outcome else { panic!("no second factor: signed in") };
    assert_eq!(s.session.amr, vec![crate::domain::Amr::Email]);
    assert!(matches!(use_at(&w, &token, T + 599).await, Err(FlowError::InvalidCode)), "one use");
    ask(&w, "m@example.com", Some("https://evil.test/"), T + 700).await;
    let token = last_token(&w, "m@example.com", MARK);
    assert!(matches!(use_at(&w, &token, T + 1300).await, Err(FlowError::InvalidCode)), "expired at T + magic_ttl");
    ask(&w, "m@example.com", Some("https://evil.test/"), T + 2000).await;
    let older = last_token(&w, "m@example.com", MARK);
    ask(&w, "m@example.com", Some("https://evil.test/"), T + 2001).await;
    let newer = last_token(&w, "m@example.com", MARK);
    assert!(matches!(use_at(&w, &older, T + 2002).await, Err(FlowError::InvalidCode)), "superseded");
    assert_eq!(use_at(&w, &newer, T + 2002).await.unwrap().rd, None, "an rd outside the allow-list is dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_is_one_factor_and_only_a_proved_address_gets_one() {
    let w = world("");
    let mut u = user(&w, "two@example.com");
    u.totp = Some(TotpState { secret: "JBSWY3DPEHPK3PXP".into(), confirmed: true, last_step: None });
    w.svc.store.put_user(&u).unwrap();
    ask(&w, "two@example.com", None, T).await;
    let done = use_at(&w, &last_token(&w, "two@example.com", MARK), T + 1).await.unwrap();
    assert!(matches!(done.outcome, Outcome::MfaRequired { .. }), "the second factor follows a link");
    let unproved = User { email_verified: false, ..user(&w, "unproved@example.com") };
    w.svc.store.put_user(&unproved).unwrap();
    let before = w.svc.store.outbox_due(u64::MAX, 100).unwrap().len();
    assert_eq!(ask(&w, "unproved@example.com", None, T).await, Delivered::NotSent);
    assert_eq!(ask(&w, "nobody@example.com", None, T).await, Delivered::NotSent);
    assert_eq!(w.svc.store.outbox_due(u64::MAX, 100).unwrap().len(), before, "nothing sent");
    assert!(w.svc.store.links().unwrap().is_empty(), "nothing stored (the used link is gone too)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_disabled_after_the_link_went_out_cannot_use_it() {
    let w = world("");
    let mut u = user(&w, "gone@example.com");
    ask(&w, "gone@example.com", None, T).await;
    let token = last_token(&w, "gone@example.com", MARK);
    u.status = crate::domain::UserStatus::Disabled;
    w.svc.store.put_user(&u).unwrap();
    assert!(matches!(use_at(&w, &token, T + 1).await, Err(FlowError::InvalidCode)));
    assert!(w.svc.sessions.get("any").is_none() && w.svc.store.sessions().unwrap().is_empty(), "no session");
}

/// Whoever read the owner's mailbox asked for a sign-in link and kept it; the owner, mailbox
/// back, resets the password: the kept link must not sign in after the reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_ends_a_sign_in_link_asked_for_before_it() {
    let w = world("");
    user(&w, "k@example.com");
    ask(&w, "k@example.com", None, T).await;
    let kept = last_token(&w, "k@example.com", MARK);
    let req = crate::flows::reset::ResetRequest { tenant: "default".into(), identifier: "k@example.com".into() };
    let a = crate::flows::reset::request(w.rt.clone(), w.svc.clone(), req, IP, Origin::default(), T + 1).unwrap();
    a.work.await.unwrap().unwrap();
    let token = last_token(&w, "k@example.com", "reset?token=");
    let r = crate::flows::reset::Reset {
        tenant: "default".into(),
        token,
        identifier: None,
        new_password: "a-new-long-passphrase-7".into(),
    };
    crate::flows::reset::reset(w.rt.clone(), w.svc.clone(), r, IP, Origin::default(), T + 2).await.unwrap();
    assert!(matches!(use_at(&w, &kept, T + 3).await, Err(FlowError::InvalidCode)), "the kept link is dead");
    assert!(w.svc.store.links().unwrap().is_empty(), "and gone from the store");
}
