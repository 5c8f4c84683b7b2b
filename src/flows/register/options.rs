//! Registration options (issue 11 item 3): a bounded `custom_payload` stored with the account,
//! and `set_cookie` on the confirmation that activates an account, which then signs the new
//! user in like a sign-in (the codes just proved every address the registration gave).

use super::{confirm, Confirmation};
use crate::audit::{Audit, EventKind, Origin};
use crate::domain::Amr;
use crate::flows::error::FlowError;
use crate::flows::issue::{issue_from, SignedIn};
use crate::flows::services::{blocking, Services};
use crate::runtime::Runtime;
use crate::store::MAX_CUSTOM_PAYLOAD;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::Arc;

/// A `custom_payload`: a JSON object of at most [`MAX_CUSTOM_PAYLOAD`] bytes (compact JSON).
pub fn check_payload(v: Value) -> Result<Value, FlowError> {
    if !v.is_object() {
        return Err(FlowError::Invalid("custom_payload must be a JSON object".into()));
    }
    let size = serde_json::to_vec(&v).map(|b| b.len()).unwrap_or(usize::MAX);
    if size > MAX_CUSTOM_PAYLOAD {
        return Err(FlowError::Invalid(format!(
            "custom_payload may take at most {MAX_CUSTOM_PAYLOAD} bytes as JSON (it takes {size}): store less"
        )));
    }
    Ok(v)
}

/// What a confirmation answered, and the new session when it activated the account and
/// `set_cookie` asked for one.
pub struct Confirmed {
    pub body: Value,
    pub signed: Option<SignedIn>,
}

