//! Releases: `gatehouse --version` names the version and the commit; the Debian package installs
//! with `dpkg -i`, runs as its systemd unit says (through systemd where it runs, else the unit's
//! own command line, user and environment), answers `/healthz`, and is purged.
//!
//! The package is built from the debug binary the suite already has (`scripts/release
//! --deb-only --binary`, cargo-deb strips it): CI needs no release build, and the test takes
//! about 15 s. It needs root (or `sudo -n`) for dpkg, and refuses to touch a `gatehouse`
//! package someone else installed on the machine.
use crate::common::*;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const UNIT: &str = "/usr/lib/systemd/system/gatehouse.service";
const ENV_FILE: &str = "/etc/default/gatehouse";

#[test]
fn version_names_the_version_and_the_commit() {
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse")).arg("--version").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with(&format!("gatehouse {} (commit ", env!("CARGO_PKG_VERSION"))), "{text}");
    let head =
        Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).current_dir(env!("CARGO_MANIFEST_DIR")).output();
    if let Some(h) = head.ok().filter(|h| h.status.success()) {
        let head = String::from_utf8_lossy(&h.stdout).trim().to_string();
        assert_eq!(text.trim(), format!("gatehouse {} (commit {head})", env!("CARGO_PKG_VERSION")));
    }
}

/// A command run as root: directly, or through `sudo -n`.
fn as_root(args: &[&str]) -> Command {
    if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new(args[0]);
        c.args(&args[1..]);
        c
    } else {
        let mut c = Command::new("sudo");
        c.arg("-n").args(args);
        c
    }
}

/// Runs a command as root; fails the test with its output.
fn root(args: &[&str]) -> Output {
    let out = as_root(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Undoes the installation whatever happens: stops the service, purges the package, removes
/// the environment file the test wrote.
struct Installed {
    child: Option<Child>,
    systemd: bool,
}

impl Drop for Installed {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if self.systemd {
            let _ = as_root(&["systemctl", "stop", "gatehouse"]).output();
        }
        let _ = as_root(&["dpkg", "--purge", "gatehouse"]).output();
        let _ = as_root(&["rm", "-f", ENV_FILE]).output();
    }
}

/// The unit's `Key=value` settings, in order.
fn unit_settings(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Starts the service the way its unit does, without systemd: `ExecStartPre` then `ExecStart`
/// as `User`/`Group`, in `WorkingDirectory`, with `Environment` and `EnvironmentFile`.
fn start_like_the_unit(unit: &str) -> Child {
    let s = unit_settings(unit);
    let get = |k: &str| s.iter().filter(|(n, _)| n == k).map(|(_, v)| v.clone()).collect::<Vec<_>>();
    let (user, group) = (get("User").remove(0), get("Group").remove(0));
    let mut env: Vec<(String, String)> = vec![("PATH".into(), "/usr/sbin:/usr/bin:/sbin:/bin".into())];
    for e in get("Environment") {
        let (k, v) = e.split_once('=').unwrap();
        env.push((k.into(), v.into()));
    }
    for f in get("EnvironmentFile") {
        let text = std::fs::read_to_string(f.trim_start_matches('-')).unwrap_or_default();
        env.extend(text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.into(), v.into())));
    }
    let command = |line: &str| {
        let argv: Vec<&str> = line.split_whitespace().collect();
        let mut c = Command::new(need("setpriv"));
        c.args(["--reuid", &user, "--regid", &group, "--init-groups", "--"]).args(&argv);
        c.env_clear().envs(env.iter().cloned()).current_dir(get("WorkingDirectory").remove(0));
        c
    };
    for pre in get("ExecStartPre") {
        let out = command(&pre).output().unwrap();
        assert!(out.status.success(), "ExecStartPre {pre}: {}", String::from_utf8_lossy(&out.stderr));
    }
    command(&get("ExecStart").remove(0)).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
}

