//! Proving and changing addresses at fixed instants: a link is one use and expires, the proof
//! holds for its exact address, a change waits for its proof and tells the old address, a
//! taken address gets nothing, a mobile code counts wrong attempts.
use super::*;
use crate::flows::register::tests::{world, World, IP, T};
use crate::flows::reset::tests::{last_token, user};
use crate::identity::Identity;

const MARK: &str = "/auth/email/verify/";

/// The identity of a live session signed in at `T` (a change of address needs a recent one).
fn identity(w: &World, u: &User) -> Identity {
    let session = crate::store::Session {
        id: format!("s-{}", u.id),
        user_id: u.id.clone(),
        tenant: u.tenant.clone(),
        created_at: T,
        last_seen: T,
        expires_at: T + 3600,
        ..Default::default()
    };
    let id = crate::sessions::identity_for(u, &session, vec![]);
    w.svc.sessions.insert_for_tests(session, id.clone());
    id
}

async fn ask(w: &World, u: &User, field: AddressField, target: Target, now: u64) -> Result<Delivered, FlowError> {
    let id = identity(w, u);
    let origin = Origin::default();
    let who = Who { id: &id, ip: IP, origin: &origin };
    let a = request(w.rt.clone(), w.svc.clone(), &who, field, target, now)?;
    Ok(a.work.await.unwrap().unwrap())
}

fn open(w: &World, token: &str, now: u64) -> Result<Done, FlowError> {
    confirm_link(&w.rt, &w.svc, "default", token, &Origin::default(), now)
}

fn code_to(w: &World, to: &str) -> String {
    let queued = w.svc.store.outbox_due(u64::MAX, 1000).unwrap();
    queued.iter().rev().find(|(_, m)| m.to == to).and_then(|(_, m)| m.code.clone()).expect("a code went out")
}

