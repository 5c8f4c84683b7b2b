//! Delivery of one-time codes: providers from `notifiers` (docs/configuration.md §8), message texts from
//! templates, and a durable outbox worker (`outbox`) that delivers with retries.
//!
//! Providers by name: `email` (SMTP), each `notifiers.sms[].name` (`http` templates, an
//! `email_gateway` that mails `number@domain`, or a named kind: `aws_sms`, `kaleyra`, `twilio`,
//! `fast2sms`), each `notifiers.webhooks[].name` (a signed JSON POST), and `log` (development
//! only, when `notifiers.log: true`). `sms` names the first SMS provider, `whatsapp` the first
//! provider with `channel: whatsapp`.

pub mod aws;
pub mod events;
pub mod http;
pub mod named;
pub mod outbox;
pub mod smtp;

use crate::config::file::{PhoneChannel, SmsKind, SmsProvider, Template, WebhookProvider};
use crate::config::Config;
use crate::domain::Purpose;
use crate::store::OutboxMessage;

/// What kind of address a channel delivers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressKind {
    Email,
    Phone,
    /// Webhooks and the log: any string.
    Any,
}

/// A configured provider, looked up by name.
pub enum Provider<'a> {
    Email,
    Sms(&'a SmsProvider),
    Webhook(&'a WebhookProvider),
    Log,
}

impl Provider<'_> {
    /// Whether sign-in and second-factor codes may go out on it: only the user's own channels
    /// (e-mail, SMS, an e-mail-to-SMS gateway, and the development log). A webhook hands the
    /// code to a third party, who could sign in with it: it serves app verifications only.
    pub fn serves_sign_in(&self) -> bool {
        !matches!(self, Provider::Webhook(_))
    }

    pub fn address_kind(&self) -> AddressKind {
        match self {
            Provider::Email => AddressKind::Email,
            Provider::Sms(_) => AddressKind::Phone,
            Provider::Webhook(_) | Provider::Log => AddressKind::Any,
        }
    }
}

/// The provider called `name` (`sms` is the first SMS provider), if configured.
pub fn provider<'a>(cfg: &'a Config, name: &str) -> Option<Provider<'a>> {
    let n = &cfg.notifiers;
    match name {
        "email" => n.email.as_ref().map(|_| Provider::Email),
        "sms" => n.phone(PhoneChannel::Sms).map(Provider::Sms),
        "whatsapp" => n.phone(PhoneChannel::Whatsapp).map(Provider::Sms),
        "log" => n.log.then_some(Provider::Log),
        other => n
            .sms
            .iter()
            .find(|p| p.name == other)
            .map(Provider::Sms)
            .or_else(|| n.webhooks.iter().find(|w| w.name == other).map(Provider::Webhook)),
    }
}

/// Names of every configured channel, for `GET /auth/providers`.
pub fn channel_names(cfg: &Config) -> Vec<String> {
    let n = &cfg.notifiers;
    let mut v = vec![];
    if n.email.is_some() {
        v.push("email".to_string());
    }
    for ch in [PhoneChannel::Sms, PhoneChannel::Whatsapp] {
        if n.phone(ch).is_some() {
            v.push(ch.as_str().to_string());
        }
    }
    // A provider named `sms` (`whatsapp`) is the first of its channel, already listed.
    v.extend(n.sms.iter().filter(|p| p.name != p.channel.as_str()).map(|p| p.name.clone()));
    v.extend(n.webhooks.iter().map(|w| w.name.clone()));
    if n.log {
        v.push("log".to_string());
    }
    v
}

/// The channel a mobile number is reached on by default: `sms` when an SMS provider is
/// configured, else `whatsapp` when a WhatsApp one is.
pub fn phone_channel(cfg: &Config) -> Option<&'static str> {
    [PhoneChannel::Sms, PhoneChannel::Whatsapp]
        .into_iter()
        .find(|c| cfg.notifiers.phone(*c).is_some())
        .map(PhoneChannel::as_str)
}