fn healthz(ops: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let r = client().get(format!("http://127.0.0.1:{ops}/healthz")).send();
        if r.is_ok_and(|r| r.status() == 200) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn the_debian_package_installs_runs_as_its_own_user_and_is_removed() {
    need("dpkg");
    // One installation at a time on this machine (other worktrees run this test too).
    let lock = std::fs::File::create("/tmp/gatehouse-deb-test.lock").unwrap();
    assert_eq!(unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) }, 0);
    let already = Command::new("dpkg").args(["-s", "gatehouse"]).output().unwrap();
    assert!(!already.status.success(), "a gatehouse package is installed on this machine: the test would replace and purge it; `dpkg --purge gatehouse` first");

    let dir = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/release");
    let out = Command::new(script)
        .args(["--deb-only", "--binary", env!("CARGO_BIN_EXE_gatehouse"), "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "scripts/release: {}", String::from_utf8_lossy(&out.stderr));
    let deb = String::from_utf8(out.stdout).unwrap().lines().last().unwrap_or_default().to_string();
    assert!(deb.ends_with(".deb") && Path::new(&deb).is_file(), "{deb}");

    let systemd = Path::new("/run/systemd/system").is_dir();
    let mut guard = Installed { child: None, systemd };
    root(&["dpkg", "-i", &deb]);

    // Its own user, data in /var/lib/gatehouse (0700, the user's), configuration in
    // /etc/gatehouse (readable by the service's group only), the unit.
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let uid = String::from_utf8(root(&["id", "-u", "gatehouse"]).stdout).unwrap().trim().parse::<u32>().unwrap();
    assert_ne!(uid, 0);
    let data = std::fs::metadata("/var/lib/gatehouse").unwrap();
    assert_eq!((data.uid(), data.permissions().mode() & 0o777), (uid, 0o700));
    let cfg = std::fs::metadata("/etc/gatehouse/config.yaml").unwrap();
    assert_eq!(cfg.permissions().mode() & 0o777, 0o640);
    assert!(Path::new("/etc/gatehouse/policies/00-default.yaml").is_file());
    let unit = std::fs::read_to_string(UNIT).unwrap();
    assert!(
        unit.contains("User=gatehouse")
            && unit.contains("ExecStart=/usr/bin/gatehouse -c /etc/gatehouse/config.yaml serve")
    );

    // Listeners on free ports through the unit's environment file, then start.
    let (port, ops) = (free_port(), free_port());
    let env = dir.path().join("env");
    std::fs::write(&env, format!("GATEHOUSE_LISTEN=127.0.0.1:{port}\nGATEHOUSE_OPS_LISTEN=127.0.0.1:{ops}\n")).unwrap();
    root(&["install", "-m", "0644", env.to_str().unwrap(), ENV_FILE]);
    if systemd {
        root(&["systemctl", "start", "gatehouse"]);
    } else {
        guard.child = Some(start_like_the_unit(&unit));
    }
    assert!(healthz(ops), "the installed service never answered /healthz");
    let store = std::fs::metadata("/var/lib/gatehouse/gatehouse.redb").expect("the store is in /var/lib/gatehouse");
    assert_eq!(store.uid(), uid, "the service runs as the gatehouse user");

    // Stopped and purged: binary, data and user are gone.
    drop(guard);
    assert!(!Path::new("/usr/bin/gatehouse").exists() && !Path::new("/var/lib/gatehouse").exists());
    assert!(!Command::new("id").arg("gatehouse").output().unwrap().status.success(), "the user was removed");
}

/// The image's build stage copies only some of the repository: every file the build reads must
/// be under one of its `COPY`s (the vendored crates of `[patch.crates-io]`, the templates, each
/// `include_str!`/`include_bytes!` target, the benches), or `docker build` fails where no test
/// runs it (this machine has no Docker engine).
#[test]
fn the_dockerfile_copies_everything_the_build_reads() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let build_stage = dockerfile.split("\nFROM ").nth(1).unwrap();
    let copied: Vec<String> = build_stage
        .lines()
        .filter_map(|l| l.strip_prefix("COPY "))
        .filter(|l| !l.starts_with("--from"))
        .flat_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            parts[..parts.len() - 1]
                .iter()
                .map(|p| p.trim_start_matches("./").trim_end_matches('/').to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let covered = |rel: &str| copied.iter().any(|c| rel == c || rel.starts_with(&format!("{c}/")));
    let mut needed: Vec<String> = vec!["Cargo.toml".into(), "Cargo.lock".into(), "build.rs".into(), "templates".into()];
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    for line in manifest.lines() {
        if let Some(at) = line.find("path = \"") {
            let rest = &line[at + 8..];
            needed.push(rest[..rest.find('"').unwrap()].to_string());
        }
    }
    let mut stack = vec![root.join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for macro_ in ["include_str!(\"", "include_bytes!(\""] {
                for piece in text.split(macro_).skip(1) {
                    let target = &piece[..piece.find('"').unwrap()];
                    let full = path.parent().unwrap().join(target);
                    let full = full.canonicalize().unwrap_or_else(|_| panic!("{} names {target}", path.display()));
                    needed.push(full.strip_prefix(root.canonicalize().unwrap()).unwrap().display().to_string());
                }
            }
        }
    }
    let missing: Vec<&String> = needed.iter().filter(|n| !covered(n)).collect();
    assert!(missing.is_empty(), "the Dockerfile's build stage does not COPY {missing:?} (copies {copied:?})");
    assert!(
        needed.iter().any(|n| n.starts_with("vendor/")) && needed.iter().any(|n| n.starts_with("docs/")),
        "{needed:?}"
    );
}
