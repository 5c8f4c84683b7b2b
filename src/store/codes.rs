//! One-time codes, the delivery outbox's messages (its worker's side: `outbox`), application
//! keys and address verifications.
//!
//! A code is stored only as an HMAC bound to its purpose, tenant, app and identifier (see
//! `flows::otp`); checking one is a single write transaction, so two guesses at once are
//! counted twice and a code is consumed once.

use super::*;
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// A pending one-time code.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CodeRecord {
    /// Hex HMAC-SHA256 of the code, keyed by the server's code key, bound to the record's key.
    pub hash: String,
    pub expires_at: u64,
    pub attempts: u32,
    pub max_attempts: u32,
    pub created_at: u64,
    pub channel: String,
}

/// What checking a code found.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeCheck {
    /// Right: the code is consumed.
    Accepted(CodeRecord),
    Wrong {
        attempts_left: u32,
    },
    /// Too many wrong guesses: only a new code helps.
    Locked,
    /// No code, or it expired.
    Missing,
}

/// A message waiting to be delivered.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct OutboxMessage {
    pub id: String,
    /// Provider name: `email`, an SMS or webhook provider, or `log`.
    pub channel: String,
    pub to: String,
    #[serde(default)]
    pub subject: Option<String>,
    pub text: String,
    /// The code alone, for webhook providers (the text holds it too).
    #[serde(default)]
    pub code: Option<String>,
    pub purpose: String,
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub app: Option<String>,
    #[serde(default)]
    pub extra: serde_json::Value,
    pub attempts: u32,
    /// When the next attempt is due; while a replica delivers it, when its lease ends.
    pub next_attempt: u64,
    pub created_at: u64,
    /// The store (replica) delivering it now, until `next_attempt` (see `store::outbox`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leased_by: Option<String>,
}

/// An application's API key (the secret itself is never stored).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AppKey {
    pub id: String,
    pub app: String,
    /// The tenant of the app it was made for: it authenticates only that tenant's app.
    /// Empty on a key made before keys recorded it (bound once at start to the app it names then).
    #[serde(default)]
    pub tenant: String,
    /// Which record it was made for (config or store): a key of one never authenticates the other.
    #[serde(default)]
    pub source: Option<crate::domain::AppSource>,
    /// SHA-256 (hex) of the whole key; the key holds 256 random bits.
    pub hash: String,
    pub created_at: u64,
    #[serde(default)]
    pub last_used: Option<u64>,
}

