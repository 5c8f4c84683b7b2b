//! E-mail through SMTP (lettre): plain, STARTTLS (`starttls`) or implicit TLS (`tls`), with
//! optional authentication.

use crate::config::Config;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use std::time::Duration;

/// The mailbox of exactly the stored address: a plain addr-spec (see
/// `control::normalize_email`), never parsed as a display-name form, so nothing but the
/// address itself can choose where a message goes (its domain in lower case).
pub fn recipient(to: &str) -> Result<Mailbox, String> {
    let plain = crate::address::normalize_email(to)?;
    let address: lettre::Address = plain.parse().map_err(|err| format!("`{plain}` is not an e-mail address: {err}"))?;
    Ok(Mailbox::new(None, address))
}

pub fn send(cfg: &Config, to: &str, subject: &str, text: &str) -> Result<(), String> {
    let e = cfg.notifiers.email.as_ref().ok_or("notifiers.email is not configured")?;
    let from: Mailbox = e.from.parse().map_err(|err| format!("notifiers.email.from: {err}"))?;
    let rcpt = recipient(to)?;
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

#[cfg(test)]
mod tests {
    use super::recipient;

    #[test]
    fn messages_go_to_exactly_the_stored_address() {
        let m = recipient("alice@example.com").unwrap();
        assert_eq!(m.name, None);
        assert_eq!(m.email.to_string(), "alice@example.com");
        for bad in [
            "Mallory <mallory@evil.example>",
            "alice@example.com, mallory@evil.example",
            "\"alice@example.com\" <mallory@evil.example>",
            "alice@example.com\r\nBcc: mallory@evil.example",
            "mallory@evil.example>",
        ] {
            assert!(recipient(bad).is_err(), "{bad}");
        }
    }
}
