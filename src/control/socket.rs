//! The control socket: the CLI sends an [`Op`] to the running server as one JSON line, or runs
//! it on the store itself when no server runs.

use super::{execute, ControlError, Ctx, Op};
use crate::config::Config;
use crate::store::{Store, StoreError};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Runs `op` through the running server's control socket, else on the store directly.
/// Returns the answer and whether the server ran it.
pub fn run(cfg: &Config, op: Op) -> Result<(Value, bool), ControlError> {
    if let Ok(mut stream) = UnixStream::connect(&cfg.server.control_socket) {
        stream.set_read_timeout(Some(Duration::from_secs(300))).ok();
        let mut line = serde_json::to_string(&op).map_err(ControlError::Encode)?;
        line.push('\n');
        stream.write_all(line.as_bytes()).map_err(ControlError::Socket)?;
        let mut answer = String::new();
        BufReader::new(stream).read_line(&mut answer).map_err(ControlError::Socket)?;
        let v: Value = serde_json::from_str(&answer).map_err(ControlError::Garbage)?;
        return match v.get("error").and_then(|e| e.as_str()) {
            Some(e) => Err(ControlError::Server(e.to_string())),
            None => Ok((v.get("ok").cloned().unwrap_or(Value::Null), true)),
        };
    }
    let store = Store::open_configured(cfg).map_err(|e| match e {
        StoreError::Locked(_) => ControlError::SocketSilent {
            store: crate::store::postgres::location(cfg),
            socket: cfg.server.control_socket.display().to_string(),
        },
        other => ControlError::Store(other),
    })?;
    let key = crate::tokens::SigningKey::load_or_create(&cfg.tokens.signing_key).map_err(ControlError::SigningKey)?;
    store.set_seed_key(key.seed_key)?;
    let tokens = crate::tokens::Tokens::new(&cfg.tokens.issuer, key);
    execute(&Ctx { store: &store, sessions: None, pats: None, audit: None, config: cfg, tokens: &tokens }, op)
        .map(|v| (v, false))
}

/// The longest request line the control socket reads (a 200-row import chunk is far below).
pub const MAX_LINE: usize = 4 << 20;

/// Serves the control socket until the process ends (runs on its own thread). Only the server's
/// own user (and root) may use it: the socket is 0600 and every connection's peer credentials are
/// checked before anything is read.
pub fn serve(
    path: &Path,
    handle: impl Fn(Op) -> Result<Value, ControlError> + Send + Sync + 'static,
) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    let handle = std::sync::Arc::new(handle);
    std::thread::Builder::new().name("gatehouse-control".into()).spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let handle = handle.clone();
            std::thread::spawn(move || serve_one(conn, &*handle));
        }
    })?;
    Ok(())
}

fn serve_one(mut conn: UnixStream, handle: &dyn Fn(Op) -> Result<Value, ControlError>) {
    let uid = peer_uid(&conn);
    if !uid.is_some_and(peer_allowed) {
        tracing::warn!(uid = ?uid, "control socket: refused a connection from another local user");
        let _ = writeln!(conn, "{}", json!({"error": "the control socket serves only the server's own user"}));
        return;
    }
    conn.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let answer = match read_request(&conn)
        .and_then(|line| serde_json::from_str::<Op>(&line).map_err(ControlError::NotAnOp))
        .and_then(handle)
    {
        Ok(v) => json!({"ok": v}),
        Err(e) => json!({"error": e.to_string()}),
    };
    let _ = writeln!(conn, "{answer}");
}

/// One request line of at most [`MAX_LINE`] bytes; a longer one is refused, never buffered.
fn read_request(conn: &UnixStream) -> Result<String, ControlError> {
    let mut line = String::new();
    let mut reader = BufReader::new(conn).take(MAX_LINE as u64 + 1);
    reader.read_line(&mut line).map_err(ControlError::Unreadable)?;
    if line.len() > MAX_LINE {
        return Err(ControlError::LineTooLong);
    }
    Ok(line)
}

/// The user id of the process at the other end.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn peer_uid(conn: &UnixStream) -> Option<u32> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given; the fd is open.
    let rc = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0 && len as usize == std::mem::size_of::<libc::ucred>()).then_some(cred.uid)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn peer_uid(conn: &UnixStream) -> Option<u32> {
    use std::os::fd::AsRawFd;
    let (mut uid, mut gid) = (0, 0);
    // SAFETY: `uid` and `gid` are valid for writes; the fd is open.
    let rc = unsafe { libc::getpeereid(conn.as_raw_fd(), &mut uid, &mut gid) };
    (rc == 0).then_some(uid)
}

/// The server's own user, or root (who can read the store anyway).
pub(super) fn peer_allowed(uid: u32) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    uid == unsafe { libc::geteuid() } || uid == 0
}
