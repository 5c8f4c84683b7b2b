//! E-mail through SMTP (lettre): plain, STARTTLS (`starttls`) or implicit TLS (`tls`), with
//! optional authentication.

use crate::config::Config;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};
use std::time::Duration;

pub fn send(cfg: &Config, to: &str, subject: &str, text: &str) -> Result<(), String> {
    let e = cfg.notifiers.email.as_ref().ok_or("notifiers.email is not configured")?;
    let from: Mailbox = e.from.parse().map_err(|err| format!("notifiers.email.from: {err}"))?;
    let rcpt: Mailbox = to.parse().map_err(|err| format!("`{to}` is not an e-mail address: {err}"))?;
    let msg = Message::builder()
        .from(from)
        .to(rcpt)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(text.to_string())
        .map_err(|err| format!("cannot build the message: {err}"))?;
    let s = &e.smtp;
    let builder = match s.tls.as_str() {
        "tls" => SmtpTransport::relay(&s.host).map_err(|err| err.to_string())?,
        "starttls" => SmtpTransport::starttls_relay(&s.host).map_err(|err| err.to_string())?,
        _ => SmtpTransport::builder_dangerous(&s.host),
    };
    let mut builder = builder.port(s.port).timeout(Some(Duration::from_secs(15)));
    if let (Some(u), Some(p)) = (&s.username, &s.password) {
        builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
    }
    builder.build().send(&msg).map(drop).map_err(|err| format!("SMTP {}:{}: {err}", s.host, s.port))
}
