use super::*;

/// Each step words a failure for its own page; the enrolment page as the JSON API does.
#[test]
fn refusals_are_worded_per_step() {
    let busy = FlowError::Busy;
    assert_eq!(refusal_in(Step::Password, &busy).0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refusal_in(Step::CodeEntry, &FlowError::Invalid("x".into())).0, StatusCode::UNAUTHORIZED);
    assert_eq!(refusal_in(Step::CodeEntry, &FlowError::CodeLocked).0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refusal_in(Step::MfaCode, &busy), (StatusCode::UNAUTHORIZED, M::SignInCannotContinue));
    assert_eq!(
        refusal_in(Step::MfaSend, &FlowError::RateLimited(std::time::Duration::ZERO)).0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(refusal_in(Step::Enrol, &busy).1, M::Busy);
}

#[test]
fn escaping() {
    assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}

#[test]
fn the_form_escapes_what_it_echoes() {
    let f = password_form(&Ui::of(Lang::En), Some("https://a.test/?q=\"><script>"), "tok", "<b>", Some("<i>"), true);
    assert!(!f.contains("<script>") && !f.contains("<b>") && !f.contains("<i>"));
    assert!(f.contains(r#"name="csrf" value="tok""#));
}

/// A refused form answers 403 with a page that says what happened and where to start again.
#[tokio::test]
async fn a_refused_form_says_where_to_start_again() {
    use http_body_util::BodyExt;
    let en = Ui::of(Lang::En);
    let totp = (M::AuthenticatorApp, "/auth/mfa/totp", M::LinkStartAgain);
    for ((title, href, again), r) in
        [(SIGN_IN_AGAIN, form_expired_in(&en, SIGN_IN_AGAIN)), (totp, form_expired_in(&en, totp))]
    {
        let (title, again) = (en.t(title), en.t(again));
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let body = r.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains(&format!("<h1>{title}</h1>")), "{text}");
        assert!(text.contains(&format!("<a href=\"{href}\">{again}</a>")), "{text}");
        assert!(text.contains("expired or was sent from another site"), "{text}");
    }
}

/// A step-up after a code or a sign-in link by e-mail never offers a second code by e-mail (the
/// same mailbox is not a second factor); after a code by SMS, never one by SMS.
#[test]
fn a_step_up_avoids_the_first_factors_channel() {
    use crate::domain::Amr;
    use crate::notify::AddressKind;
    assert_eq!(first_factor_channel(&[Amr::Email]), Some(AddressKind::Email));
    assert_eq!(first_factor_channel(&[Amr::Otp]), Some(AddressKind::Email));
    assert_eq!(first_factor_channel(&[Amr::Sms]), Some(AddressKind::Phone));
    assert_eq!(first_factor_channel(&[Amr::Pwd]), None);
}
