//! The signing keys in effect: the newest signs, earlier ones verify until their overlap window
//! ends. Without a store (tests, benchmarks) the ring is the key file's key alone. With one, the
//! keys live in the store (sealed under a key derived from the key file, which every replica
//! shares) and each replica re-reads them when it may have missed a rotation: at most every
//! [`SIGN_RECHECK_MS`] when it signs, at most every [`UNKNOWN_KID_RECHECK_MS`] when a token
//! names a key it does not know, and at every reload. Nothing wakes up while idle.
//!
//! Called on a runtime (a request), the re-read runs on the runtime's blocking pool, never on
//! the request's thread: the request is answered from the keys at hand (a token of a key not
//! read yet is refused), and the ring is swapped once the read is done — a token of a key
//! rotated on another replica verifies from about [`UNKNOWN_KID_RECHECK_MS`] after it is first
//! seen. Off a runtime (the CLI, plain threads) the read is done in place.

use super::keys::SigningKey;
use crate::store::{seal, Store, StoredSigningKey};
use arc_swap::ArcSwap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// A replica signing with a key another replica has just retired is harmless (it verifies for
/// the whole overlap window): signing re-reads the keys at most this often.
pub const SIGN_RECHECK_MS: u64 = 10_000;
/// A token of a key this replica has not seen yet re-reads the keys at most this often, so
/// random `kid`s cannot turn requests into store reads.
pub const UNKNOWN_KID_RECHECK_MS: u64 = 1_000;

const START_MS: u64 = 1 << 30;

pub struct RingKey {
    pub key: SigningKey,
    /// Tokens it signed verify until then (seconds); `None`: the current key.
    pub valid_until: Option<u64>,
}

impl RingKey {
    pub fn live(&self, now: u64) -> bool {
        self.valid_until.is_none_or(|t| now < t)
    }
}

/// The keys, newest first, and what they were built from (to rebuild only on a change).
pub struct Ring {
    pub keys: Vec<RingKey>,
    built_from: Vec<(u64, Option<u64>)>,
}

pub struct KeyRing {
    /// The key file's key: seals the stored keys, and derives the code and seed keys.
    pub root: SigningKey,
    ring: ArcSwap<Ring>,
    store: OnceLock<Arc<Store>>,
    /// Milliseconds since `epoch` of the last read of the store's keys.
    checked_ms: AtomicU64,
    epoch: Instant,
    /// Bumped at every change of the ring.
    generation: AtomicU64,
}

fn context(kid: &str) -> String {
    format!("signing-key:{kid}")
}

fn sealed_key(root: &SigningKey, key: &SigningKey, now: u64) -> Result<StoredSigningKey, String> {
    let secret = zeroize::Zeroizing::new(B64.encode(*key.secret));
    let sealed = seal::seal_with(&root.keys_key, &context(&key.kid), &secret).ok_or("cannot seal the signing key")?;
    Ok(StoredSigningKey { seq: 0, kid: key.kid.clone(), sealed, created_at: now, retired_at: None, valid_until: None })
}

fn unseal(root: &SigningKey, k: &StoredSigningKey) -> Result<SigningKey, String> {
    let refused = || {
        format!(
            "the signing key {} in the store does not open with this server's tokens.signing_key: \
             every replica needs the same key file (the one the store's keys were sealed with)",
            k.kid
        )
    };
    let text =
        zeroize::Zeroizing::new(seal::open_with(&root.keys_key, &context(&k.kid), &k.sealed).ok_or_else(refused)?);
    let raw = zeroize::Zeroizing::new(B64.decode(text.as_bytes()).map_err(|_| refused())?);
    let secret = zeroize::Zeroizing::new(<[u8; 32]>::try_from(raw.as_slice()).map_err(|_| refused())?);
    let key = SigningKey::from_secret(&secret)?;
    if key.kid != k.kid {
        return Err(refused());
    }
    Ok(key)
}

impl KeyRing {
    pub fn new(root: SigningKey) -> Result<KeyRing, String> {
        let own = SigningKey::from_secret(&root.secret)?;
        let ring = Ring { keys: vec![RingKey { key: own, valid_until: None }], built_from: vec![] };
        Ok(KeyRing {
            root,
            ring: ArcSwap::from_pointee(ring),
            store: OnceLock::new(),
            checked_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            generation: AtomicU64::new(0),
        })
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn load(&self) -> arc_swap::Guard<Arc<Ring>> {
        self.ring.load()
    }

    /// Keys from now on come from `store`: the key file's key is stored as the first one when
    /// the store has none (so the tokens it signed keep verifying), then the ring is read.
    pub fn attach(&self, store: Arc<Store>, now: u64) -> Result<(), String> {
        let first = sealed_key(&self.root, &self.root, now)?;
        let keys = store.import_signing_key(first).map_err(|e| e.to_string())?;
        self.rebuild(&keys, now)?;
        let _ = self.store.set(store);
        self.checked_ms.store(self.now_ms(), Ordering::Relaxed);
        Ok(())
    }

    /// Milliseconds since `epoch`, from [`START_MS`] on (so 0 is "long ago").
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + START_MS
    }

