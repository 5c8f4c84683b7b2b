//! A real SMTP server for the tests: Debian's aiosmtpd (plain, STARTTLS, implicit TLS, or
//! requiring AUTH), with the messages read from the Maildir it writes.

use super::{free_port, missing, need, wait_port};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A real SMTP server: Debian's aiosmtpd with its Maildir handler. Messages are read from the
/// Maildir it writes.
pub struct Smtp {
    pub port: u16,
    pub maildir: tempfile::TempDir,
    child: Child,
}

impl Smtp {
    pub fn start() -> Smtp {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Smtp {
        Self::spawn(port, tempfile::tempdir().unwrap(), &[])
    }

    /// With TLS: `starttls` (STARTTLS required) or `tls` (implicit TLS), with a certificate for
    /// 127.0.0.1 made by openssl; its PEM is `ca.pem` in the returned server's maildir.
    pub fn start_tls(mode: &str) -> Smtp {
        let dir = tempfile::tempdir().unwrap();
        let p = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(p("leaf.ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").unwrap();
        // A private CA and a server certificate it signed (webpki refuses a CA as end entity).
        for args in [
            vec![
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=Test CA",
                "-keyout",
                &p("ca.key"),
                "-out",
                &p("ca.pem"),
            ],
            vec![
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                &p("key.pem"),
                "-out",
                &p("leaf.csr"),
            ],
            vec![
                "x509",
                "-req",
                "-in",
                &p("leaf.csr"),
                "-CA",
                &p("ca.pem"),
                "-CAkey",
                &p("ca.key"),
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                &p("leaf.ext"),
                "-out",
                &p("cert.pem"),
            ],
        ] {
            let out = Command::new(need("openssl")).args(&args).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
        let (c, k) = (cert.to_str().unwrap().to_string(), key.to_str().unwrap().to_string());
        let args: Vec<String> = match mode {
            "tls" => vec!["--smtpscert".into(), c, "--smtpskey".into(), k],
            _ => vec!["--tlscert".into(), c, "--tlskey".into(), k],
        };
        Self::spawn(free_port(), dir, &args)
    }

    /// Requiring AUTH with `user` and `password` (tests/peers/smtp_auth.py, on aiosmtpd).
    pub fn start_auth(user: &str, password: &str) -> Smtp {
        let maildir = tempfile::tempdir().unwrap();
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/smtp_auth.py");
        // Debian's python3, which python3-aiosmtpd installs into (not a python3 earlier on PATH).
        let python = "/usr/bin/python3";
        let has_aiosmtpd = Command::new(python).args(["-c", "import aiosmtpd"]).output();
        assert!(has_aiosmtpd.is_ok_and(|o| o.status.success()), "{}", missing("aiosmtpd"));
        let mut child = Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .arg(maildir.path().join("mail"))
            .args([user, password])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_port(port, "aiosmtpd (auth)", Some(&mut child));
        Smtp { port, maildir, child }
    }

    fn spawn(port: u16, maildir: tempfile::TempDir, extra: &[String]) -> Smtp {
        let mut child = Command::new(need("aiosmtpd"))
            .args(["-n", "-l", &format!("127.0.0.1:{port}")])
            .args(extra)
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_port(port, "aiosmtpd", Some(&mut child));
        Smtp { port, maildir, child }
    }

    /// Every message received so far (raw RFC 5322 text), oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<_> = ["new", "cur"]
            .iter()
            .filter_map(|d| std::fs::read_dir(self.maildir.path().join("mail").join(d)).ok())
            .flatten()
            .filter_map(|e| e.ok())
            .map(|e| (e.metadata().and_then(|m| m.modified()).ok(), e.path()))
            .collect();
        files.sort();
        files.into_iter().filter_map(|(_, p)| std::fs::read_to_string(p).ok()).collect()
    }

    /// Waits (bounded) for the `n`-th message to `to` and returns it.
    pub fn wait_for(&self, to: &str, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mine: Vec<String> = self.messages().into_iter().filter(|m| m.contains(&format!("To: {to}"))).collect();
            if mine.len() >= n {
                return mine[n - 1].clone();
            }
            assert!(Instant::now() < deadline, "no message #{n} to {to} arrived; got {:?}", self.messages());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The code in the `n`-th message to `to` that carries one (a notice, such as "a second
    /// factor was added", carries none and is not counted).
    pub fn code(&self, to: &str, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let codes: Vec<String> = self
                .messages()
                .into_iter()
                .filter(|m| m.contains(&format!("To: {to}")))
                .filter_map(|m| find_code(&m))
                .collect();
            if codes.len() >= n {
                return codes[n - 1].clone();
            }
            assert!(Instant::now() < deadline, "no code #{n} to {to} arrived; got {:?}", self.messages());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The first run of 4–10 digits standing alone in a text's body, if any.
pub fn find_code(text: &str) -> Option<String> {
    let body = text.split("\n\n").skip(1).collect::<Vec<_>>().join("\n\n");
    body.split(|c: char| !c.is_ascii_digit()).find(|w| (4..=10).contains(&w.len())).map(str::to_string)
}

/// The first run of 4–10 digits standing alone in a text.
pub fn code_in(text: &str) -> String {
    find_code(text).unwrap_or_else(|| panic!("no code in {text}"))
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
