//! Password hashing (argon2id) on a bounded blocking pool, and the rules for new passwords.
//!
//! At most `permits` hashes run at once (each needs `memory_kib` of memory) and at most
//! `max_waiting` wait for a slot; beyond that a caller gets [`Busy`] at once, so a login storm
//! cannot exhaust memory. Hashes run on dedicated threads at the lowest CPU priority (SCHED_IDLE):
//! they use every idle cycle, but the gateway's workers always come first, so a login storm
//! does not stall proxied traffic (measured in scripts/bench).

use crate::config::file::Argon2 as Argon2Params;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

type Job = Box<dyn FnOnce() + Send>;

/// Threads that run password hashes at the lowest scheduling priority.
struct Pool {
    tx: std::sync::Mutex<std::sync::mpsc::Sender<Job>>,
}

impl Pool {
    fn new(threads: usize) -> Pool {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("gatehouse-argon2-{i}")).spawn(move || {
                lower_priority();
                loop {
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::error!("cannot start a password hashing thread: {e}");
            }
        }
        Pool { tx: std::sync::Mutex::new(tx) }
    }

    fn submit(&self, job: Job) -> Result<(), Busy> {
        self.tx.lock().map_err(|_| Busy)?.send(job).map_err(|_| Busy)
    }
}

/// Lowest CPU priority for the calling thread: `SCHED_IDLE` (runs only when nothing else
/// wants the CPU, and is preempted at once when a gateway worker wakes up), else nice 19.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls about the calling thread; `param` outlives the call.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, 19);
        }
    }
}

pub struct Hasher {
    pool: Pool,
    params: Params,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    /// Verified against when the user does not exist, so answers and timing match.
    dummy: String,
}

/// Outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    pub ok: bool,
    /// The stored hash is weaker than the configured parameters: rehash now.
    pub needs_rehash: bool,
}

fn argon(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

/// Hashes synchronously (CLI, tests). Prefer [`Hasher::hash`] on a server.
pub fn hash_blocking(params: &Params, password: &str) -> Result<String, String> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|e| e.to_string())?;
    argon(params).hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

fn verify_blocking(params: &Params, password: &str, phc: &str) -> Checked {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return Checked { ok: false, needs_rehash: false };
    };
    let ok = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
    let weaker = parsed.algorithm.as_str() != "argon2id"
        || Params::try_from(&parsed).map_or(true, |p| {
            p.m_cost() < params.m_cost() || p.t_cost() < params.t_cost() || p.p_cost() < params.p_cost()
        });
    Checked { ok, needs_rehash: ok && weaker }
}

pub fn params(p: &Argon2Params) -> Result<Params, String> {
    Params::new(p.memory_kib, p.iterations, p.parallelism, None).map_err(|e| format!("argon2 parameters: {e}"))
}

impl Hasher {
    pub fn new(p: &Argon2Params, permits: usize, max_waiting: usize) -> Result<Hasher, String> {
        let params = params(p)?;
        let dummy = hash_blocking(&params, "gatehouse dummy password for unknown users")?;
        let permits = permits.max(1);
        Ok(Hasher {
            pool: Pool::new(permits),
            params,
            permits: Arc::new(Semaphore::new(permits)),
            waiting: AtomicUsize::new(0),
            max_waiting,
            dummy,
        })
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce(Params) -> T + Send + 'static) -> Result<T, Busy> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy);
        }
        let permit = self.permits.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let permit = permit.map_err(|_| Busy)?;
        let params = self.params.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.pool.submit(Box::new(move || {
            let _permit = permit;
            let _ = tx.send(f(params));
        }))?;
        rx.await.map_err(|_| Busy)
    }

    pub async fn hash(&self, password: String) -> Result<Result<String, String>, Busy> {
        self.run(move |p| hash_blocking(&p, &password)).await
    }

    /// Checks `password` against `phc`, or against a dummy hash when there is no user, so the
    /// work (and time) is the same either way.
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<Checked, Busy> {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy.clone());
        let checked = self.run(move |p| verify_blocking(&p, &password, &phc)).await?;
        Ok(if known { checked } else { Checked { ok: false, needs_rehash: false } })
    }
}

/// The most common passwords (from public breach corpora), refused as new passwords.
const COMMON: &str = include_str!("common-passwords.txt");

/// Rules for a password a user chooses (NIST SP 800-63B): at least `min_length` characters,
/// at most 256 (never truncated), not a common password, not one character repeated.
pub fn check_new_password(pw: &str, min_length: usize) -> Result<(), String> {
    let n = pw.chars().count();
    if n < min_length {
        return Err(format!("The password must have at least {min_length} characters."));
    }
    if n > 256 {
        return Err("The password may have at most 256 characters.".into());
    }
    let lower = pw.to_lowercase();
    if COMMON.lines().any(|c| c == lower) {
        return Err("This password is among the most common ones; choose another.".into());
    }
    let first = lower.chars().next().unwrap_or(' ');
    if lower.chars().all(|c| c == first) {
        return Err("The password repeats one character; choose another.".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Params {
        Params::new(1024, 1, 1, None).unwrap()
    }

    #[test]
    fn hash_verify_and_rehash_detection() {
        let strong = Params::new(19_456, 2, 1, None).unwrap();
        let phc = hash_blocking(&cheap(), "correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        let c = verify_blocking(&strong, "correct horse battery", &phc);
        assert_eq!(c, Checked { ok: true, needs_rehash: true });
        let c = verify_blocking(&cheap(), "correct horse battery", &phc);
        assert_eq!(c, Checked { ok: true, needs_rehash: false });
        assert!(!verify_blocking(&cheap(), "wrong", &phc).ok);
        assert!(!verify_blocking(&cheap(), "x", "not a hash").ok);
    }

    #[test]
    fn new_password_rules() {
        assert!(check_new_password("short", 10).unwrap_err().contains("at least 10"));
        assert!(check_new_password("password123", 10).unwrap_err().contains("common"));
        assert!(check_new_password("aaaaaaaaaaaa", 10).unwrap_err().contains("repeats"));
        assert!(check_new_password(&"x".repeat(300), 10).is_err());
        assert!(check_new_password("violet-tractor-42", 10).is_ok());
        // Not truncated: a long password is accepted as a whole.
        assert!(check_new_password(&"ab".repeat(100), 10).is_ok());
    }

    #[tokio::test]
    async fn the_pool_refuses_beyond_its_queue() {
        let h =
            Arc::new(Hasher::new(&Argon2Params { memory_kib: 19_456, iterations: 2, parallelism: 1 }, 1, 1).unwrap());
        let mut tasks = vec![];
        for _ in 0..6 {
            let h = h.clone();
            tasks.push(tokio::spawn(async move { h.hash("some long password".into()).await.is_err() }));
        }
        let mut busy = 0;
        for t in tasks {
            if t.await.unwrap() {
                busy += 1;
            }
        }
        assert!(busy >= 1, "some callers must be turned away");
    }
}