/// A channel to reach a user on: e-mail when they have an address and e-mail is set up, else
/// SMS (or WhatsApp, see [`phone_channel`]), else the development log. `avoid` skips a channel kind already used (a second factor).
pub fn user_channel(
    cfg: &Config,
    email: Option<&str>,
    mobile: Option<&str>,
    avoid: Option<AddressKind>,
) -> Option<(String, String)> {
    let mut options = vec![];
    if let Some(e) = email.filter(|_| cfg.notifiers.email.is_some()) {
        options.push(("email", e, AddressKind::Email));
    }
    if let (Some(m), Some(c)) = (mobile, phone_channel(cfg)) {
        options.push((c, m, AddressKind::Phone));
    }
    if let Some((c, to, _)) = options.into_iter().find(|o| Some(o.2) != avoid) {
        return Some((c.to_string(), to.to_string()));
    }
    let to = email.or(mobile)?;
    (cfg.notifiers.log && avoid.is_none()).then(|| ("log".to_string(), to.to_string()))
}

fn default_template(purpose: Purpose) -> (&'static str, &'static str) {
    match purpose {
        Purpose::Register => (
            "Confirm your registration",
            "Your confirmation code is {{code}}. It expires in {{minutes}} minutes. If you did not register, ignore this message.",
        ),
        Purpose::Verify => (
            "Your verification code",
            "Your verification code for {{app}} is {{code}}. It expires in {{minutes}} minutes.",
        ),
        Purpose::Mfa => (
            "Your second-factor code",
            "Your second-factor code is {{code}}. It expires in {{minutes}} minutes. If you are not signing in, change your password.",
        ),
        Purpose::Reset => (
            "Reset your password",
            "To choose a new password, open {{link}} within {{minutes}} minutes. The link works once. If you did not ask for it, ignore this message: your password stays as it is.",
        ),
        Purpose::ResetCode => (
            "Your password reset code",
            "Your password reset code is {{code}}. It expires in {{minutes}} minutes. If you did not ask for it, ignore this message.",
        ),
        Purpose::MagicLink => (
            "Your sign-in link",
            "To sign in, open {{link}} within {{minutes}} minutes and confirm. The link works once. If you did not ask for it, ignore this message.",
        ),
        Purpose::PasswordChanged => (
            "Your password was changed",
            "The password of your account was changed and all your sessions were ended. If this was not you, reset your password now and contact your administrator.",
        ),
        Purpose::MfaAdded => (
            "A second factor was added",
            "A new second factor (an authenticator app) was set up for your account. If this was not you, contact your administrator now.",
        ),
        Purpose::AddressChanged => (
            "Your address was changed",
            "The address of your account was changed from this one to another. If this was not you, contact your administrator now.",
        ),
        Purpose::TokenCreated => (
            "A personal API token was created",
            "A personal API token was created for your account. If this was not you, revoke it on your account page and change your password.",
        ),
        Purpose::VerifyEmail => (
            "Confirm your e-mail address",
            "To confirm this e-mail address for your account, open {{link}} within {{minutes}} minutes. The link works once. If you did not ask for it, ignore this message.",
        ),
        Purpose::VerifyMobile => (
            "Your confirmation code",
            "Your code to confirm this number is {{code}}. It expires in {{minutes}} minutes. If you did not ask for it, ignore this message.",
        ),
        Purpose::Login => (
            "Your sign-in code",
            "Your sign-in code is {{code}}. It expires in {{minutes}} minutes. If you did not ask for it, ignore this message.",
        ),
    }
}

/// Replaces `{{name}}` placeholders; unknown ones are left as they are.
pub fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

/// The subject and text of a message for `purpose`: the tenant's template, else
/// `notifiers.templates`, else the built-in one. `app` is the app's display name (`{{app}}`),
/// looked up by the caller (config and store apps alike).
pub fn compose(cfg: &Config, tenant: &str, purpose: Purpose, code: &str, ttl_secs: u64, app: &str) -> (String, String) {
    compose_with(cfg, tenant, purpose, code, ttl_secs, app, &[])
}

/// [`compose`] with more placeholders (`{{link}}` of an account link).
pub fn compose_with(
    cfg: &Config,
    tenant: &str,
    purpose: Purpose,
    code: &str,
    ttl_secs: u64,
    app: &str,
    extra: &[(&str, &str)],
) -> (String, String) {
    let from_cfg: Option<&Template> =
        cfg.tenant(tenant).and_then(|t| t.templates.get(&purpose)).or_else(|| cfg.templates.get(&purpose));
    let (ds, dt) = default_template(purpose);
    let subject = from_cfg.and_then(|t| t.subject.as_deref()).unwrap_or(ds);
    let text = from_cfg.map(|t| t.text.as_str()).unwrap_or(dt);
    let minutes = ttl_secs.div_ceil(60).max(1).to_string();
    let tenant_name = cfg.tenant(tenant).map(|t| t.name.as_str()).unwrap_or(tenant);
    let mut vars = vec![("code", code), ("minutes", minutes.as_str()), ("app", app), ("tenant", tenant_name)];
    vars.extend_from_slice(extra);
    (render(subject, &vars), render(text, &vars))
}

