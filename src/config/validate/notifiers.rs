//! Validation of `notifiers`: the SMTP transport, channel names, the sender, SMS providers.

use super::{resolve_path, templates};
use crate::config::file::{PhoneChannel, SmsKind};
use crate::config::{file, Reporter};
use crate::domain::Purpose;
use std::collections::BTreeMap;
use std::path::Path;

/// `notifiers`: the SMTP transport (its CA file resolved against the config's directory),
/// templates, attempts, unique channel names, the sender's mailbox and each SMS provider's kind.
/// Answers the templates by purpose.
pub(super) fn notifiers_section(
    r: &mut Reporter,
    base: &Path,
    n: &mut file::Notifiers,
) -> BTreeMap<Purpose, file::Template> {
    if let Some(e) = n.email.as_mut() {
        smtp_transport(r, base, &mut e.smtp);
    }
    let templates = templates(r, "notifiers.templates", &n.templates);
    if n.max_attempts.is_some_and(|n| n == 0 || n > 100) {
        r.error("notifiers.max_attempts", "notifiers.max_attempts must be between 1 and 100");
    }
    if n.lease.is_some_and(|l| !(1..=3600).contains(&l.0.as_secs())) {
        r.error(
            "notifiers.lease",
            "notifiers.lease must be between 1s and 1h (keep it above the providers' 15 s timeout)",
        );
    }
    channel_names(r, n);
    if let Some(e) = &n.email {
        if e.from.parse::<lettre::message::Mailbox>().is_err() {
            r.error(
                "notifiers.email.from",
                format!("`{}` is not a mailbox; write \"Name <addr@example.com>\"", e.from),
            );
        }
    }
    for (i, p) in n.sms.iter().enumerate() {
        sms_kind(r, &format!("notifiers.sms[{i}]"), p);
    }
    templates
}

/// `notifiers.email.smtp`: TLS mode, credentials in pairs, a readable PEM CA file (its path
/// resolved in place).
fn smtp_transport(r: &mut Reporter, base: &Path, smtp: &mut file::Smtp) {
    if !matches!(smtp.tls.as_str(), "none" | "starttls" | "tls") {
        r.error("notifiers.email.smtp.tls", "smtp.tls must be none, starttls or tls");
    }
    if smtp.username.is_some() != smtp.password.is_some() {
        r.error("notifiers.email.smtp", "smtp.username and smtp.password go together");
    }
    if let Some(ca) = smtp.ca_file.as_mut() {
        let p = resolve_path(base, ca);
        match std::fs::read(&p) {
            Ok(pem) if lettre::transport::smtp::client::Certificate::from_pem(&pem).is_ok() => {}
            Ok(_) => r.error("notifiers.email.smtp.ca_file", format!("{} holds no PEM certificate", p.display())),
            Err(err) => r.error("notifiers.email.smtp.ca_file", format!("cannot read {} ({err})", p.display())),
        }
        *ca = p.to_string_lossy().into_owned();
    }
}

/// SMS providers and webhooks: unique, valid names apart from the built-in channels, and URLs
/// that parse; an e-mail gateway needs the e-mail transport.
fn channel_names(r: &mut Reporter, n: &file::Notifiers) {
    let mut channels: std::collections::HashSet<&str> = ["email", "sms", "whatsapp", "log"].into_iter().collect();
    for (i, p) in n.sms.iter().enumerate() {
        // `sms` (`whatsapp`) names the first provider of that channel: that provider may be
        // called so (the contract's own example does), no other may.
        let names_itself = n.phone(p.channel).is_some_and(|first| std::ptr::eq(first, p))
            && p.name == p.channel.as_str()
            && n.sms.iter().filter(|q| q.name == p.name).count() == 1;
        if !(names_itself || channels.insert(p.name.as_str())) || !valid_channel_name(&p.name) {
            r.error(&format!("notifiers.sms[{i}].name"), format!("provider name `{}` is taken or invalid; names are unique letters, digits, `-` and `_`, not email or log, and sms or whatsapp only for the first provider of that channel", p.name));
        }
        if let Some(u) = &p.url {
            let at = format!("notifiers.sms[{i}].url");
            if let Some(why) = url_problem(&at, &u.replace("{{", "").replace("}}", "")) {
                r.error(&at, why);
            }
        }
        if p.kind == SmsKind::EmailGateway && n.email.is_none() {
            r.error(
                &format!("notifiers.sms[{i}]"),
                "an email_gateway provider sends through notifiers.email: configure it",
            );
        }
    }
    for (i, w) in n.webhooks.iter().enumerate() {
        if !channels.insert(w.name.as_str()) || !valid_channel_name(&w.name) {
            r.error(
                &format!("notifiers.webhooks[{i}].name"),
                format!("provider name `{}` is taken or invalid", w.name),
            );
        }
        let at = format!("notifiers.webhooks[{i}].url");
        if let Some(why) = url_problem(&at, &w.url) {
            r.error(&at, why);
        }
    }
}

/// What is wrong with a provider's URL, without quoting it (after `${ENV}` substitution it may
/// hold a key, and the message goes to the admin API's reload answer).
fn url_problem(at: &str, u: &str) -> Option<String> {
    match url::Url::parse(u) {
        Err(e) => Some(format!("`{at}` is not a URL ({e})")),
        Ok(p) if !matches!(p.scheme(), "http" | "https") => Some(format!("`{at}` is not an http:// or https:// URL")),
        Ok(_) => None,
    }
}

