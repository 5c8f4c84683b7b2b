//! Test harness: writes a config, starts the real `gatehouse` binary on free ports, and starts
//! real peers (an echo upstream, nginx, Caddy) around it. Everything listens on 127.0.0.1 and is
//! stopped when its handle drops.
#![allow(dead_code)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits (bounded) until something accepts connections on `port`.
pub fn wait_port(port: u16, what: &str, child: Option<&mut Child>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let mut out = String::new();
    if let Some(c) = child {
        let _ = c.kill();
        if let Some(mut e) = c.stderr.take() {
            let _ = e.read_to_string(&mut out);
        }
    }
    panic!("{what} did not start listening on {port}:\n{out}");
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A client whose connections come from 127.0.0.2: not a trusted proxy in the test configs.
pub fn untrusted_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub struct Gatehouse {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub ops_port: u16,
    child: Child,
}

impl Gatehouse {
    /// Starts Gatehouse with `config` (where `{listen}`, `{ops}` and `{dir}` are replaced) and
    /// the given policy files.
    pub fn start(config: &str, policies: &[(&str, &str)]) -> Gatehouse {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let ops_port = free_port();
        let text = config
            .replace("{listen}", &format!("127.0.0.1:{port}"))
            .replace("{ops}", &format!("127.0.0.1:{ops_port}"))
            .replace("{dir}", dir.path().to_str().unwrap());
        std::fs::write(dir.path().join("config.yaml"), text).unwrap();
        std::fs::create_dir_all(dir.path().join("policies")).unwrap();
        for (name, body) in policies {
            std::fs::write(dir.path().join("policies").join(name), body).unwrap();
        }
        let child = Self::spawn(&dir.path().join("config.yaml"), port, ops_port);
        Gatehouse { dir, port, ops_port, child }
    }

    fn spawn(config: &Path, port: u16, ops_port: u16) -> Child {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("-c")
            .arg(config)
            .arg("serve")
            .env("GATEHOUSE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_port(port, "gatehouse", Some(&mut child));
        wait_port(ops_port, "gatehouse ops", Some(&mut child));
        child
    }

    /// `kill -9`, then a new process on the same files and ports.
    pub fn crash_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The listening sockets are closed with the process; wait until the ports are free.
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Self::spawn(&self.config_path(), self.port, self.ops_port);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    pub fn policy_path(&self, name: &str) -> PathBuf {
        self.dir.path().join("policies").join(name)
    }

    /// Runs a CLI command against this instance's config.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_gatehouse")).arg("-c").arg(self.config_path()).args(args).output().unwrap()
    }

    /// Creates user `username` (email `username@example.com`) with `groups` unless it exists.
    pub fn user(&self, username: &str, groups: &[&str], password: Option<&str>) {
        let email = format!("{username}@example.com");
        let groups = groups.join(",");
        let mut args = vec!["user", "add", "--email", &email, "--username", username];
        if !groups.is_empty() {
            args.extend(["--groups", &groups]);
        }
        let out = match password {
            Some(pw) => {
                args.push("--password-stdin");
                self.cli_stdin(&args, &format!("{pw}\n"))
            }
            None => self.cli(&args),
        };
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() || err.contains("already exists"), "{err}");
    }

    /// Runs a CLI command with `input` on its standard input.
    pub fn cli_stdin(&self, args: &[&str], input: &str) -> std::process::Output {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("-c")
            .arg(self.config_path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    /// An access token for a session of user `username` (created with `groups` if needed).
    pub fn token(&self, username: &str, groups: &[&str], amr: &str) -> String {
        self.user(username, groups, None);
        let out = self.cli(&["token", "issue", "--user", username, "--amr", amr]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Event names in the audit log, newest first (read through the control socket is not
    /// offered yet: read the store after a stop would race; so ask the ops-free CLI path).
    pub fn audit_events(&self) -> Vec<String> {
        // Events are written by a background writer in small batches.
        std::thread::sleep(Duration::from_millis(100));
        let out = self.cli(&["audit", "list", "--limit", "200"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
            .collect()
    }

    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }
}

impl Drop for Gatehouse {
    fn drop(&mut self) {
        self.signal(libc::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real HTTP upstream that answers every request with JSON describing it.
pub struct Upstream {
    pub port: u16,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Upstream {
    pub fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(|req: axum::extract::Request| async move {
                    let mut headers = serde_json::Map::new();
                    for (k, v) in req.headers() {
                        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                        match headers.get_mut(k.as_str()) {
                            Some(serde_json::Value::String(prev)) => {
                                prev.push_str(", ");
                                prev.push_str(&v);
                            }
                            _ => {
                                headers.insert(k.as_str().to_string(), serde_json::Value::String(v));
                            }
                        }
                    }
                    axum::Json(serde_json::json!({
                        "upstream": true,
                        "method": req.method().as_str(),
                        "uri": req.uri().to_string(),
                        "headers": headers,
                    }))
                });
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        wait_port(port, "echo upstream", None);
        Upstream { port, _stop: tx }
    }
}

/// A child process (nginx, Caddy) stopped on drop.
pub struct Peer {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn need(bin: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"] {
        let p = Path::new(dir).join(bin);
        if p.exists() {
            return p;
        }
    }
    panic!("`{bin}` is not installed: run scripts/test, which installs it");
}

/// nginx with `auth_request` to Gatehouse in front of `upstream`.
pub fn nginx(gatehouse_port: u16, upstream_port: u16) -> Peer {
    nginx_on(free_port(), gatehouse_port, upstream_port)
}

/// Like [`nginx`] on a port chosen beforehand (when Gatehouse's `public_url` must name it).
pub fn nginx_on(port: u16, gatehouse_port: u16, upstream_port: u16) -> Peer {
    let bin = need("nginx");
    let dir = tempfile::tempdir().unwrap();
    let root = unsafe { libc::geteuid() } == 0;
    let conf = include_str!("../peers/nginx.conf.template")
        .replace("{user}", if root { "user root;" } else { "" })
        .replace("{prefix}", dir.path().to_str().unwrap())
        .replace("{listen}", &format!("127.0.0.1:{port}"))
        .replace("{gatehouse}", &format!("127.0.0.1:{gatehouse_port}"))
        .replace("{upstream}", &format!("127.0.0.1:{upstream_port}"));
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut child = Command::new(bin)
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf_path)
        .arg("-e")
        .arg("stderr")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_port(port, "nginx", Some(&mut child));
    Peer { port, child, _dir: dir }
}

/// Caddy with `forward_auth` to Gatehouse in front of `upstream`.
pub fn caddy(gatehouse_port: u16, upstream_port: u16) -> Peer {
    let bin = need("caddy");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = include_str!("../peers/Caddyfile.template")
        .replace("{storage}", dir.path().to_str().unwrap())
        .replace("{listen}", &format!("127.0.0.1:{port}"))
        .replace("{gatehouse}", &format!("127.0.0.1:{gatehouse_port}"))
        .replace("{upstream}", &format!("127.0.0.1:{upstream_port}"));
    let conf_path = dir.path().join("Caddyfile");
    std::fs::write(&conf_path, conf).unwrap();
    let mut child = Command::new(bin)
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&conf_path)
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_port(port, "caddy", Some(&mut child));
    Peer { port, child, _dir: dir }
}

pub fn json(resp: reqwest::blocking::Response) -> serde_json::Value {
    let status = resp.status();
    let text = resp.text().unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("status {status}, not JSON: {text}"))
}

pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The TOTP code `oathtool` computes for the base32 `secret` at `offset` seconds from now.
pub fn oathtool(secret: &str, offset: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let out = Command::new("oathtool")
        .args(["--totp", "-b", secret, "--now", &format!("@{}", now + offset)])
        .output()
        .expect("oathtool is not installed: run scripts/test, which installs it");
    assert!(out.status.success(), "oathtool: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

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
            let out = Command::new("openssl").args(&args).output().expect("openssl");
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
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(port.to_string())
            .arg(maildir.path().join("mail"))
            .args([user, password])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 with aiosmtpd");
        wait_port(port, "aiosmtpd (auth)", Some(&mut child));
        Smtp { port, maildir, child }
    }

    fn spawn(port: u16, maildir: tempfile::TempDir, extra: &[String]) -> Smtp {
        let mut child = Command::new("/usr/bin/aiosmtpd")
            .args(["-n", "-l", &format!("127.0.0.1:{port}")])
            .args(extra)
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("aiosmtpd (Debian python3-aiosmtpd; scripts/test installs it)");
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

    /// The code in the `n`-th message to `to`.
    pub fn code(&self, to: &str, n: usize) -> String {
        code_in(&self.wait_for(to, n))
    }
}

/// The first run of 4–10 digits standing alone in a text.
pub fn code_in(text: &str) -> String {
    let body = text.split("\n\n").skip(1).collect::<Vec<_>>().join("\n\n");
    body.split(|c: char| !c.is_ascii_digit())
        .find(|w| (4..=10).contains(&w.len()))
        .unwrap_or_else(|| panic!("no code in {text}"))
        .to_string()
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request a [`Recorder`] received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
}

/// A local HTTP server that records every request (SMS APIs, webhooks) and answers 200, or 500
/// to the first `fail_first` requests.
pub struct Recorder {
    pub port: u16,
    pub seen: std::sync::Arc<std::sync::Mutex<Vec<Recorded>>>,
    pub fail_first: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Recorder {
    pub fn start() -> Recorder {
        use std::sync::{atomic::AtomicUsize, Arc, Mutex};
        let seen: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let fail_first = Arc::new(AtomicUsize::new(0));
        let (s2, f2) = (seen.clone(), fail_first.clone());
        let (port, stop) = serve_router(move || {
            axum::Router::new().fallback(move |req: axum::extract::Request| {
                let (seen, fail) = (s2.clone(), f2.clone());
                async move {
                    let (parts, body) = req.into_parts();
                    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default().to_vec();
                    let headers = parts
                        .headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                        .collect();
                    seen.lock().unwrap().push(Recorded {
                        method: parts.method.to_string(),
                        uri: parts.uri.to_string(),
                        headers,
                        body,
                    });
                    let failing = fail
                        .fetch_update(std::sync::atomic::Ordering::SeqCst, std::sync::atomic::Ordering::SeqCst, |n| {
                            n.checked_sub(1)
                        })
                        .is_ok();
                    if failing {
                        (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "try again")
                    } else {
                        (axum::http::StatusCode::OK, "{\"ok\":true}")
                    }
                }
            })
        });
        Recorder { port, seen, fail_first, _stop: stop }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Waits (bounded) until `n` requests arrived; returns them all.
    pub fn wait(&self, n: usize) -> Vec<Recorded> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.seen.lock().unwrap().clone();
            if v.len() >= n {
                return v;
            }
            assert!(Instant::now() < deadline, "expected {n} requests, got {}: {v:?}", v.len());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A local web server answering every GET with the HTML in `page` (set it after start).
pub struct HtmlSite {
    pub port: u16,
    pub page: std::sync::Arc<std::sync::Mutex<String>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl HtmlSite {
    pub fn start() -> HtmlSite {
        let page: std::sync::Arc<std::sync::Mutex<String>> = Default::default();
        let p2 = page.clone();
        let (port, stop) = serve_router(move || {
            axum::Router::new().fallback(move || {
                let html = p2.lock().unwrap().clone();
                async move { axum::response::Html(html) }
            })
        });
        HtmlSite { port, page, _stop: stop }
    }
}

/// Serves the router `make` builds on 127.0.0.1 (a free port) on its own thread until the
/// returned sender is dropped.
fn serve_router(make: impl FnOnce() -> axum::Router + Send + 'static) -> (u16, tokio::sync::oneshot::Sender<()>) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(l, make())
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
    });
    (port, tx)
}
