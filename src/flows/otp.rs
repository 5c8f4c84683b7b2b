//! One-time codes: made from the OS CSPRNG, stored only as an HMAC bound to purpose, tenant,
//! app and identifier, with a TTL and an attempt budget; a new code supersedes the old; a code
//! is consumed by its first correct use. The message carrying a code is committed to the
//! outbox in the same transaction as the code, so an acknowledged request always delivers.
//!
//! Time comes in as an argument, so tests decide what has expired.

use crate::domain::Purpose;
use crate::flows::error::FlowError;
use crate::flows::services::Services;
use crate::runtime::Runtime;
use crate::store::{CodeCheck, CodeRecord, OutboxMessage, Store};
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

/// The store key of a code: purpose (`login`, `register`, `mfa`, `verify`), tenant, app and
/// identifier (lower case); the code's hash is bound to it.
pub fn code_key(purpose: Purpose, tenant: &str, app: &str, identifier: &str) -> String {
    format!("{purpose}\0{tenant}\0{app}\0{}", identifier.trim().to_lowercase())
}

/// Drops the user's live sign-in and second-factor codes (after a password reset, a code sent
/// before it must not sign in after it); returns how many.
pub fn drop_user_codes(svc: &Services, tenant: &str, user_id: &str) -> Result<usize, FlowError> {
    let subject = format!("user:{user_id}");
    let mine = |key: &str| {
        [Purpose::Login, Purpose::Mfa].iter().any(|p| {
            key.strip_prefix(p.as_str())
                .and_then(|k| k.strip_prefix('\0'))
                .and_then(|k| k.strip_prefix(tenant))
                .and_then(|k| k.strip_prefix('\0'))
                .is_some_and(|rest| rest.rsplit('\0').next() == Some(subject.as_str()))
        })
    };
    Ok(svc.store.drop_codes(mine)?)
}

/// `len` decimal digits, uniformly from the thread CSPRNG (ChaCha, seeded by the OS).
pub fn new_code(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect()
}

