//! Test harness: writes a config, starts the real `gatehouse` binary on free ports, and starts
//! real peers (an echo upstream, nginx, Caddy, an SMTP server, an HTTP recorder) around it. Everything listens on 127.0.0.1 and is
//! stopped when its handle drops.
#![allow(dead_code)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod codes;
mod http;
mod mail;
mod pg;
mod raw;
mod replicas;
mod web;
// Each test binary uses a part of the harness.
#[allow(unused_imports)]
pub use codes::*;
#[allow(unused_imports)]
pub use http::*;
#[allow(unused_imports)]
pub use mail::*;
#[allow(unused_imports)]
pub use pg::*;
#[allow(unused_imports)]
pub use raw::*;
#[allow(unused_imports)]
pub use replicas::*;
#[allow(unused_imports)]
pub use web::*;

/// The `server` block a real-process config starts with (`Gatehouse::start` fills in the
/// listeners); a literal, for `concat!`.
#[macro_export]
macro_rules! server_block {
    () => {
        "\nserver:\n  listen: \"{listen}\"\n  ops_listen: \"{ops}\"\n  public_url: http://auth.test:8080\n  trusted_proxies: [127.0.0.1/32]\n"
    };
}

/// [`server_block!`] with a store and a signing key in the test's directory.
pub const SERVER_AND_STORE: &str = concat!(
    crate::server_block!(),
    "storage: {path: \"{dir}/data/gatehouse.redb\"}\n",
    "tokens: {issuer: http://auth.test:8080, signing_key: \"{dir}/data/key.pem\"}\n"
);

/// The start of a policy for 127.0.0.1 and every `*.test` host: deny by default, `/public`
/// bypasses; the rules that follow it are list items.
pub const POLICY_HEAD: &str = r#"
default_policy: deny
rules:
  - domain: ["127.0.0.1", "*.test"]
    resources: ["^/public(/.*)?$"]
    policy: bypass
"#;

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

/// The ports in Gatehouse's `listening gateway=127.0.0.1:P ops=127.0.0.1:Q` line.
fn listening_ports(line: &str) -> Option<(u16, u16)> {
    let rest = line.strip_prefix("listening gateway=")?;
    let (gateway, ops) = rest.split_once(" ops=")?;
    let port = |a: &str| a.parse::<SocketAddr>().ok().map(|a| a.port());
    Some((port(gateway)?, port(ops.trim())?))
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
    /// The PostgreSQL database it runs on, with `GATEHOUSE_TEST_STORE=postgres` (dropped last).
    _db: Option<TestDb>,
}

/// Whether this is scripts/test's PostgreSQL pass (`GATEHOUSE_TEST_STORE=postgres`).
pub fn on_test_postgres() -> bool {
    std::env::var("GATEHOUSE_TEST_STORE").as_deref() == Ok("postgres")
}