/// Delivers one message now (the outbox worker calls this); `Err` says why it failed.
pub fn deliver(cfg: &Config, client: &reqwest::blocking::Client, m: &OutboxMessage) -> Result<(), String> {
    match provider(cfg, &m.channel) {
        None => Err(format!("provider `{}` is not configured (any more)", m.channel)),
        Some(Provider::Email) => smtp::send(cfg, &m.to, m.subject.as_deref().unwrap_or(""), &m.text),
        Some(Provider::Sms(p)) => match p.kind {
            SmsKind::EmailGateway => {
                let digits: String = m.to.chars().filter(char::is_ascii_digit).collect();
                let domain = p.domain.as_deref().unwrap_or_default();
                smtp::send(cfg, &format!("{digits}@{domain}"), m.subject.as_deref().unwrap_or(""), &m.text)
            }
            SmsKind::Http => http::send_sms(client, p, m),
            SmsKind::AwsSms => aws::send(client, p, m),
            SmsKind::Kaleyra | SmsKind::Twilio | SmsKind::Fast2sms => named::send(client, p, m),
        },
        Some(Provider::Webhook(w)) => http::send_webhook(client, w, m),
        Some(Provider::Log) => {
            tracing::warn!(to = %m.to, channel = "log", "development delivery (notifiers.log): {}", m.text.escape_debug());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_replaces_known_placeholders() {
        assert_eq!(render("a {{code}} b {{x}}", &[("code", "123")]), "a 123 b {{x}}");
    }

    #[test]
    fn tenant_templates_override() {
        let cfg = Config::from_str(
            std::path::Path::new("t.yaml"),
            "notifiers:\n  templates: {login: {text: 'global {{code}}'}}\ntenants:\n  - id: default\n    hosts: ['*']\n    templates: {register: {subject: 'S', text: 'tenant {{code}} {{minutes}}'}}\n",
        )
        .unwrap();
        assert_eq!(compose(&cfg, "default", Purpose::Login, "42", 300, "").1, "global 42");
        assert_eq!(compose(&cfg, "default", Purpose::Register, "42", 61, ""), ("S".into(), "tenant 42 2".into()));
        assert!(compose(&cfg, "default", Purpose::Mfa, "42", 300, "").1.contains("42"));
    }

    /// `whatsapp` names the first WhatsApp provider; a mobile is reached by SMS first, by
    /// WhatsApp when no SMS provider is configured, and a code by either records `amr: sms`.
    #[test]
    fn whatsapp_is_a_phone_channel() {
        let wa = "  - {name: wa, kind: twilio, channel: whatsapp, account: AC1, auth_token: t, from: '+15550001'}\n";
        let sms = "  - {name: text, kind: fast2sms, api_key: k}\n";
        let cfg =
            |s: &str| Config::from_str(std::path::Path::new("t.yaml"), &format!("notifiers:\n sms:\n{s}")).unwrap();
        let only_wa = cfg(wa);
        assert!(matches!(provider(&only_wa, "whatsapp"), Some(Provider::Sms(p)) if p.name == "wa"));
        assert!(provider(&only_wa, "sms").is_none());
        assert_eq!(phone_channel(&only_wa), Some("whatsapp"));
        assert_eq!(
            user_channel(&only_wa, None, Some("+15557777"), None),
            Some(("whatsapp".into(), "+15557777".into()))
        );
        assert_eq!(channel_names(&only_wa), ["whatsapp", "wa"]);
        // A provider bearing its channel's name is listed once.
        let named = cfg("  - {name: sms, kind: fast2sms, api_key: k}\n  - {name: other, kind: fast2sms, api_key: k}\n");
        assert_eq!(channel_names(&named), ["sms", "other"]);
        assert_eq!(provider(&only_wa, "whatsapp").unwrap().address_kind(), AddressKind::Phone);
        let both = cfg(&format!("{wa}{sms}"));
        assert_eq!(phone_channel(&both), Some("sms"));
        assert!(matches!(provider(&both, "sms"), Some(Provider::Sms(p)) if p.name == "text"));
        assert_eq!(channel_names(&both), ["sms", "whatsapp", "wa", "text"]);
    }
}