/// Hex HMAC-SHA256 of `code` under the server's code key, bound to the record key.
pub fn code_hash(key: &[u8; 32], record_key: &str, code: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(record_key.as_bytes());
    mac.update(b"\0");
    mac.update(code.trim().as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Where and why a code goes.
pub struct Send<'a> {
    pub purpose: Purpose,
    pub tenant: &'a str,
    pub app: &'a str,
    /// What the code is bound to (the identifier the user typed, a user id, a verification).
    pub identifier: &'a str,
    pub channel: &'a str,
    pub to: &'a str,
    pub ttl: u64,
    pub max_attempts: u32,
    pub extra: serde_json::Value,
}

/// A code made for `s`: the store key, the record (its hash) and the message that carries it,
/// plus the code itself (for `otp.dev_show_codes`). Nothing is stored yet.
pub struct Prepared {
    pub key: String,
    pub record: CodeRecord,
    pub message: OutboxMessage,
    pub code: String,
}

/// Makes a code for `s` without storing it (see [`send_code`]); `store` names a store app.
pub fn prepare_code(rt: &Runtime, store: &Store, s: &Send, now: u64) -> Prepared {
    let code = new_code(rt.config.otp.length);
    let key = code_key(s.purpose, s.tenant, s.app, s.identifier);
    let record = CodeRecord {
        hash: code_hash(&rt.tokens().root().code_key, &key, &code),
        expires_at: now + s.ttl,
        attempts: 0,
        max_attempts: s.max_attempts,
        created_at: now,
        channel: s.channel.to_string(),
    };
    let message = message(rt, store, s, &code, now);
    Prepared { key, record, message, code }
}

/// Makes a code, stores its hash and queues the message; returns the code (for
/// `otp.dev_show_codes`). Blocking (one store commit).
pub fn send_code(rt: &Runtime, svc: &Services, s: &Send, now: u64) -> Result<String, FlowError> {
    let p = prepare_code(rt, &svc.store, s, now);
    svc.store.put_code(&p.key, &p.record, Some(&p.message))?;
    svc.outbox.wake();
    Ok(p.code)
}

/// The outbox message for a code. `{{app}}` is the app's name, a config or a store app's (the
/// one lookup, [`crate::appkeys::find_app`]); its id when it has none (or is not found).
pub fn message(rt: &Runtime, store: &Store, s: &Send, code: &str, now: u64) -> OutboxMessage {
    let known = (!s.app.is_empty()).then(|| crate::appkeys::find_app(&rt.config, store, s.app).ok().flatten());
    let name = known.flatten().map(|a| a.app.name).filter(|n| !n.is_empty());
    let app_name = name.as_deref().unwrap_or(s.app);
    let (subject, text) = crate::notify::compose(&rt.config, s.tenant, s.purpose, code, s.ttl, app_name);
    OutboxMessage {
        id: uuid::Uuid::new_v4().to_string(),
        channel: s.channel.to_string(),
        to: s.to.to_string(),
        subject: Some(subject),
        text,
        code: Some(code.to_string()),
        purpose: s.purpose.to_string(),
        tenant: Some(s.tenant.to_string()),
        app: Some(s.app.to_string()).filter(|a| !a.is_empty()),
        extra: s.extra.clone(),
        attempts: 0,
        next_attempt: now,
        created_at: now,
        leased_by: None,
    }
}

/// Stores a code nobody receives, so that asking for an unknown identifier costs what asking
/// for a known one does (and verifying it fails the same way).
/// `key` comes from [`code_key`].
pub fn store_decoy(rt: &Runtime, svc: &Services, key: &str, now: u64) -> Result<(), FlowError> {
    let rec = CodeRecord {
        hash: code_hash(&rt.tokens().root().code_key, key, &crate::sessions::new_secret()),
        expires_at: now + rt.config.otp.ttl.0.as_secs(),
        attempts: 0,
        max_attempts: rt.config.otp.max_attempts,
        created_at: now,
        channel: String::new(),
    };
    svc.store.put_code(key, &rec, None)?;
    Ok(())
}

/// Checks `code` for the record under `key` (from [`code_key`]: purpose, tenant, app and
/// identifier). Blocking.
pub fn check_code(rt: &Runtime, svc: &Services, key: &str, code: &str, now: u64) -> Result<CodeCheck, FlowError> {
    let hash = code_hash(&rt.tokens().root().code_key, key, code);
    Ok(svc.store.check_code(key, &hash, now)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_digits_of_the_asked_length_and_vary() {
        let a = new_code(6);
        assert_eq!(a.len(), 6);
        assert!(a.bytes().all(|b| b.is_ascii_digit()));
        let distinct: std::collections::HashSet<String> = (0..50).map(|_| new_code(8)).collect();
        assert!(distinct.len() > 45);
    }

    #[test]
    fn hashes_are_bound_to_their_record() {
        let k = [7u8; 32];
        let a = code_hash(&k, &code_key(Purpose::Login, "t", "", "A@x.com"), "123456");
        assert_eq!(a, code_hash(&k, &code_key(Purpose::Login, "t", "", " a@x.com "), "123456"));
        assert_ne!(a, code_hash(&k, &code_key(Purpose::Register, "t", "", "a@x.com"), "123456"));
        assert_ne!(a, code_hash(&k, &code_key(Purpose::Login, "u", "", "a@x.com"), "123456"));
        assert_ne!(a, code_hash(&k, &code_key(Purpose::Login, "t", "app", "a@x.com"), "123456"));
        assert_ne!(a, code_hash(&[8u8; 32], &code_key(Purpose::Login, "t", "", "a@x.com"), "123456"));
    }

    /// Anyone can name an identifier: no code, an expired one or a locked one is answered
    /// without a write transaction; only a live record's check writes.
    #[test]
    fn checking_a_missing_expired_or_locked_code_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("s.redb")).unwrap();
        let k = [1u8; 32];
        let key = code_key(Purpose::Login, "t", "", "a@x.com");
        let wrong = code_hash(&k, &key, "222222");
        let rec = CodeRecord {
            hash: code_hash(&k, &key, "111111"),
            expires_at: 1300,
            attempts: 0,
            max_attempts: 1,
            created_at: 1000,
            channel: "email".into(),
        };
        let before = store.write_transactions();
        assert_eq!(store.check_code(&key, &wrong, 1001).unwrap(), CodeCheck::Missing);
        assert_eq!(store.write_transactions(), before, "no code: no write");
        store.put_code(&key, &rec, None).unwrap();
        let before = store.write_transactions();
        assert_eq!(store.check_code(&key, &wrong, 1300).unwrap(), CodeCheck::Missing);
        assert_eq!(store.write_transactions(), before, "expired: no write");
        assert_eq!(store.check_code(&key, &wrong, 1001).unwrap(), CodeCheck::Locked);
        assert_eq!(store.write_transactions(), before + 1, "a live record's guess is counted");
        assert_eq!(store.check_code(&key, &wrong, 1001).unwrap(), CodeCheck::Locked);
        assert_eq!(store.write_transactions(), before + 1, "locked: no write");
    }

    #[test]
    fn store_checks_expiry_attempts_and_single_use() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("s.redb")).unwrap();
        let k = [1u8; 32];
        let key = code_key(Purpose::Login, "t", "", "a@x.com");
        let rec = |now: u64| CodeRecord {
            hash: code_hash(&k, &key, "111111"),
            expires_at: now + 300,
            attempts: 0,
            max_attempts: 3,
            created_at: now,
            channel: "email".into(),
        };
        let right = code_hash(&k, &key, "111111");
        let wrong = code_hash(&k, &key, "222222");
        // Single use.
        store.put_code(&key, &rec(1000), None).unwrap();
        assert!(matches!(store.check_code(&key, &right, 1001).unwrap(), CodeCheck::Accepted(_)));
        assert_eq!(store.check_code(&key, &right, 1002).unwrap(), CodeCheck::Missing);
        // Expiry: valid at 1299, gone at 1300.
        store.put_code(&key, &rec(1000), None).unwrap();
        assert_eq!(store.check_code(&key, &right, 1300).unwrap(), CodeCheck::Missing);
        // Attempts: two wrong leave one, the third locks, then even the right one is refused.
        store.put_code(&key, &rec(1000), None).unwrap();
        assert_eq!(store.check_code(&key, &wrong, 1001).unwrap(), CodeCheck::Wrong { attempts_left: 2 });
        assert_eq!(store.check_code(&key, &wrong, 1001).unwrap(), CodeCheck::Wrong { attempts_left: 1 });
        assert_eq!(store.check_code(&key, &wrong, 1001).unwrap(), CodeCheck::Locked);
        assert_eq!(store.check_code(&key, &right, 1001).unwrap(), CodeCheck::Locked);
        // Supersession: a new code replaces the old record (and its count).
        let mut newer = rec(1010);
        newer.hash = code_hash(&k, &key, "333333");
        store.put_code(&key, &newer, None).unwrap();
        assert!(matches!(store.check_code(&key, &right, 1011).unwrap(), CodeCheck::Wrong { .. }));
        assert!(matches!(
            store.check_code(&key, &code_hash(&k, &key, "333333"), 1011).unwrap(),
            CodeCheck::Accepted(_)
        ));
    }
}