/// One SMS provider (`at` is its key path): an http one sends to the user's number, an e-mail
/// gateway has a DNS domain, a named kind has what its API needs and nothing it ignores.
fn sms_kind(r: &mut Reporter, at: &str, p: &file::SmsProvider) {
    match p.kind {
        SmsKind::Http if p.url.is_none() => r.error(at, "an http SMS provider needs `url`"),
        // Sign-in codes go to SMS providers: one that does not send to the user's number
        // hands every code to a fixed receiver, which is a webhook.
        SmsKind::Http if ![p.url.as_deref(), p.body.as_deref()].into_iter().flatten().chain(p.headers.values().map(String::as_str)).any(|t| t.contains("{{to}}")) => r.error(
            at,
            "an http SMS provider must send to the user's number: put {{to}} in its url, body or a header. Sign-in codes go only to the user's own channels; a fixed receiver of codes is a webhook (notifiers.webhooks), which serves app verifications only",
        ),
        SmsKind::EmailGateway if p.domain.is_none() => r.error(at, "an email_gateway SMS provider needs `domain`"),
        SmsKind::EmailGateway
            if p.domain.as_deref().is_some_and(|d| crate::address::normalize_email(&format!("0@{d}")).is_err()) =>
        {
            r.error(&format!("{at}.domain"), "an email_gateway domain must be a DNS name like txt.example.net")
        }
        _ => {}
    }
    named_fields(r, at, p);
}

/// The keys each kind takes besides `name`, `kind` and `channel`: required, then optional.
fn kind_fields(p: &file::SmsProvider) -> (&'static [&'static str], &'static [&'static str]) {
    let wa = p.channel == PhoneChannel::Whatsapp;
    match p.kind {
        SmsKind::Http => (&[], &["url", "method", "headers", "body", "content_type"]),
        SmsKind::EmailGateway => (&["domain"], &[]),
        SmsKind::AwsSms => (&[], &["url", "from", "region", "access_key_id", "secret_access_key", "session_token"]),
        SmsKind::Kaleyra if wa => (&["account", "api_key", "from", "template"], &["url", "language"]),
        SmsKind::Kaleyra => (&["account", "api_key", "from"], &["url", "template"]),
        SmsKind::Twilio => (&["account", "auth_token", "from"], if wa { &["url", "template"] } else { &["url"] }),
        SmsKind::Fast2sms if p.route.as_deref() == Some("dlt") => (&["api_key", "from", "template"], &["url", "route"]),
        SmsKind::Fast2sms => (&["api_key"], &["url", "route"]),
    }
}

/// Named kinds: the keys their API needs are there, and no key the kind ignores is set (a
/// misplaced key is a mistake, not a setting); WhatsApp only where the provider offers it.
fn named_fields(r: &mut Reporter, at: &str, p: &file::SmsProvider) {
    let set: Vec<(&str, bool)> = vec![
        ("url", p.url.is_some()),
        ("method", p.method.is_some()),
        ("headers", !p.headers.is_empty()),
        ("body", p.body.is_some()),
        ("content_type", p.content_type.is_some()),
        ("domain", p.domain.is_some()),
        ("account", p.account.is_some()),
        ("api_key", p.api_key.is_some()),
        ("auth_token", p.auth_token.is_some()),
        ("from", p.from.is_some()),
        ("template", p.template.is_some()),
        ("language", p.language.is_some()),
        ("route", p.route.is_some()),
        ("region", p.region.is_some()),
        ("access_key_id", p.access_key_id.is_some()),
        ("secret_access_key", p.secret_access_key.is_some()),
        ("session_token", p.session_token.is_some()),
    ];
    let kind = p.kind.as_str();
    if p.channel == PhoneChannel::Whatsapp && !matches!(p.kind, SmsKind::Http | SmsKind::Kaleyra | SmsKind::Twilio) {
        r.error(&format!("{at}.channel"), "channel: whatsapp is offered by kaleyra, twilio and http providers only");
    }
    let (required, optional) = kind_fields(p);
    for (key, present) in set {
        if required.contains(&key) && !present {
            r.error(at, format!("this provider needs `{key}` (docs/configuration.md §8)"));
        } else if present && !required.contains(&key) && !optional.contains(&key) {
            r.error(
                &format!("{at}.{key}"),
                format!("`{key}` does not apply to this kind of provider ({kind}); remove it"),
            );
        }
    }
    if p.access_key_id.is_some() != p.secret_access_key.is_some() {
        r.error(at, "access_key_id and secret_access_key go together");
    }
    if p.route.as_deref().is_some_and(|r| !matches!(r, "otp" | "q" | "dlt")) {
        r.error(&format!("{at}.route"), "a Fast2SMS route is otp, q or dlt");
    }
    // The account goes into the API's path.
    if p.account.as_deref().is_some_and(|a| a.is_empty() || !a.bytes().all(|b| b.is_ascii_alphanumeric())) {
        r.error(&format!("{at}.account"), "an account (Twilio Account SID, Kaleyra SID) is letters and digits");
    }
}

fn valid_channel_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= 64 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
