//! Named SMS and WhatsApp providers whose requests Gatehouse knows, so that a configuration
//! names the account instead of a template: Twilio (SMS and WhatsApp), Kaleyra (SMS and
//! WhatsApp template messages) and Fast2SMS (Indian numbers). `url` replaces the API's base
//! URL (a regional endpoint, a proxy, a test recorder).

use crate::config::file::{PhoneChannel, SmsKind, SmsProvider};
use crate::store::OutboxMessage;
use base64::Engine;
use reqwest::blocking::Client;
use serde_json::{json, Value};

pub const TWILIO_API: &str = "https://api.twilio.com";
pub const KALEYRA_API: &str = "https://api.kaleyra.io";
pub const FAST2SMS_API: &str = "https://www.fast2sms.com";

/// A request to a provider: where it goes, its headers and its body.
#[derive(Debug, PartialEq)]
pub struct Prepared {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

#[derive(Debug, PartialEq)]
pub enum Body {
    Form(Vec<(&'static str, String)>),
    Json(Value),
}

fn base(p: &SmsProvider, default: &str) -> String {
    p.url.as_deref().unwrap_or(default).trim_end_matches('/').to_string()
}

fn field<'a>(v: &'a Option<String>, what: &str) -> Result<&'a str, String> {
    v.as_deref().ok_or_else(|| format!("the provider has no `{what}`"))
}

/// The code a template message carries; a message without one (a notice) cannot be sent so.
fn code<'a>(p: &SmsProvider, m: &'a OutboxMessage) -> Result<&'a str, String> {
    m.code.as_deref().filter(|c| !c.is_empty()).ok_or_else(|| {
        format!(
            "provider `{}` sends a template with a code, and this message ({}) has none: give notices another channel",
            p.name, m.purpose
        )
    })
}

/// Twilio's Messages API: Basic auth with the Account SID and auth token; `From` is a number
/// or a Messaging Service SID (`MG…`); on WhatsApp both numbers take `whatsapp:`, and a
/// `template` (a Content SID) sends an approved template with the code as variable 1.
fn twilio(p: &SmsProvider, m: &OutboxMessage) -> Result<Prepared, String> {
    let account = field(&p.account, "account")?;
    let token = field(&p.auth_token, "auth_token")?;
    let from = field(&p.from, "from")?;
    let wa = p.channel == PhoneChannel::Whatsapp;
    let prefix = if wa { "whatsapp:" } else { "" };
    let mut form = vec![("To", format!("{prefix}{}", m.to))];
    if from.starts_with("MG") {
        form.push(("MessagingServiceSid", from.to_string()));
    } else {
        form.push(("From", format!("{prefix}{from}")));
    }
    match p.template.as_deref().filter(|_| wa) {
        Some(sid) => {
            form.push(("ContentSid", sid.to_string()));
            form.push(("ContentVariables", json!({"1": code(p, m)?}).to_string()));
        }
        None => form.push(("Body", m.text.clone())),
    }
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{account}:{token}"));
    Ok(Prepared {
        url: format!("{}/2010-04-01/Accounts/{account}/Messages.json", base(p, TWILIO_API)),
        headers: vec![("authorization", format!("Basic {basic}"))],
        body: Body::Form(form),
    })
}

/// Kaleyra's messages API (v1): the `api-key` header; an SMS of type `OTP` from the sender ID
/// (with its DLT template ID when `template` is set), or a WhatsApp template message whose one
/// parameter is the code.
fn kaleyra(p: &SmsProvider, m: &OutboxMessage) -> Result<Prepared, String> {
    let sid = field(&p.account, "account")?;
    let key = field(&p.api_key, "api_key")?;
    let from = field(&p.from, "from")?;
    let mut form = vec![("to", m.to.clone())];
    match p.channel {
        PhoneChannel::Sms => {
            form.extend([("type", "OTP".to_string()), ("sender", from.to_string()), ("body", m.text.clone())]);
            if let Some(t) = &p.template {
                form.push(("template_id", t.clone()));
            }
        }
        PhoneChannel::Whatsapp => form.extend([
            ("channel", "whatsapp".to_string()),
            ("type", "template".to_string()),
            ("from", from.to_string()),
            ("template_name", field(&p.template, "template")?.to_string()),
            ("params", format!("\"{}\"", code(p, m)?)),
            ("lang_code", p.language.clone().unwrap_or_else(|| "en".into())),
        ]),
    }
    Ok(Prepared {
        url: format!("{}/v1/{sid}/messages", base(p, KALEYRA_API)),
        headers: vec![("api-key", key.to_string())],
        body: Body::Form(form),
    })
}

/// The 10-digit national number Fast2SMS takes: it delivers to Indian (+91) numbers only.
pub fn indian_number(to: &str) -> Result<String, String> {
    let digits: String = to.strip_prefix("+91").unwrap_or_default().chars().filter(char::is_ascii_digit).collect();
    if digits.len() == 10 && to.len() == 13 {
        Ok(digits)
    } else {
        Err("Fast2SMS delivers to Indian mobile numbers (+91 and 10 digits) only".into())
    }
}

/// Fast2SMS `bulkV2`: the `authorization` header; route `otp` (their fixed OTP text with the
/// code), `q` (our message text) or `dlt` (a registered template with the code).
fn fast2sms(p: &SmsProvider, m: &OutboxMessage) -> Result<Prepared, String> {
    let key = field(&p.api_key, "api_key")?;
    let numbers = indian_number(&m.to)?;
    let body = match p.route.as_deref().unwrap_or("otp") {
        "q" => json!({"route": "q", "message": m.text, "flash": "0", "numbers": numbers}),
        "dlt" => json!({
            "route": "dlt",
            "sender_id": field(&p.from, "from")?,
            "message": field(&p.template, "template")?,
            "variables_values": code(p, m)?,
            "numbers": numbers,
        }),
        _ => json!({"route": "otp", "variables_values": code(p, m)?, "numbers": numbers}),
    };
    Ok(Prepared {
        url: format!("{}/dev/bulkV2", base(p, FAST2SMS_API)),
        headers: vec![("authorization", key.to_string())],
        body: Body::Json(body),
    })
}

/// The request provider `p` (a named kind) is sent for message `m`.
pub fn prepare(p: &SmsProvider, m: &OutboxMessage) -> Result<Prepared, String> {
    match p.kind {
        SmsKind::Twilio => twilio(p, m),
        SmsKind::Kaleyra => kaleyra(p, m),
        SmsKind::Fast2sms => fast2sms(p, m),
        other => Err(format!("{other:?} is not a named HTTP provider")),
    }
}

pub fn send(client: &Client, p: &SmsProvider, m: &OutboxMessage) -> Result<(), String> {
    let prepared = prepare(p, m)?;
    let mut req = client.post(&prepared.url);
    for (k, v) in &prepared.headers {
        req = req.header(*k, v);
    }
    req = match prepared.body {
        Body::Form(f) => {
            let form = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(f.iter().map(|(k, v)| (*k, v.as_str())))
                .finish();
            req.header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(form)
        }
        Body::Json(v) => req.json(&v),
    };
    let answer = super::http::answer(req.send())?;
    // Fast2SMS may answer 200 with `"return": false` and its reason.
    if p.kind == SmsKind::Fast2sms {
        let v: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
        if v["return"] != Value::Bool(true) {
            let why: String = answer.chars().take(200).collect();
            return Err(format!("Fast2SMS refused the message: {}", why.escape_debug()));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "named_tests.rs"]
mod tests;