    /// As if the last read of the store's keys were long ago (tests).
    #[cfg(test)]
    pub fn forget_last_check(&self) {
        self.checked_ms.store(0, Ordering::Relaxed);
    }

    fn rebuild(&self, stored: &[StoredSigningKey], now: u64) -> Result<(), String> {
        let live: Vec<&StoredSigningKey> = stored.iter().rev().filter(|k| k.live(now)).collect();
        let built_from: Vec<(u64, Option<u64>)> = live.iter().map(|k| (k.seq, k.valid_until)).collect();
        if live.is_empty() || self.ring.load().built_from == built_from {
            return Ok(());
        }
        let keys = live
            .iter()
            .map(|k| Ok(RingKey { key: unseal(&self.root, k)?, valid_until: k.valid_until }))
            .collect::<Result<Vec<_>, String>>()?;
        self.ring.store(Arc::new(Ring { keys, built_from }));
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Re-reads the store's keys now.
    pub fn refresh(&self, now: u64) -> Result<(), String> {
        let Some(store) = self.store.get() else { return Ok(()) };
        self.checked_ms.store(self.now_ms(), Ordering::Relaxed);
        let keys = store.signing_keys().map_err(|e| e.to_string())?;
        self.rebuild(&keys, now)
    }

    /// Re-reads the store's keys when the last read is at least `gap_ms` old (one caller at a
    /// time does): in the background on a runtime (see the module). True when it read or
    /// started reading.
    pub fn refresh_at_most_every(self: &Arc<Self>, gap_ms: u64, now: u64) -> bool {
        if !self.claim_read(gap_ms) {
            return false;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                let ring = self.clone();
                drop(rt.spawn_blocking(move || ring.read_logged(now)));
            }
            Err(_) => self.read_logged(now),
        }
        true
    }

    /// [`KeyRing::refresh_at_most_every`], reading on this thread: a blocking read, for the
    /// blocking pool (a request's prefetch awaits it, so a token of a key rotated on another
    /// replica is verified on its first request, not refused).
    pub fn refresh_here_at_most_every(&self, gap_ms: u64, now: u64) -> bool {
        let claimed = self.claim_read(gap_ms);
        if claimed {
            self.read_logged(now);
        }
        claimed
    }

    /// Whether the last read of the store's keys is at least `gap_ms` old (false without a
    /// store: the key file's key is all there is).
    pub fn read_before(&self, gap_ms: u64) -> bool {
        self.store.get().is_some() && self.now_ms().saturating_sub(self.checked_ms.load(Ordering::Relaxed)) >= gap_ms
    }

    /// Whether this caller is the one to read the keys again (the last read is `gap_ms` old).
    fn claim_read(&self, gap_ms: u64) -> bool {
        if self.store.get().is_none() {
            return false;
        }
        let (at, last) = (self.now_ms(), self.checked_ms.load(Ordering::Relaxed));
        at.saturating_sub(last) >= gap_ms
            && self.checked_ms.compare_exchange(last, at, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }

    fn read_logged(&self, now: u64) {
        if let Err(e) = self.refresh(now) {
            tracing::error!("signing keys: {e}");
        }
    }

    /// Starts a new signing key; the current one verifies for `overlap` more seconds.
    pub fn rotate(&self, overlap: u64, now: u64) -> Result<Vec<StoredSigningKey>, String> {
        let store = self.store.get().ok_or("no store to keep the signing keys in")?;
        let fresh = SigningKey::ephemeral();
        let keys =
            store.rotate_signing_key(sealed_key(&self.root, &fresh, now)?, now, overlap).map_err(|e| e.to_string())?;
        self.rebuild(&keys, now)?;
        Ok(keys)
    }

    /// The stored keys (none without a store).
    pub fn stored(&self) -> Result<Vec<StoredSigningKey>, String> {
        match self.store.get() {
            Some(s) => s.signing_keys().map_err(|e| e.to_string()),
            None => Ok(vec![]),
        }
    }
}

impl super::Tokens {
    /// As if the keys were last read from the store long ago (tests).
    #[cfg(test)]
    pub fn forget_key_check(&self) {
        self.keys.forget_last_check();
    }

    /// Whether the keys were last read from the store [`UNKNOWN_KID_RECHECK_MS`] ago or more
    /// (never, without a store).
    pub fn keys_may_be_stale(&self) -> bool {
        self.keys.read_before(UNKNOWN_KID_RECHECK_MS)
    }

    /// Reads the keys again on this thread, at most once per [`UNKNOWN_KID_RECHECK_MS`] (a
    /// blocking read: for the blocking pool).
    pub fn reread_keys(&self) {
        self.keys.refresh_here_at_most_every(UNKNOWN_KID_RECHECK_MS, crate::clock::now_secs());
    }
}
