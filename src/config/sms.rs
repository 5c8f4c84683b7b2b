//! `notifiers.sms[]`: a provider that reaches a mobile number (by SMS or WhatsApp), its kind and
//! the keys each kind takes (docs/configuration.md §8; validated in `validate/notifiers.rs`).

use serde::Deserialize;
use std::collections::BTreeMap;

/// How an SMS provider delivers: a templated HTTP API, an e-mail-to-SMS gateway, or a named
/// provider whose request Gatehouse knows (docs/configuration.md §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SmsKind {
    #[default]
    Http,
    EmailGateway,
    /// AWS End User Messaging SMS (Pinpoint SMS) `SendTextMessage`, signed with SigV4.
    AwsSms,
    Kaleyra,
    Twilio,
    Fast2sms,
}

impl SmsKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SmsKind::Http => "http",
            SmsKind::EmailGateway => "email_gateway",
            SmsKind::AwsSms => "aws_sms",
            SmsKind::Kaleyra => "kaleyra",
            SmsKind::Twilio => "twilio",
            SmsKind::Fast2sms => "fast2sms",
        }
    }
}

/// The channel a mobile number is reached on through a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PhoneChannel {
    #[default]
    Sms,
    Whatsapp,
}

impl PhoneChannel {
    /// The channel's name, which also names its first provider (`sms`, `whatsapp`).
    pub fn as_str(self) -> &'static str {
        match self {
            PhoneChannel::Sms => "sms",
            PhoneChannel::Whatsapp => "whatsapp",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SmsProvider {
    pub name: String,
    pub kind: SmsKind,
    /// `sms` (default) or `whatsapp` (kaleyra, twilio and http providers).
    #[serde(default)]
    pub channel: PhoneChannel,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub domain: Option<String>,
    /// `Content-Type` of an http provider's body; guessed from the body (JSON or form) when unset.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Named kinds: the account (Twilio Account SID, Kaleyra SID).
    #[serde(default)]
    pub account: Option<String>,
    /// Named kinds: the API key (Kaleyra `api-key`, Fast2SMS `authorization`).
    #[serde(default)]
    pub api_key: Option<String>,
    /// Twilio: the auth token of `account`.
    #[serde(default)]
    pub auth_token: Option<String>,
    /// Named kinds: the sender (a number, sender ID or AWS origination identity).
    #[serde(default)]
    pub from: Option<String>,
    /// A template the provider holds: a WhatsApp template's name (Kaleyra), a Content SID
    /// (Twilio WhatsApp), a DLT template ID (Kaleyra SMS, Fast2SMS `dlt` route).
    #[serde(default)]
    pub template: Option<String>,
    /// Kaleyra WhatsApp: the template's language code (default `en`).
    #[serde(default)]
    pub language: Option<String>,
    /// Fast2SMS: `otp` (default), `q` (the message text) or `dlt` (a DLT template).
    #[serde(default)]
    pub route: Option<String>,
    /// aws_sms: the region, else `AWS_REGION` / `AWS_DEFAULT_REGION`.
    #[serde(default)]
    pub region: Option<String>,
    /// aws_sms: credentials, else `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub secret_access_key: Option<String>,
    #[serde(default)]
    pub session_token: Option<String>,
}
