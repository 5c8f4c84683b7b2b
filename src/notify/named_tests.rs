//! What each named provider is sent (the e2e test `providers::` sends them to recorders).

use super::*;

fn msg(to: &str, code: Option<&str>) -> OutboxMessage {
    OutboxMessage {
        id: "m".into(),
        channel: "x".into(),
        to: to.into(),
        subject: None,
        text: "Your sign-in code is 271828.".into(),
        code: code.map(str::to_string),
        purpose: "login".into(),
        tenant: None,
        app: None,
        extra: Value::Null,
        attempts: 0,
        next_attempt: 0,
        created_at: 0,
        leased_by: None,
    }
}

fn provider(kind: SmsKind, channel: PhoneChannel) -> SmsProvider {
    SmsProvider {
        name: "p".into(),
        kind,
        channel,
        account: Some("AC123".into()),
        api_key: Some("key".into()),
        auth_token: Some("tok".into()),
        from: Some("+15550001".into()),
        ..Default::default()
    }
}

fn form(p: &Prepared) -> Vec<(&'static str, String)> {
    match &p.body {
        Body::Form(f) => f.clone(),
        Body::Json(_) => panic!("not a form"),
    }
}

#[test]
fn twilio_sms_and_whatsapp() {
    let m = msg("+15557777", Some("271828"));
    let p = prepare(&provider(SmsKind::Twilio, PhoneChannel::Sms), &m).unwrap();
    assert_eq!(p.url, "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json");
    assert_eq!(p.headers, vec![("authorization", "Basic QUMxMjM6dG9r".to_string())]); // AC123:tok
    assert_eq!(form(&p), vec![("To", "+15557777".into()), ("From", "+15550001".into()), ("Body", m.text.clone())]);

    let mut wa = provider(SmsKind::Twilio, PhoneChannel::Whatsapp);
    wa.template = Some("HX42".into());
    let f = form(&prepare(&wa, &m).unwrap());
    assert_eq!(f[0], ("To", "whatsapp:+15557777".into()));
    assert_eq!(f[1], ("From", "whatsapp:+15550001".into()));
    assert_eq!(f[2], ("ContentSid", "HX42".into()));
    assert_eq!(f[3], ("ContentVariables", r#"{"1":"271828"}"#.into()));
    // A template carries codes only: a notice has none.
    assert!(prepare(&wa, &msg("+15557777", None)).unwrap_err().contains("has none"));

    wa.from = Some("MG99".into());
    assert_eq!(form(&prepare(&wa, &m).unwrap())[1], ("MessagingServiceSid", "MG99".into()));
}

#[test]
fn kaleyra_sms_and_whatsapp_template() {
    let m = msg("+919876543210", Some("271828"));
    let mut sms = provider(SmsKind::Kaleyra, PhoneChannel::Sms);
    sms.account = Some("HXIN1".into());
    sms.url = Some("https://api.eu.kaleyra.io/".into());
    let p = prepare(&sms, &m).unwrap();
    assert_eq!(p.url, "https://api.eu.kaleyra.io/v1/HXIN1/messages");
    assert_eq!(p.headers, vec![("api-key", "key".to_string())]);
    assert_eq!(
        form(&p),
        vec![("to", m.to.clone()), ("type", "OTP".into()), ("sender", "+15550001".into()), ("body", m.text.clone())]
    );

    let mut wa = provider(SmsKind::Kaleyra, PhoneChannel::Whatsapp);
    assert!(prepare(&wa, &m).unwrap_err().contains("`template`"));
    wa.template = Some("otp_login".into());
    let f = form(&prepare(&wa, &m).unwrap());
    assert!(f.contains(&("template_name", "otp_login".into())), "{f:?}");
    assert!(f.contains(&("params", "\"271828\"".into())), "{f:?}");
    assert!(f.contains(&("channel", "whatsapp".into())) && f.contains(&("lang_code", "en".into())), "{f:?}");
}

#[test]
fn fast2sms_routes_and_indian_numbers_only() {
    let m = msg("+919876543210", Some("271828"));
    let mut p = provider(SmsKind::Fast2sms, PhoneChannel::Sms);
    let got = prepare(&p, &m).unwrap();
    assert_eq!(got.url, "https://www.fast2sms.com/dev/bulkV2");
    assert_eq!(got.headers, vec![("authorization", "key".to_string())]);
    assert_eq!(got.body, Body::Json(json!({"route": "otp", "variables_values": "271828", "numbers": "9876543210"})));
    p.route = Some("q".into());
    let Body::Json(q) = prepare(&p, &m).unwrap().body else { panic!() };
    assert_eq!(q["message"], m.text.as_str());
    assert!(prepare(&p, &msg("+15557777", Some("1"))).unwrap_err().contains("Indian"));
    assert!(indian_number("+91987654321").is_err() && indian_number("+9198765432109").is_err());
}