/// [`confirm`], then, with `set_cookie` and an account it just activated, a session for it
/// (`amr` of the confirmed code: `otp` for e-mail, `sms` for a mobile); the answer gains the
/// token set of a sign-in.
pub async fn confirm_and_sign_in(
    rt: Arc<Runtime>,
    svc: Arc<Services>,
    c: Confirmation,
    set_cookie: bool,
    ip: IpAddr,
    origin: Origin,
    now: u64,
) -> Result<Confirmed, FlowError> {
    let amr = if c.source == "mobile" { Amr::Sms } else { Amr::Otp };
    let mut body = confirm(rt.clone(), svc.clone(), c, ip, origin.clone(), now).await?;
    let user_id = body["user"]["id"].as_str().map(str::to_string);
    let (true, true, Some(user_id)) = (set_cookie, body["active"] == json!(true), user_id) else {
        return Ok(Confirmed { body, signed: None });
    };
    let signed = blocking(move || {
        let user = svc.store.user(&user_id)?.filter(|u| u.is_active()).ok_or(FlowError::InvalidCode)?;
        let signed = issue_from(&rt, &svc, &user, vec![amr], &origin)?;
        let detail = json!({"method": "register", "session": signed.session.id});
        svc.audit.record(Audit::event(EventKind::LoginOk, &origin, Some(&user.id), detail));
        Ok(signed)
    })
    .await?;
    if let (Some(out), Some(tokens)) = (body.as_object_mut(), signed.body.as_object()) {
        for (k, v) in tokens.iter().filter(|(k, _)| *k != "user") {
            out.insert(k.clone(), v.clone());
        }
    }
    Ok(Confirmed { body, signed: Some(signed) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::register::tests::{world, World, IP, T};
    use crate::flows::register::{register, Registration};

    fn reg(email: &str, password: Option<&str>, payload: Option<Value>) -> Registration {
        Registration {
            tenant: "default".into(),
            email: Some(email.into()),
            password: password.map(str::to_string),
            custom_payload: payload,
            ..Default::default()
        }
    }

    async fn code_of(w: &World, r: Registration) -> String {
        let sent = register(w.rt.clone(), w.svc.clone(), r, IP, Origin::default(), T).await.unwrap();
        sent.dev_code.expect("dev_show_codes")
    }

    async fn confirm_at(w: &World, email: &str, code: &str, set_cookie: bool) -> Result<Confirmed, FlowError> {
        let c = Confirmation {
            tenant: "default".into(),
            source: "email".into(),
            identifier: email.into(),
            code: code.into(),
        };
        confirm_and_sign_in(w.rt.clone(), w.svc.clone(), c, set_cookie, IP, Origin::default(), T + 1).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn set_cookie_signs_in_the_account_its_confirmation_activates() {
        let w = world("");
        let code = code_of(&w, reg("c@example.com", Some("orange-kettle-77"), Some(json!({"plan": "pro"})))).await;
        let done = confirm_at(&w, "c@example.com", &code, true).await.unwrap();
        let signed = done.signed.expect("a session");
        assert_eq!(signed.session.amr, vec![Amr::Otp]);
        assert_eq!(done.body["active"], true);
        assert_eq!(done.body["access_token"], signed.body["access_token"]);
        assert!(w.svc.sessions.by_secret(&signed.cookie).is_some());
        let u = w.svc.store.find_user("default", "c@example.com").unwrap().unwrap();
        assert_eq!(u.custom_payload, Some(json!({"plan": "pro"})), "stored with the account");
        // Without set_cookie: no session, the answer as before.
        let code = code_of(&w, reg("d@example.com", Some("orange-kettle-77"), None)).await;
        let done = confirm_at(&w, "d@example.com", &code, false).await.unwrap();
        assert!(done.signed.is_none() && done.body.get("access_token").is_none());
        assert_eq!(w.svc.sessions.count(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn set_cookie_waits_for_the_last_source_and_a_wrong_code_signs_in_nobody() {
        let w = world("");
        let mut r = reg("two@example.com", None, None);
        r.mobile = Some("+15550003333".into());
        let codes = code_of(&w, r).await;
        let (email_code, sms_code) = codes.split_once(',').unwrap();
        assert!(confirm_at(&w, "two@example.com", "000000x", true).await.is_err());
        let done = confirm_at(&w, "two@example.com", email_code, true).await.unwrap();
        assert!(done.signed.is_none() && done.body["active"] == false, "still pending the mobile");
        let c = Confirmation {
            tenant: "default".into(),
            source: "mobile".into(),
            identifier: "+15550003333".into(),
            code: sms_code.into(),
        };
        let done =
            confirm_and_sign_in(w.rt.clone(), w.svc.clone(), c, true, IP, Origin::default(), T + 2).await.unwrap();
        assert_eq!(done.signed.unwrap().session.amr, vec![Amr::Sms]);
        let u = w.svc.store.find_user("default", "two@example.com").unwrap().unwrap();
        assert!(u.password_hash.is_none(), "registered without a password");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tenant_may_require_a_password_and_a_payload_is_checked_first() {
        let w = world("  - {id: strict, hosts: ['strict.test'], self_registration: true, require_password: true}\n");
        let mut r = reg("p@example.com", None, None);
        r.tenant = "strict".into();
        let e = register(w.rt.clone(), w.svc.clone(), r, IP, Origin::default(), T).await.err().unwrap();
        assert!(matches!(e, FlowError::Invalid(m) if m.contains("password")));
        let r = reg("q@example.com", Some("orange-kettle-77"), Some(json!(["not", "an", "object"])));
        let e = register(w.rt.clone(), w.svc.clone(), r, IP, Origin::default(), T).await.err().unwrap();
        assert!(matches!(e, FlowError::Invalid(m) if m.contains("custom_payload")));
        assert!(w.svc.store.address_holder("default", "email", "q@example.com").unwrap().is_none(), "nothing stored");
    }

    #[test]
    fn a_payload_is_an_object_of_bounded_size() {
        assert_eq!(check_payload(json!({"plan": "pro"})).unwrap(), json!({"plan": "pro"}));
        for bad in [json!([1]), json!("x"), json!(null), json!(3)] {
            assert!(matches!(check_payload(bad), Err(FlowError::Invalid(m)) if m.contains("JSON object")));
        }
        // {"k":"…"} is 8 bytes around the string.
        let fits = json!({"k": "a".repeat(MAX_CUSTOM_PAYLOAD - 8)});
        assert!(check_payload(fits).is_ok());
        let over = json!({"k": "a".repeat(MAX_CUSTOM_PAYLOAD - 7)});
        assert!(matches!(check_payload(over), Err(FlowError::Invalid(m)) if m.contains("4096")));
    }
}