/// With `GATEHOUSE_TEST_STORE=postgres` (scripts/test's second pass), a config's
/// `storage: {path: …}` line becomes a fresh database on the test PostgreSQL: the suite checks
/// every feature on the shared store too.
fn on_test_store(config: String) -> (String, Option<TestDb>) {
    if !on_test_postgres() {
        return (config, None);
    }
    // A test that chose its store itself (a PostgreSQL one, say) keeps it.
    if config.lines().any(|l| l.starts_with("storage:") && !l.starts_with("storage: {path:")) {
        return (config, None);
    }
    let db = pg_db();
    let line = format!("storage: {{postgres: {{url: \"{}\", pool: 8, timeout: 5s}}}}\n", db.url);
    let mut replaced = false;
    let text: String = config
        .lines()
        .map(|l| {
            if l.starts_with("storage: {path:") {
                replaced = true;
                line.trim_end().to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let text = if replaced { text + "\n" } else { format!("{text}\n{line}") };
    (text, Some(db))
}

impl Gatehouse {
    /// Starts Gatehouse with `config` (where `{listen}`, `{ops}` and `{dir}` are replaced) and
    /// the given policy files. Both listeners ask for port 0; Gatehouse reports the ports it got.
    pub fn start(config: &str, policies: &[(&str, &str)]) -> Gatehouse {
        let dir = tempfile::tempdir().unwrap();
        let text = config
            .replace("{listen}", "127.0.0.1:0")
            .replace("{ops}", "127.0.0.1:0")
            .replace("{dir}", dir.path().to_str().unwrap());
        let (text, db) = on_test_store(text);
        std::fs::write(dir.path().join("config.yaml"), text).unwrap();
        std::fs::create_dir_all(dir.path().join("policies")).unwrap();
        for (name, body) in policies {
            std::fs::write(dir.path().join("policies").join(name), body).unwrap();
        }
        let (child, port, ops_port) = Self::spawn(&dir.path().join("config.yaml"));
        Gatehouse { dir, port, ops_port, child, _db: db }
    }

    /// Starts the binary and waits (bounded) for its `listening gateway=ADDR ops=ADDR` line.
    /// Its standard error is drained on a thread so the process never blocks on a full pipe.
    fn spawn(config: &Path) -> (Child, u16, u16) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("-c")
            .arg(config)
            .arg("serve")
            .env("GATEHOUSE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<Result<(u16, u16), String>>();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut seen = String::new();
            let mut tx = Some(tx);
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if let (Some(ports), Some(t)) = (listening_ports(&line), tx.as_ref()) {
                    let _ = t.send(Ok(ports));
                    tx = None;
                } else if tx.is_some() {
                    seen.push_str(&line);
                    seen.push('\n');
                }
            }
            if let Some(t) = tx {
                let _ = t.send(Err(seen));
            }
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok((port, ops_port))) => (child, port, ops_port),
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("gatehouse did not report its listeners: {other:?}");
            }
        }
    }

    /// `kill -9`, then a new process on the same files (on new ports, which it reports).
    pub fn crash_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, port, ops_port) = Self::spawn(&self.config_path());
        (self.child, self.port, self.ops_port) = (child, port, ops_port);
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

    /// `POST /auth/logout` with a session cookie, as the site's own page sends it (JSON: the
    /// cross-site guard's condition for a cookie-carrying change).
    pub fn logout_cookie(&self, host: &str, cookie: &str) -> Resp {
        self.post("/auth/logout").host(host).header("Cookie", cookie).header("Content-Type", "application/json").send()
    }

    /// An access token for a session of user `username` (created with `groups` if needed).
    pub fn token(&self, username: &str, groups: &[&str], amr: &str) -> String {
        self.user(username, groups, None);
        let out = self.cli(&["token", "issue", "--user", username, "--amr", amr]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// An access token of administrator `email` (created with `admin create` if needed) for a
    /// session signed in with a password and TOTP: what `/auth/admin/api/*` accepts.
    pub fn admin_token(&self, email: &str) -> String {
        let out =
            self.cli_stdin(&["admin", "create", "--email", email, "--password-stdin"], "an admin's long password\n");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() || err.contains("already exists"), "{err}");
        let out = self.cli(&["token", "issue", "--user", email, "--amr", "pwd,totp", "--admin"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Event names in the audit log, newest first (read through the control socket is not
    /// offered yet: read the store after a stop would race; so ask the ops-free CLI path).
    pub fn audit_events(&self) -> Vec<String> {
        // Events are written by a background writer in small batches: read until two reads
        // 150 ms apart agree (at most 5 s).
        let read = || {
            let out = self.cli(&["audit", "list", "--limit", "200"]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
                .collect::<Vec<String>>()
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut last = read();
        loop {
            std::thread::sleep(Duration::from_millis(150));
            let now = read();
            if now == last || Instant::now() > deadline {
                return now;
            }
            last = now;
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
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

/// The path of peer program `bin` (on PATH or in an sbin directory), or a failure naming the
/// command that installs it.
pub fn need(bin: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let sbin = ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"].map(PathBuf::from);
    for dir in std::env::split_paths(&path).chain(sbin) {
        let p = dir.join(bin);
        if p.is_file() {
            return p;
        }
    }
    panic!("{}", missing(bin));
}

/// What to say when peer `what` is not there: the commands that install it.
pub fn missing(what: &str) -> String {
    let install = match what {
        "aiosmtpd" => "apt-get install python3-aiosmtpd",
        "node" => "apt-get install nodejs",
        "playwright-core" => "cd tests/browser && npm ci",
        "PyJWT" => "python3 -m pip install pyjwt cryptography",
        "schemathesis" => "python3 -m pip install schemathesis",
        "botocore" => "python3 -m pip install botocore",
        "caddy" => "apt-get install caddy (Caddy's apt repository)",
        other => return format!("`{other}` not found: run scripts/test (it installs it) or `apt-get install {other}`"),
    };
    format!("`{what}` not found: run scripts/test (it installs it) or `{install}`")
}

/// nginx with `auth_request` to Gatehouse in front of `upstream`.
pub fn nginx(gatehouse_port: u16, upstream_port: u16) -> Peer {
    nginx_on(free_port(), gatehouse_port, upstream_port)
}

/// Like [`nginx`] on a port chosen beforehand (when Gatehouse's `public_url` must name it).
pub fn nginx_on(port: u16, gatehouse_port: u16, upstream_port: u16) -> Peer {
    let conf = include_str!("../peers/nginx.conf.template")
        .replace("{gatehouse}", &format!("127.0.0.1:{gatehouse_port}"))
        .replace("{upstream}", &format!("127.0.0.1:{upstream_port}"));
    nginx_running(port, &conf)
}

/// nginx on `port` running `conf`, in which `{user}`, `{prefix}` and `{listen}` are replaced
/// (the caller replaces its own placeholders first).
pub fn nginx_running(port: u16, conf: &str) -> Peer {
    let bin = need("nginx");
    let dir = tempfile::tempdir().unwrap();
    let root = unsafe { libc::geteuid() } == 0;
    let conf = conf
        .replace("{user}", if root { "user root;" } else { "" })
        .replace("{prefix}", dir.path().to_str().unwrap())
        .replace("{listen}", &format!("127.0.0.1:{port}"));
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

/// The body of a response (typed or raw) as JSON.
pub fn json(resp: impl IntoJson) -> serde_json::Value {
    resp.into_json()
}

pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The wall clock in unix seconds, as the server reads it.
pub fn unix_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Waits (polled, bounded) until the wall clock reads at least unix second `at`: for an expiry
/// the server judges on that clock (a short configured TTL keeps the wait short).
pub fn wait_until_unix(at: u64) {
    let deadline = Instant::now() + Duration::from_secs(at.saturating_sub(unix_secs()) + 2);
    while unix_secs() < at {
        assert!(Instant::now() < deadline, "the clock did not reach {at}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An instant (unix seconds) to compute a test's TOTP codes for: now, once at least 10 s remain
/// in the current 30 s step (polled, bounded by one step). Codes for it and the steps next to it
/// then stay inside the server's ±1 step window for the test's run, whenever a step boundary
/// falls, and two calls for the same step always agree.
pub fn totp_instant() -> i64 {
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(31);
    loop {
        let t = now();
        if 30.0 - t % 30.0 >= 10.0 {
            return t as i64;
        }
        assert!(Instant::now() < deadline, "the clock did not move on");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The TOTP code `oathtool` computes for the base32 `secret` at unix time `at` (`--now @at`).
pub fn oathtool(secret: &str, at: i64) -> String {
    let out =
        Command::new(need("oathtool")).args(["--totp", "-b", secret, "--now", &format!("@{at}")]).output().unwrap();
    assert!(out.status.success(), "oathtool: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
