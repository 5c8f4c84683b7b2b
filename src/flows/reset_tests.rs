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
    let (_, pat) = w.svc.pats.create(&u, "script".into(), vec![], 3600, 20, T).unwrap().unwrap();
    assert!(w.svc.pats.resolve(&pat, "default", T).is_some());
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
    assert!(w.svc.pats.resolve(&pat, "default", T + 2).is_none(), "personal tokens end with a reset");
    assert!(w.svc.pats.list(&u.id).unwrap().is_empty(), "and are gone from the store");
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

/// A wrong SMS reset code costs the same writes whether the identifier has a live code, an
/// account without one, or no account: it is counted on the failure budget only (regulation on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_reset_code_costs_the_same_writes_for_everybody() {
    let w = world("");
    let u = user(&w, "c@example.com");
    user(&w, "n@example.com");
    let key = link_key(LinkPurpose::Reset, "default", &u.id);
    let hash = otp::code_hash(&w.rt.tokens().root().code_key, &key, "123456");
    let mut rec = crate::flows::links::link_record(LinkPurpose::Reset, "default", &u.id, hash, "sms", 300, T);
    (rec.code, rec.max_attempts) = (true, 5);
    w.svc.store.put_link(&rec, None).unwrap();
    let mut costs = vec![];
    for (i, who) in ["c@example.com", "n@example.com", "nobody@example.com"].iter().enumerate() {
        let before = w.svc.store.write_transactions();
        let r = Reset {
            tenant: "default".into(),
            token: "654321".into(),
            identifier: Some(who.to_string()),
            new_password: NEW.into(),
        };
        let e = reset(w.rt.clone(), w.svc.clone(), r, IP, Origin::default(), T + 1).await.unwrap_err();
        assert!(matches!(e, FlowError::InvalidCode), "{who}: {e:?}");
        for _ in 0..400 {
            if w.svc.store.audit(100).unwrap().len() > i {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        costs.push(w.svc.store.write_transactions() - before);
    }
    assert_eq!(costs, vec![costs[0]; 3], "live code, no code, no account");
    let r = Reset {
        tenant: "default".into(),
        token: "123456".into(),
        identifier: Some("c@example.com".into()),
        new_password: NEW.into(),
    };
    reset(w.rt.clone(), w.svc.clone(), r, IP, Origin::default(), T + 2).await.unwrap();
}

/// The holder of a taken-over account keeps asking for personal tokens while the owner resets
/// the password: a request signed in when it arrived, whose work runs after the reset ended its
/// session (the blocking pool was busy), must leave no token behind that outlives the reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_asked_for_by_a_session_the_reset_ended_is_not_made() {
    use crate::flows::account::{Refused, Who};
    use crate::flows::personal_tokens::{create, NewToken};
    let w = world("");
    let u = user(&w, "h@example.com");
    // The request resolved its caller...
    let (_, _, id) = w.svc.sessions.create(&u, vec![crate::domain::Amr::Pwd], vec![], 600).unwrap();
    // ...then the owner's reset completed...
    ask(&w, "h@example.com", T).await;
    let token = last_token(&w, "h@example.com", "reset?token=");
    reset_at(&w, &token, NEW, T + 1).await.unwrap();
    // ...and only now does the request's work run.
    let origin = Origin::default();
    let who = Who { id: &id, ip: IP, origin: &origin };
    let asked = NewToken { name: "persistence".into(), ..Default::default() };
    let e = create(&w.rt, &w.svc, &who, asked, T + 2).unwrap_err();
    assert!(matches!(e, Refused::Flow(FlowError::Unauthenticated(_))), "{e:?}");
    assert!(w.svc.pats.list(&u.id).unwrap().is_empty(), "nothing stored");
    assert_eq!(w.svc.pats.count(), 0, "nothing usable at the gateway");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_ends_the_sign_in_and_second_factor_codes_sent_before_it() {
    use crate::domain::Purpose;
    use crate::flows::otp::code_key;
    let w = world("");
    let u = user(&w, "c@example.com");
    let other = user(&w, "d@example.com");
    let code = |expires_at| crate::store::CodeRecord {
        hash: "00".into(),
        expires_at,
        attempts: 0,
        max_attempts: 5,
        created_at: T,
        channel: "email".into(),
    };
    let mine_login = code_key(Purpose::Login, "default", "", &format!("user:{}", u.id));
    let mine_mfa = code_key(Purpose::Mfa, "default", "", &format!("user:{}", u.id));
    let mine_app = code_key(Purpose::Login, "default", "wiki", &format!("user:{}", u.id));
    let theirs = code_key(Purpose::Login, "default", "", &format!("user:{}", other.id));
    for k in [&mine_login, &mine_mfa, &mine_app, &theirs] {
        w.svc.store.put_code(k, &code(T + 300), None).unwrap();
    }
    ask(&w, "c@example.com", T).await;
    let token = last_token(&w, "c@example.com", "reset?token=");
    reset_at(&w, &token, NEW, T + 1).await.unwrap();
    for k in [&mine_login, &mine_mfa, &mine_app] {
        assert!(w.svc.store.code(k).unwrap().is_none(), "a code sent before the reset is gone: {k:?}");
    }
    assert!(w.svc.store.code(&theirs).unwrap().is_some(), "another user's code stays");
}