/// An address verification requested by an app (docs/http-api.md §8).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct Verification {
    pub id: String,
    pub app: String,
    pub tenant: String,
    pub channel: String,
    #[serde(default)]
    pub to: Option<String>,
    /// Hex HMAC of the code; empty until a code was sent.
    #[serde(default)]
    pub hash: String,
    pub ttl: u64,
    pub expires_at: u64,
    pub max_attempts: u32,
    pub attempts: u32,
    pub closed: bool,
    #[serde(default)]
    pub extra: serde_json::Value,
    #[serde(default)]
    pub skip_delete: bool,
    #[serde(default)]
    pub channel_description: Option<String>,
    #[serde(default)]
    pub address_description: Option<String>,
    pub created_at: u64,
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl Store {
    /// Stores a code under `key` (superseding any earlier one) and, in the same transaction,
    /// the message that delivers it: once this returns, the message survives a crash.
    pub fn put_code(&self, key: &str, rec: &CodeRecord, message: Option<&OutboxMessage>) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            tx.open_table(CODES)?.insert(key, encode(rec).as_slice())?;
            if let Some(m) = message {
                enqueue(&tx, m)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Checks a code against the record under `key` (`hash` is the candidate's HMAC). A wrong
    /// code counts an attempt; the last allowed wrong attempt locks the record. No code, an
    /// expired one (`purge_codes` removes it) or a locked one is answered from a read: anyone
    /// can name an identifier that has no code, and that must never cost a write.
    pub fn check_code(&self, key: &str, hash: &str, now: u64) -> Result<CodeCheck> {
        match self.code(key)? {
            None => return Ok(CodeCheck::Missing),
            Some(r) if r.expires_at <= now => return Ok(CodeCheck::Missing),
            Some(r) if r.attempts >= r.max_attempts => return Ok(CodeCheck::Locked),
            Some(_) => {}
        }
        // Re-checked inside the write: a guess or a new code may have arrived since the read.
        let tx = self.db.begin_write()?;
        let out = {
            let mut t = tx.open_table(CODES)?;
            let rec: Option<CodeRecord> = t.get(key)?.map(|v| decode(&v)).transpose()?;
            match rec {
                None => CodeCheck::Missing,
                Some(r) if r.expires_at <= now => CodeCheck::Missing,
                Some(r) if r.attempts >= r.max_attempts => CodeCheck::Locked,
                Some(r) if ct_eq(&r.hash, hash) => {
                    t.remove(key)?;
                    CodeCheck::Accepted(r)
                }
                Some(mut r) => {
                    r.attempts += 1;
                    t.insert(key, encode(&r).as_slice())?;
                    if r.attempts >= r.max_attempts {
                        CodeCheck::Locked
                    } else {
                        CodeCheck::Wrong { attempts_left: r.max_attempts - r.attempts }
                    }
                }
            }
        };
        tx.commit()?;
        Ok(out)
    }

    pub fn code(&self, key: &str) -> Result<Option<CodeRecord>> {
        self.get_json(CODES, key)
    }

    /// Queues a message on its own.
    pub fn enqueue(&self, m: &OutboxMessage) -> Result<u64> {
        let tx = self.db.begin_write()?;
        let seq = enqueue(&tx, m)?;
        tx.commit()?;
        Ok(seq)
    }

    /// Drops every code whose key `drop` names; returns how many. Reads first: when none is
    /// named, nothing is written.
    pub fn drop_codes(&self, drop: impl Fn(&str) -> bool) -> Result<usize> {
        let named = {
            let tx = self.db.begin_read()?;
            let t = tx.open_table(CODES)?;
            let mut n = 0;
            for row in t.iter()? {
                let (k, _) = row?;
                n += usize::from(drop(&k));
            }
            n
        };
        if named == 0 {
            return Ok(0);
        }
        let tx = self.db.begin_write()?;
        tx.open_table(CODES)?.retain(|k, _| !drop(k))?;
        tx.commit()?;
        Ok(named)
    }

    /// Drops expired codes and verifications past their expiry (plus a grace for status reads).
    pub fn purge_codes(&self, now: u64) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(CODES)?;
            t.retain(|_, v| decode::<CodeRecord>(v).is_ok_and(|r| r.expires_at > now))?;
            let mut t = tx.open_table(VERIFICATIONS)?;
            t.retain(|_, v| decode::<Verification>(v).is_ok_and(|r| r.expires_at + 3600 > now))?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn put_app_key(&self, k: &AppKey) -> Result<()> {
        let tx = self.db.begin_write()?;
        tx.open_table(APP_KEYS)?.insert(k.id.as_str(), encode(k).as_slice())?;
        tx.commit()?;
        Ok(())
    }

    pub fn app_key(&self, id: &str) -> Result<Option<AppKey>> {
        self.get_json(APP_KEYS, id)
    }

    /// Every key recorded for the app id `app`, whichever tenant it was made for.
    pub fn app_keys(&self, app: &str) -> Result<Vec<AppKey>> {
        let mut v: Vec<AppKey> =
            self.all_json::<AppKey>(APP_KEYS)?.into_iter().map(|(_, k)| k).filter(|k| k.app == app).collect();
        v.sort_by_key(|k| k.created_at);
        Ok(v)
    }

    /// Deletes key `id` when `owns` it; false when there is none (or another's).
    pub fn delete_app_key(&self, id: &str, owns: impl FnOnce(&AppKey) -> bool) -> Result<bool> {
        let tx = self.db.begin_write()?;
        let found = {
            let mut t = tx.open_table(APP_KEYS)?;
            let k: Option<AppKey> = t.get(id)?.map(|v| decode(&v)).transpose()?;
            match k {
                Some(k) if owns(&k) => {
                    t.remove(id)?;
                    true
                }
                _ => false,
            }
        };
        tx.commit()?;
        Ok(found)
    }

    /// Keys made before keys recorded their tenant: each bound by `bind` (to the app it names
    /// now), or left unbound (refused) when `bind` answers `None`. Answers how many were bound.
    pub fn bind_app_keys(&self, bind: impl Fn(&AppKey) -> Option<(String, crate::domain::AppSource)>) -> Result<usize> {
        let tx = self.db.begin_write()?;
        let mut n = 0;
        {
            let mut t = tx.open_table(APP_KEYS)?;
            let legacy: Vec<AppKey> = t
                .iter()?
                .map(|r| r.and_then(|(_, v)| decode::<AppKey>(&v)))
                .filter(|k| k.as_ref().map_or(true, |k| k.source.is_none()))
                .collect::<Result<_>>()?;
            for mut k in legacy {
                if let Some((tenant, source)) = bind(&k) {
                    (k.tenant, k.source) = (tenant, Some(source));
                    t.insert(k.id.as_str(), encode(&k).as_slice())?;
                    n += 1;
                }
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Records a key's use (called at most once a minute per key).
    pub fn touch_app_key(&self, id: &str, now: u64) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(APP_KEYS)?;
            let k: Option<AppKey> = t.get(id)?.map(|v| decode(&v)).transpose()?;
            if let Some(mut k) = k {
                k.last_used = Some(now);
                t.insert(id, encode(&k).as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn verification(&self, app: &str, id: &str) -> Result<Option<Verification>> {
        self.get_json(VERIFICATIONS, &format!("{app}\0{id}"))
    }

    /// Stores a verification and, in the same transaction, the message carrying its code.
    pub fn put_verification(&self, v: &Verification, message: Option<&OutboxMessage>) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            tx.open_table(VERIFICATIONS)?.insert(format!("{}\0{}", v.app, v.id).as_str(), encode(v).as_slice())?;
            if let Some(m) = message {
                enqueue(&tx, m)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Reads, changes and writes one verification atomically; `f` answers what the caller
    /// sees. `None` from `f` deletes the record.
    pub fn update_verification<T>(
        &self,
        app: &str,
        id: &str,
        f: impl FnOnce(&mut Verification) -> (T, bool),
    ) -> Result<Option<T>> {
        let key = format!("{app}\0{id}");
        let tx = self.db.begin_write()?;
        let out = {
            let mut t = tx.open_table(VERIFICATIONS)?;
            let v: Option<Verification> = t.get(key.as_str())?.map(|v| decode(&v)).transpose()?;
            match v {
                None => None,
                Some(mut v) => {
                    let (out, keep) = f(&mut v);
                    if keep {
                        t.insert(key.as_str(), encode(&v).as_slice())?;
                    } else {
                        t.remove(key.as_str())?;
                    }
                    Some(out)
                }
            }
        };
        tx.commit()?;
        Ok(out)
    }
}

pub(super) fn enqueue(tx: &WriteTx, m: &OutboxMessage) -> Result<u64> {
    let mut t = tx.open_table(OUTBOX)?;
    let seq = t.last()?.map(|(k, _)| k + 1).unwrap_or(1);
    t.insert(seq, encode(m).as_slice())?;
    Ok(seq)
}
