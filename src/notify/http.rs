//! HTTP providers: SMS APIs described by templates (method, URL, headers, body), and webhooks
//! (a JSON POST signed with HMAC-SHA256).

use crate::config::file::{SmsProvider, WebhookProvider};
use crate::store::OutboxMessage;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::blocking::{Client, Response};
use sha2::Sha256;

/// The header a webhook's signature travels in: `sha256=<hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "X-Gatehouse-Signature";

fn json_escape(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted[1..quoted.len() - 1].to_string()
}

pub(super) fn outcome(r: reqwest::Result<Response>) -> Result<(), String> {
    answer(r).map(drop)
}

/// The body of a successful answer (at most 64 KiB read); else why the request failed.
pub(super) fn answer(r: reqwest::Result<Response>) -> Result<String, String> {
    // Never the URL: an SMS API's holds its key and the message with the code.
    let r = r.map_err(|e| {
        let e = e.without_url();
        let mut why = format!("request failed: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            why.push_str(&format!(": {s}"));
            source = s.source();
        }
        why
    })?;
    let status = r.status();
    if status.is_success() {
        use std::io::Read;
        let mut body = String::new();
        let _ = r.take(64 << 10).read_to_string(&mut body);
        return Ok(body);
    }
    let body: String = r.text().unwrap_or_default().chars().take(200).collect();
    Err(format!("provider answered {status}: {}", body.escape_debug()))
}

/// Sends through a templated HTTP API. Placeholders: `{{to}}`, `{{message}}`, `{{code}}`;
/// in the URL they are percent-encoded, in a JSON body JSON-escaped, in a form body
/// form-encoded.
pub fn send_sms(client: &Client, p: &SmsProvider, m: &OutboxMessage) -> Result<(), String> {
    let code = m.code.clone().unwrap_or_default();
    let raw = [("to", m.to.as_str()), ("message", m.text.as_str()), ("code", code.as_str())];
    let enc = |f: &dyn Fn(&str) -> String| raw.iter().map(|(k, v)| (*k, f(v))).collect::<Vec<_>>();
    let url_vars = enc(&|v| utf8_percent_encode(v, NON_ALPHANUMERIC).to_string());
    let url = super::render(p.url.as_deref().unwrap_or_default(), &borrow(&url_vars));
    let method = reqwest::Method::from_bytes(p.method.as_deref().unwrap_or("POST").to_ascii_uppercase().as_bytes())
        .map_err(|_| "the provider's method is not an HTTP method".to_string())?;
    let mut req = client.request(method, &url);
    let plain = enc(&|v| v.replace(['\r', '\n'], " "));
    for (k, v) in &p.headers {
        req = req.header(k.as_str(), super::render(v, &borrow(&plain)));
    }
    if let Some(body) = &p.body {
        let ct = p.content_type.clone().unwrap_or_else(|| {
            if body.trim_start().starts_with(['{', '[']) {
                "application/json".into()
            } else {
                "application/x-www-form-urlencoded".into()
            }
        });
        let vars = if ct.contains("json") {
            enc(&json_escape)
        } else if ct.contains("x-www-form-urlencoded") {
            enc(&|v| form_urlencoded_component(v))
        } else {
            plain.clone()
        };
        req = req.header(reqwest::header::CONTENT_TYPE, ct).body(super::render(body, &borrow(&vars)));
    }
    outcome(req.send())
}

fn form_urlencoded_component(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

fn borrow<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, s)| (*k, s.as_str())).collect()
}

/// The signature a webhook receiver checks: hex HMAC-SHA256 of the exact body bytes.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

pub fn send_webhook(client: &Client, w: &WebhookProvider, m: &OutboxMessage) -> Result<(), String> {
    let body = serde_json::to_vec(&serde_json::json!({
        "id": m.id,
        "to": m.to,
        "code": m.code,
        "message": m.text,
        "channel": m.channel,
        "purpose": m.purpose,
        "app": m.app,
        "tenant": m.tenant,
        "extra": m.extra,
        "created_at": m.created_at,
    }))
    .map_err(|e| e.to_string())?;
    let mut req = client.post(&w.url).header(reqwest::header::CONTENT_TYPE, "application/json");
    if let Some(secret) = &w.secret {
        req = req.header(SIGNATURE_HEADER, format!("sha256={}", signature(secret, &body)));
    }
    outcome(req.body(body).send())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_rfc4231_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// A transport error names the URL it failed on; an SMS API's URL holds its key and the
    /// message (with the code): the error that reaches the log and the audit holds neither.
    #[test]
    fn a_failed_request_does_not_put_the_url_into_the_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let p = SmsProvider {
            name: "api".into(),
            url: Some(format!("http://127.0.0.1:{port}/send?key=SECRET-API-KEY&to={{{{to}}}}&text={{{{message}}}}")),
            method: Some("GET".into()),
            ..Default::default()
        };
        let m = OutboxMessage {
            id: "m".into(),
            channel: "api".into(),
            to: "+15551234567".into(),
            subject: None,
            text: "Your code is 271828".into(),
            code: Some("271828".into()),
            purpose: "login".into(),
            tenant: None,
            app: None,
            extra: serde_json::Value::Null,
            attempts: 0,
            next_attempt: 0,
            created_at: 0,
            leased_by: None,
        };
        let e = send_sms(&Client::new(), &p, &m).unwrap_err();
        assert!(e.starts_with("request failed") && e.contains("onnect"), "{e}");
        assert!(!e.contains("SECRET-API-KEY") && !e.contains("271828") && !e.contains("15551234567"), "{e}");
    }

    #[test]
    fn json_escaping_keeps_bodies_valid() {
        assert_eq!(json_escape("a \"b\"\n"), "a \\\"b\\\"\\n");
    }
}
