//! E-mail through SMTP (lettre): plain, STARTTLS (`starttls`) or implicit TLS (`tls`), with
//! optional authentication.

use crate::config::Config;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
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
    let mut builder = SmtpTransport::builder_dangerous(&s.host).port(s.port).timeout(Some(Duration::from_secs(15)));
    if s.tls != "none" {
        let mut params = TlsParameters::builder(s.host.clone());
        if let Some(path) = &s.ca_file {
            let pem = std::fs::read(path).map_err(|err| format!("smtp.ca_file {path}: {err}"))?;
            params = params.add_root_certificate(Certificate::from_pem(&pem).map_err(|err| err.to_string())?);
        }
        let params = params.build_rustls().map_err(|err| format!("TLS settings: {err}"))?;
        builder = builder.tls(if s.tls == "tls" { Tls::Wrapper(params) } else { Tls::Required(params) });
    }
    if let (Some(u), Some(p)) = (&s.username, &s.password) {
        builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
    }
    builder.build().send(&msg).map(drop).map_err(|err| format!("SMTP {}:{}: {err}", s.host, s.port))
}
