//! What the Authentication tab shows, without the request around it: the delivery providers
//! in effect (secrets redacted by the platform flow), a "send a test message" form per
//! provider with the provider's answer next to it, and the sign-in settings in effect.

use super::values;
use crate::flows::platform::ProviderView;
use crate::web::escape;
use serde_json::Value;

/// The answer of one provider's test, shown next to its form.
#[derive(Debug, Clone, PartialEq)]
pub enum TestAnswer {
    Delivered {
        to: String,
    },
    /// The provider's error (secrets scrubbed), or why the address was refused.
    Failed {
        to: String,
        message: String,
    },
    Invalid {
        to: String,
        message: String,
    },
}

impl TestAnswer {
    fn to(&self) -> &str {
        match self {
            TestAnswer::Delivered { to } | TestAnswer::Failed { to, .. } | TestAnswer::Invalid { to, .. } => to,
        }
    }
}

/// A readable name for a provider's kind.
fn kind(k: &str) -> &str {
    match k {
        "email" => "E-mail (SMTP)",
        "sms" => "SMS",
        "whatsapp" => "WhatsApp",
        "webhook" => "Webhook",
        "log" => "Server log (development)",
        other => other,
    }
}

fn test_form(base: &str, csrf_field: &str, p: &ProviderView, answer: Option<&TestAnswer>) -> String {
    let id = format!("to-{}", slug(&p.name));
    let placeholder = match p.kind.as_str() {
        "email" => "ops@example.com",
        "log" => "anything",
        "webhook" => "a user id or address",
        _ => "+15551234567",
    };
    let (invalid, out) = match answer {
        None => (String::new(), String::new()),
        Some(TestAnswer::Delivered { to }) => (
            String::new(),
            format!(
                r#"<p class="answer ok" role="status" id="{id}-answer">Delivered: the provider took the test message to {}.</p>"#,
                escape(to)
            ),
        ),
        Some(TestAnswer::Failed { message, .. }) => (
            format!(r#" aria-describedby="{id}-answer""#),
            format!(
                r#"<p class="answer field-error" role="alert" id="{id}-answer">Not delivered (502 delivery_failed): {}</p>"#,
                escape(message)
            ),
        ),
        Some(TestAnswer::Invalid { message, .. }) => (
            format!(r#" aria-invalid="true" aria-describedby="{id}-answer""#),
            format!(r#"<p class="field-error" role="alert" id="{id}-answer">{}</p>"#, escape(message)),
        ),
    };
    let value = answer.map(TestAnswer::to).unwrap_or("");
    format!(
        r#"<form method="post" action="{base}/providers/{name}/test" class="test-message">{csrf_field}<label for="{id}">Send a test message to</label><input id="{id}" name="to" required maxlength="320" placeholder="{placeholder}" value="{value}"{invalid}> <button type="submit">Send test</button>{out}</form>"#,
        base = escape(base),
        name = escape(&urlencode(&p.name)),
        value = escape(value)
    )
}

/// A path segment: everything but letters, digits, `-`, `_`, `.` and `~` escaped.
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

/// The providers, each with its settings and its test form (`tested`: the provider just
/// tested and its answer).
pub fn providers(base: &str, csrf_field: &str, ps: &[ProviderView], tested: Option<(&str, &TestAnswer)>) -> String {
    if ps.is_empty() {
        return r#"<p id="no-providers">No delivery provider is configured (<code>notifiers</code> in config.yaml): codes cannot be sent.</p>"#.into();
    }
    let items: String = ps
        .iter()
        .map(|p| {
            let answer = tested.filter(|(n, _)| *n == p.name).map(|(_, a)| a);
            let settings = if p.settings.is_null() {
                "<p>No settings: messages are written to the server log.</p>".to_string()
            } else {
                values::table(&format!("Settings of {}", p.name), &p.settings)
            };
            format!(
                r#"<article class="provider" id="provider-{slug}" aria-labelledby="provider-{slug}-h"><h3 id="provider-{slug}-h">{name} <small>{kind}</small></h3>{settings}{form}</article>"#,
                slug = slug(&p.name),
                name = escape(&p.name),
                kind = escape(kind(&p.kind)),
                form = test_form(base, csrf_field, p, answer)
            )
        })
        .collect();
    format!(r#"<section aria-labelledby="providers-h"><h2 id="providers-h">Delivery providers</h2>{items}</section>"#)
}

/// The sign-in settings in effect, one table per section.
pub fn settings(sections: &[(&str, Value)]) -> String {
    let title = |k: &str| {
        match k {
            "otp" => "One-time codes (otp)",
            "totp" => "Authenticator apps (totp)",
            "password" => "Passwords (password)",
            "regulation" => "Failed sign-ins (regulation)",
            "admin" => "Administrators (admin)",
            other => other,
        }
        .to_string()
    };
    let tables: String = sections.iter().map(|(k, v)| values::table(&title(k), v)).collect();
    format!(
        r#"<section aria-labelledby="settings-h"><h2 id="settings-h">Sign-in settings in effect</h2><p>From config.yaml as loaded, defaults filled in; change the file and reload (Platform tab) to change them.</p>{tables}</section>"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_provider_has_its_form_and_the_answer_shows_next_to_the_tested_one() {
        let ps = vec![
            ProviderView {
                name: "email".into(),
                kind: "email".into(),
                settings: json!({"smtp": {"password": "[redacted]"}}),
            },
            ProviderView {
                name: "gw sms".into(),
                kind: "sms".into(),
                settings: json!({"url": "https://[redacted]@x/"}),
            },
        ];
        let failed = TestAnswer::Failed { to: "+1555".into(), message: "HTTP 500 from <x>".into() };
        let html = providers("/auth/admin/authentication", "", &ps, Some(("gw sms", &failed)));
        assert!(html.contains(r#"action="/auth/admin/authentication/providers/gw%20sms/test""#), "{html}");
        assert!(html.contains(r#"action="/auth/admin/authentication/providers/email/test""#));
        assert!(html.contains("Not delivered (502 delivery_failed): HTTP 500 from &lt;x&gt;"));
        assert_eq!(html.matches("role=\"alert\"").count(), 1);
        assert!(html.contains(r#"value="+1555""#));
    }
}
