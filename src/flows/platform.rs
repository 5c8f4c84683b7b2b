//! The platform operations of the admin API (docs/http-api.md §16) and the console: the
//! delivery providers in effect (secrets redacted), a test message through a named provider,
//! the audit of a reload an administrator asked for.

use crate::audit::EventKind;
use crate::config::effective::scrub;
use crate::config::Config;
use crate::flows::admin::Actor;
use crate::flows::error::FlowError;
use crate::flows::services::Services;
use crate::runtime::Runtime;
use crate::store::OutboxMessage;
use serde_json::{json, Value};
use std::time::Duration;

/// How long a provider has to take a test message.
const TEST_TIMEOUT: Duration = Duration::from_secs(15);

/// What became of a test message.
#[derive(Debug, PartialEq)]
pub enum Tested {
    Delivered,
    /// The provider's error, every configured secret scrubbed from it.
    Failed(String),
}

/// A delivery provider in effect, as an administrator may see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderView {
    /// The name a test message is sent through (`POST …/providers/{name}/test`).
    pub name: String,
    /// `email`, `sms`, `whatsapp`, `webhook` or `log`.
    pub kind: String,
    /// Its settings from the effective configuration: every secret `[redacted]`.
    pub settings: Value,
}

/// The delivery providers of `cfg`, settings from its redacted effective configuration.
pub fn providers(cfg: &Config) -> Vec<ProviderView> {
    let n = &cfg.effective["notifiers"];
    let mut v = vec![];
    if cfg.notifiers.email.is_some() {
        v.push(ProviderView { name: "email".into(), kind: "email".into(), settings: n["email"].clone() });
    }
    for (i, p) in cfg.notifiers.sms.iter().enumerate() {
        let kind = p.channel.as_str().to_string();
        v.push(ProviderView { name: p.name.clone(), kind, settings: n["sms"][i].clone() });
    }
    for (i, w) in cfg.notifiers.webhooks.iter().enumerate() {
        v.push(ProviderView { name: w.name.clone(), kind: "webhook".into(), settings: n["webhooks"][i].clone() });
    }
    if cfg.notifiers.log {
        v.push(ProviderView { name: "log".into(), kind: "log".into(), settings: Value::Null });
    }
    v
}

/// The sign-in settings in effect (one-time codes, authenticator apps, passwords, failure
/// regulation, administrators), from the redacted effective configuration.
pub fn sign_in_settings(cfg: &Config) -> Vec<(&'static str, Value)> {
    ["otp", "totp", "password", "regulation", "admin"].into_iter().map(|k| (k, cfg.effective[k].clone())).collect()
}

/// The address of a test message, trimmed: not empty, at most 320 characters, no control
/// characters.
pub fn test_address(to: &str) -> Result<String, FlowError> {
    let to = to.trim();
    if to.is_empty() || to.len() > 320 || to.chars().any(char::is_control) {
        return Err(FlowError::Invalid("`to` is an address for the provider (at most 320 characters).".into()));
    }
    Ok(to.to_string())
}

/// Sends a test message to `to` through the provider `name` now (not through the outbox: the
/// answer says whether it went), and audits `provider_tested` naming the administrator.
/// Blocking (the provider's round trip and a store write): call it from the blocking pool.
pub fn test_provider(
    rt: &Runtime,
    svc: &Services,
    actor: &Actor,
    tenant: &str,
    name: &str,
    to: &str,
    now: u64,
) -> Result<Tested, FlowError> {
    let m = OutboxMessage {
        id: uuid::Uuid::new_v4().to_string(),
        channel: name.to_string(),
        to: to.to_string(),
        subject: Some("Gatehouse test message".into()),
        text: format!("This is a test message from Gatehouse through the provider `{name}`."),
        purpose: "test".into(),
        tenant: Some(tenant.to_string()),
        created_at: now,
        ..Default::default()
    };
    let sent = reqwest::blocking::Client::builder()
        .timeout(TEST_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())
        .and_then(|client| crate::notify::deliver(&rt.config, &client, &m));
    let outcome = match sent {
        Ok(()) => Tested::Delivered,
        Err(e) => Tested::Failed(scrub(&e, &rt.config.secrets)),
    };
    let detail = match &outcome {
        Tested::Delivered => json!({"provider": name, "delivered": true}),
        Tested::Failed(e) => json!({"provider": name, "delivered": false, "error": crate::audit::clip(e, 300)}),
    };
    svc.audit.record_now(actor.event(EventKind::ProviderTested, Some(tenant), None, detail))?;
    Ok(outcome)
}

/// Audits a reload asked by `actor`: `errors` is `None` when it took effect, else how many
/// errors refused it.
pub fn reloaded(svc: &Services, actor: &Actor, tenant: &str, errors: Option<usize>) -> Result<(), FlowError> {
    let detail = match errors {
        None => json!({"result": "ok"}),
        Some(n) => json!({"result": "refused", "errors": n}),
    };
    svc.audit.record_now(actor.event(EventKind::ConfigReloaded, Some(tenant), None, detail))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn providers_are_listed_by_name_with_their_secrets_redacted() {
        let cfg = Config::from_str(
            Path::new("t.yaml"),
            "notifiers:\n  log: true\n\
             \x20 email: {smtp: {host: 127.0.0.1, port: 9, username: ops, password: smtp-pass-7731}, from: 'G <g@example.com>'}\n\
             \x20 sms:\n    - {name: gateway-sms, kind: http, url: 'http://127.0.0.1:9/send?key=query-key-9953&to={{to}}', headers: {Authorization: 'Bearer sms-token-8842'}}\n\
             \x20 webhooks:\n    - {name: hook, url: 'http://127.0.0.1:9/hook', secret: hook-secret-1064}\n",
        )
        .unwrap();
        let got = providers(&cfg);
        let names: Vec<(&str, &str)> = got.iter().map(|p| (p.name.as_str(), p.kind.as_str())).collect();
        assert_eq!(names, [("email", "email"), ("gateway-sms", "sms"), ("hook", "webhook"), ("log", "log")]);
        assert_eq!(got[0].settings["smtp"]["host"], "127.0.0.1");
        assert_eq!(got[0].settings["smtp"]["password"], "[redacted]");
        let text = serde_json::to_string(&got.iter().map(|p| &p.settings).collect::<Vec<_>>()).unwrap();
        for secret in ["smtp-pass-7731", "query-key-9953", "sms-token-8842", "hook-secret-1064"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let settings = sign_in_settings(&cfg);
        assert_eq!(settings[0].0, "otp");
        assert!(settings[0].1["length"].is_number(), "{:?}", settings[0].1);
    }

    #[test]
    fn a_test_address_is_trimmed_and_bounded() {
        assert_eq!(test_address("  ann@example.com ").unwrap(), "ann@example.com");
        for bad in ["", "   ", "a\u{7}b", &"x".repeat(321)] {
            assert!(matches!(test_address(bad), Err(FlowError::Invalid(_))), "{bad:?}");
        }
    }
}