fn unproved(w: &World, email: &str) -> User {
    let u = User { email_verified: false, ..user(w, email) };
    w.svc.store.put_user(&u).unwrap();
    u
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_link_verifies_its_address_once_until_it_expires() {
    let w = world("");
    let u = unproved(&w, "v@example.com");
    assert_eq!(
        ask(&w, &u, AddressField::Email, Target::Current, T).await.unwrap(),
        Delivered::Sent { channel: "log".into() }
    );
    let rec = w.svc.store.link(LinkPurpose::VerifyEmail, "default", &u.id).unwrap().unwrap();
    assert_eq!((rec.address.as_deref(), rec.expires_at), (Some("v@example.com"), T + 86_400), "links.verify_ttl");
    let token = last_token(&w, "v@example.com", MARK);
    assert!(!token.contains("example"), "the address is in the record, not the link");
    // Expired at its ttl (a read, nothing changes); a new one works once.
    assert!(matches!(open(&w, &token, T + 86_400), Err(FlowError::InvalidCode)));
    ask(&w, &u, AddressField::Email, Target::Current, T + 1).await.unwrap();
    let token = last_token(&w, "v@example.com", MARK);
    let done = open(&w, &token, T + 2).unwrap();
    assert_eq!(done, Done { field: AddressField::Email, address: "v@example.com".into(), changed: false });
    assert_eq!(w.svc.store.user(&u.id).unwrap().unwrap().verified_email(), Some("v@example.com"));
    assert!(matches!(open(&w, &token, T + 3), Err(FlowError::InvalidCode)), "one use");
    // Verified now: asking again is refused, before anything is sent.
    let again = ask(&w, &w.svc.store.user(&u.id).unwrap().unwrap(), AddressField::Email, Target::Current, T + 4).await;
    assert!(matches!(again, Err(FlowError::Invalid(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_email_replaces_the_old_only_once_proved_and_the_old_is_told() {
    let w = world("");
    let u = user(&w, "old@example.com");
    ask(&w, &u, AddressField::Email, Target::New(" new@EXAMPLE.com ".into()), T).await.unwrap();
    let held = w.svc.store.user(&u.id).unwrap().unwrap();
    assert_eq!(held.verified_email(), Some("old@example.com"), "unchanged until proved");
    let token = last_token(&w, "new@example.com", MARK);
    let done = open(&w, &token, T + 1).unwrap();
    assert!(done.changed && done.address == "new@example.com");
    let now = w.svc.store.user(&u.id).unwrap().unwrap();
    assert_eq!(now.verified_email(), Some("new@example.com"));
    let queued = w.svc.store.outbox_due(u64::MAX, 1000).unwrap();
    let told = queued.iter().find(|(_, m)| m.to == "old@example.com").expect("the old address is told");
    assert_eq!(told.1.purpose, "address_changed");
    assert!(w.svc.store.find_user("default", "old@example.com").unwrap().is_none(), "the old address is free");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_another_account_holds_gets_nothing_and_a_stale_proof_changes_nothing() {
    let w = world("");
    let u = user(&w, "me@example.com");
    unproved(&w, "theirs@example.com");
    let before = w.svc.store.outbox_due(u64::MAX, 1000).unwrap().len();
    let sent = ask(&w, &u, AddressField::Email, Target::New("theirs@example.com".into()), T).await.unwrap();
    assert_eq!(sent, Delivered::NotSent, "same answer to the caller (202), nothing sent");
    assert_eq!(w.svc.store.outbox_due(u64::MAX, 1000).unwrap().len(), before);
    assert!(w.svc.store.links().unwrap().is_empty(), "nothing stored");
    // A proof of an address that another account took meanwhile changes nothing.
    ask(&w, &u, AddressField::Email, Target::New("race@example.com".into()), T).await.unwrap();
    let token = last_token(&w, "race@example.com", MARK);
    unproved(&w, "race@example.com");
    assert!(matches!(open(&w, &token, T + 1), Err(FlowError::Invalid(_))));
    assert_eq!(w.svc.store.user(&u.id).unwrap().unwrap().verified_email(), Some("me@example.com"));
    // A bad address is refused before anything.
    assert!(matches!(ask(&w, &u, AddressField::Email, Target::New("no".into()), T).await, Err(FlowError::Invalid(_))));
    assert!(matches!(ask(&w, &u, AddressField::Mobile, Target::New("12".into()), T).await, Err(FlowError::Invalid(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mobile_is_proved_by_code_with_attempts_and_a_change_tells_the_old_number() {
    let w = world("regulation: {enabled: false}\n");
    let mut u = user(&w, "m@example.com");
    u.mobile = Some("+15550001111".into());
    w.svc.store.put_user(&u).unwrap();
    let id = identity(&w, &u);
    let origin = Origin::default();
    let who = Who { id: &id, ip: IP, origin: &origin };
    ask(&w, &u, AddressField::Mobile, Target::Current, T).await.unwrap();
    let code = code_to(&w, "+15550001111");
    let rec = w.svc.store.link(LinkPurpose::VerifyMobile, "default", &u.id).unwrap().unwrap();
    assert!(rec.code && rec.hash != code && rec.expires_at == T + 300, "stored as an HMAC, lives otp.ttl");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert!(matches!(confirm_code(&w.rt, &w.svc, &who, wrong, T + 1), Err(FlowError::InvalidCode)));
    let done = confirm_code(&w.rt, &w.svc, &who, &code, T + 2).unwrap();
    assert_eq!((done.address.as_str(), done.changed), ("+15550001111", false));
    assert!(matches!(confirm_code(&w.rt, &w.svc, &who, &code, T + 3), Err(FlowError::InvalidCode)), "one use");
    // A change: the new number's code replaces it; the old number is told.
    let u = w.svc.store.user(&u.id).unwrap().unwrap();
    ask(&w, &u, AddressField::Mobile, Target::New("+15550002222".into()), T + 10).await.unwrap();
    assert_eq!(w.svc.store.user(&u.id).unwrap().unwrap().verified_mobile(), Some("+15550001111"));
    for _ in 0..3 {
        let _ = confirm_code(&w.rt, &w.svc, &who, wrong, T + 11);
    }
    let code = code_to(&w, "+15550002222");
    assert!(matches!(confirm_code(&w.rt, &w.svc, &who, &code, T + 12), Err(FlowError::CodeLocked)), "otp.max_attempts");
    ask(&w, &u, AddressField::Mobile, Target::New("+15550002222".into()), T + 20).await.unwrap();
    let code = code_to(&w, "+15550002222");
    assert!(confirm_code(&w.rt, &w.svc, &who, &code, T + 21).unwrap().changed);
    assert_eq!(w.svc.store.user(&u.id).unwrap().unwrap().verified_mobile(), Some("+15550002222"));
    let queued = w.svc.store.outbox_due(u64::MAX, 1000).unwrap();
    assert!(queued.iter().any(|(_, m)| m.to == "+15550001111" && m.purpose == "address_changed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_refreshes_what_live_sessions_tell_apps() {
    let w = world("");
    let u = unproved(&w, "s@example.com");
    let signed = crate::flows::issue::issue(&w.rt, &w.svc, &u, vec![crate::domain::Amr::Pwd]).unwrap();
    assert_eq!(w.svc.sessions.by_secret(&signed.cookie).unwrap().email, "", "unproved: not emitted");
    ask(&w, &u, AddressField::Email, Target::Current, T).await.unwrap();
    open(&w, &last_token(&w, "s@example.com", MARK), T + 1).unwrap();
    assert_eq!(w.svc.sessions.by_secret(&signed.cookie).unwrap().email, "s@example.com");
}

/// A reset takes an account back: it drops every live link of the user (`Store::drop_links`),
/// so an address change whoever held the session asked for dies with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_ends_a_pending_address_proof() {
    let w = world("");
    let u = user(&w, "owner@example.com");
    ask(&w, &u, AddressField::Email, Target::New("thief@example.com".into()), T).await.unwrap();
    let token = last_token(&w, "thief@example.com", MARK);
    w.svc.store.drop_links("default", &u.id).unwrap();
    assert!(matches!(open(&w, &token, T + 1), Err(FlowError::InvalidCode)));
    assert_eq!(w.svc.store.user(&u.id).unwrap().unwrap().verified_email(), Some("owner@example.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_of_address_needs_a_recent_sign_in() {
    use crate::flows::personal_tokens::FRESH_SIGN_IN_SECS;
    let w = world("");
    let u = user(&w, "old@example.com");
    // A session (a cookie or access token, perhaps stolen) signed in too long ago cannot move
    // the address to the thief's (and then reset the password there): refused, nothing sent.
    let late = T + FRESH_SIGN_IN_SECS + 1;
    let refused = ask(&w, &u, AddressField::Email, Target::New("thief@example.com".into()), late).await;
    assert!(matches!(refused, Err(FlowError::Unauthenticated(_))));
    assert!(w.svc.store.link(LinkPurpose::VerifyEmail, "default", &u.id).unwrap().is_none(), "nothing stored");
    let refused = ask(&w, &u, AddressField::Mobile, Target::New("+15550009999".into()), late).await;
    assert!(matches!(refused, Err(FlowError::Unauthenticated(_))));
    // Within the window it goes out.
    let sent = ask(&w, &u, AddressField::Email, Target::New("new@example.com".into()), T + FRESH_SIGN_IN_SECS).await;
    assert!(matches!(sent, Ok(Delivered::Sent { .. })));
}
