//! `aws_sms`: AWS End User Messaging SMS (formerly Pinpoint SMS) `SendTextMessage`, a JSON 1.0
//! POST to `https://sms-voice.<region>.amazonaws.com/` signed with SigV4 (service `sms-voice`).
//! Region and credentials come from the provider's entry, else the standard AWS environment
//! variables (`AWS_REGION` or `AWS_DEFAULT_REGION`; `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).

use crate::config::file::SmsProvider;
use crate::store::OutboxMessage;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use reqwest::blocking::Client;
use std::time::SystemTime;

/// The SigV4 signing name of the service.
pub const SERVICE: &str = "sms-voice";
pub const TARGET: &str = "PinpointSMSVoiceV2.SendTextMessage";
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// AWS credentials: an access key, its secret and, for temporary ones, a session token.
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The provider's region, else `AWS_REGION`, else `AWS_DEFAULT_REGION`.
pub fn region(p: &SmsProvider) -> Result<String, String> {
    region_with(p, &env)
}

/// The provider's credentials, else those of the environment.
pub fn credentials(p: &SmsProvider) -> Result<Credentials, String> {
    credentials_with(p, &env)
}

fn region_with(p: &SmsProvider, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    p.region
        .clone()
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .ok_or_else(|| format!("provider `{}` has no region: set `region` or AWS_REGION", p.name))
}

fn credentials_with(p: &SmsProvider, env: &dyn Fn(&str) -> Option<String>) -> Result<Credentials, String> {
    if let (Some(k), Some(s)) = (&p.access_key_id, &p.secret_access_key) {
        return Ok(Credentials {
            access_key_id: k.clone(),
            secret_access_key: s.clone(),
            session_token: p.session_token.clone(),
        });
    }
    match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(k), Some(s)) => {
            Ok(Credentials { access_key_id: k, secret_access_key: s, session_token: env("AWS_SESSION_TOKEN") })
        }
        _ => Err(format!(
            "provider `{}` has no credentials: set access_key_id and secret_access_key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            p.name
        )),
    }
}

/// The `SendTextMessage` request body: a transactional message to the user's number, from the
/// origination identity (`from`) when one is set.
pub fn body(p: &SmsProvider, m: &OutboxMessage) -> Vec<u8> {
    let mut v = serde_json::json!({
        "DestinationPhoneNumber": m.to,
        "MessageBody": m.text,
        "MessageType": "TRANSACTIONAL",
    });
    if let Some(from) = &p.from {
        v["OriginationIdentity"] = serde_json::json!(from);
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

/// The headers of a signed `SendTextMessage` to `url`: host, content type, target, and those
/// SigV4 adds (`x-amz-date`, `authorization`, and `x-amz-security-token` with a session token).
pub fn signed_headers(
    url: &url::Url,
    body: &[u8],
    region: &str,
    creds: &Credentials,
    at: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let mut headers = vec![
        ("content-type".to_string(), CONTENT_TYPE.to_string()),
        ("host".to_string(), host),
        ("x-amz-target".to_string(), TARGET.to_string()),
    ];
    let identity = aws_credential_types::Credentials::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        creds.session_token.clone(),
        None,
        "gatehouse-config",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("SigV4 parameters: {e}"))?
        .into();
    let signable = SignableRequest::new(
        "POST",
        url.as_str(),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| format!("SigV4 request: {e}"))?;
    let (instructions, _) = sign(signable, &params).map_err(|e| format!("SigV4 signing: {e}"))?.into_parts();
    let (added, _) = instructions.into_parts();
    headers.extend(added.iter().map(|h| (h.name().to_string(), h.value().to_string())));
    Ok(headers)
}

pub fn send(client: &Client, p: &SmsProvider, m: &OutboxMessage) -> Result<(), String> {
    let region = region(p)?;
    let creds = credentials(p)?;
    let endpoint = p.url.clone().unwrap_or_else(|| format!("https://sms-voice.{region}.amazonaws.com/"));
    let url = url::Url::parse(&endpoint).map_err(|e| format!("provider `{}` url: {e}", p.name))?;
    let body = body(p, m);
    let mut req = client.post(url.as_str());
    for (k, v) in signed_headers(&url, &body, &region, &creds, SystemTime::now())? {
        req = req.header(k, v);
    }
    super::http::outcome(req.body(body).send())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signature of a fixed request, as botocore 1.43's `SigV4Auth` computes it (the e2e
    /// recorder checks live requests the same way).
    #[test]
    fn signs_like_botocore() {
        let url = url::Url::parse("https://sms-voice.eu-west-1.amazonaws.com/").unwrap();
        let creds = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600); // 2026-01-01
        let body = br#"{"DestinationPhoneNumber":"+15550100","MessageBody":"Your code is 123456","MessageType":"TRANSACTIONAL"}"#;
        let h = signed_headers(&url, body, "eu-west-1", &creds, at).unwrap();
        let get = |n: &str| h.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("x-amz-date"), Some("20260101T000000Z"));
        assert_eq!(get("host"), Some("sms-voice.eu-west-1.amazonaws.com"));
        assert_eq!(get("authorization"), Some(BOTOCORE_AUTHORIZATION));
    }

    /// The entry's region and credentials win; else the standard AWS environment variables.
    #[test]
    fn region_and_credentials_from_the_entry_else_the_environment() {
        let vars = [
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "AKENV"),
            ("AWS_SECRET_ACCESS_KEY", "senv"),
            ("AWS_SESSION_TOKEN", "tenv"),
        ];
        let env = |n: &str| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string());
        let none = |_: &str| None;
        let mut p = SmsProvider { name: "aws".into(), ..Default::default() };
        assert_eq!(region_with(&p, &env).unwrap(), "us-east-1");
        let c = credentials_with(&p, &env).unwrap();
        assert_eq!((c.access_key_id.as_str(), c.session_token.as_deref()), ("AKENV", Some("tenv")));
        assert!(region_with(&p, &none).unwrap_err().contains("AWS_REGION"));
        assert!(credentials_with(&p, &none).err().unwrap_or_default().contains("AWS_ACCESS_KEY_ID"));
        p.region = Some("eu-west-1".into());
        p.access_key_id = Some("AKCFG".into());
        p.secret_access_key = Some("scfg".into());
        assert_eq!(region_with(&p, &env).unwrap(), "eu-west-1");
        let c = credentials_with(&p, &env).unwrap();
        assert_eq!((c.access_key_id.as_str(), c.session_token), ("AKCFG", None));
    }

    const BOTOCORE_AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/eu-west-1/sms-voice/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=85d7bf610cff5cce569c7daa6aa25865330595062e828608753a5e705a48ef48";
}
