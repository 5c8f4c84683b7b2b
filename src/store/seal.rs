//! Authenticator (TOTP) seeds are sealed at rest: ChaCha20-Poly1305 (ring) under a key derived
//! from the signing key (see `tokens::keys`), bound to the user's id. A copy of the store alone
//! does not yield anyone's authenticator. The store seals on every write and opens on every read
//! once [`Store::set_seed_key`] was called; a store without the key (offline CLI commands)
//! passes sealed seeds through untouched. Seeds written in the clear by earlier versions are
//! read as they are and sealed when the key is set (and at every later write).

use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};

const PREFIX: &str = "sealed1:";

fn aead(key: &[u8; 32]) -> Option<LessSafeKey> {
    UnboundKey::new(&CHACHA20_POLY1305, key).ok().map(LessSafeKey::new)
}

fn aad(user_id: &str) -> Vec<u8> {
    let mut v = b"gatehouse totp seed v1\0".to_vec();
    v.extend_from_slice(user_id.as_bytes());
    v
}

/// `sealed1:` + base64url(nonce ‖ ciphertext ‖ tag).
pub fn seal_seed(key: &[u8; 32], user_id: &str, secret: &str) -> Option<String> {
    let nonce: [u8; NONCE_LEN] = rand::random();
    let mut buf = secret.as_bytes().to_vec();
    aead(key)?.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad(user_id)), &mut buf).ok()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Some(format!("{PREFIX}{}", B64.encode(out)))
}

/// The seed in the clear: sealed ones opened, clear ones (earlier versions) as they are.
/// `None` when it is sealed and does not open with this key.
pub fn open_seed(key: &[u8; 32], user_id: &str, stored: &str) -> Option<String> {
    let Some(b64) = stored.strip_prefix(PREFIX) else {
        return Some(stored.to_string());
    };
    let raw = B64.decode(b64).ok()?;
    if raw.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ct) = raw.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buf = ct.to_vec();
    let plain = aead(key)?.open_in_place(nonce, Aad::from(aad(user_id)), &mut buf).ok()?;
    String::from_utf8(plain.to_vec()).ok()
}

/// Seals any secret under `key`, bound to `context` (e.g. `webhook:<id>`): `sealed1:` + base64url.
pub fn seal_with(key: &[u8; 32], context: &str, secret: &str) -> Option<String> {
    seal_seed(key, &format!("\0{context}"), secret)
}

/// Opens what [`seal_with`] sealed with the same key and context; nothing else opens.
pub fn open_with(key: &[u8; 32], context: &str, stored: &str) -> Option<String> {
    is_sealed(stored).then(|| open_seed(key, &format!("\0{context}"), stored)).flatten()
}

pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

impl Store {
    pub(super) fn seed_key(&self) -> Option<[u8; 32]> {
        *self.seed_key.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the key seeds are sealed with and seals every seed still in the clear (one write
    /// transaction); returns how many were sealed.
    pub fn set_seed_key(&self, key: [u8; 32]) -> Result<usize> {
        *self.seed_key.write().unwrap_or_else(|e| e.into_inner()) = Some(key);
        let tx = self.db.begin_write()?;
        let mut sealed = 0;
        {
            let mut users = tx.open_table(USERS)?;
            let (mut clear, mut unreadable) = (vec![], 0);
            for row in users.iter()? {
                let (k, v) = row?;
                let u: User = decode(&v)?;
                match u.totp.as_ref() {
                    Some(t) if !is_sealed(&t.secret) => clear.push((k.clone(), u)),
                    Some(t) if open_seed(&key, &u.id, &t.secret).is_none() => unreadable += 1,
                    _ => {}
                }
            }
            if unreadable > 0 {
                tracing::error!(
                    unreadable,
                    "authenticator secrets do not open with this signing key (was it replaced?): those users cannot pass their second factor until `gatehouse user reset-mfa`"
                );
            }
            for (id, u) in clear {
                users.insert(id.as_str(), self.encode_user(&u)?.as_slice())?;
                sealed += 1;
            }
        }
        tx.commit()?;
        if sealed > 0 {
            tracing::info!(sealed, "authenticator secrets stored in the clear were sealed");
        }
        Ok(sealed)
    }

    /// The record of `u` as stored: its seed sealed when the key is known.
    /// Sealing cannot fail with a 32-byte key; if it did, nothing is written (never the seed in
    /// the clear, never the user without their authenticator).
    pub(crate) fn encode_user(&self, u: &User) -> Result<Vec<u8>> {
        let (Some(key), Some(t)) = (self.seed_key(), u.totp.as_ref()) else {
            return Ok(encode(u));
        };
        if is_sealed(&t.secret) {
            return Ok(encode(u));
        }
        let sealed = seal_seed(&key, &u.id, &t.secret)
            .ok_or_else(|| StoreError::Db("cannot seal an authenticator secret".into()))?;
        let mut copy = u.clone();
        if let Some(ct) = copy.totp.as_mut() {
            ct.secret = sealed;
        }
        Ok(encode(&copy))
    }

    /// `u` as read, its seed opened when the key is known.
    pub(crate) fn open_user(&self, mut u: User) -> User {
        let Some(key) = self.seed_key() else { return u };
        if let Some(t) = u.totp.as_mut().filter(|t| is_sealed(&t.secret)) {
            match open_seed(&key, &u.id, &t.secret) {
                Some(s) => t.secret = s,
                None => tracing::error!(
                    user = %u.id,
                    "the authenticator secret does not open with this signing key (was the key replaced?)"
                ),
            }
        }
        u
    }

    pub(crate) fn decode_user(&self, b: &[u8]) -> Result<User> {
        decode(b).map(|u| self.open_user(u))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::each_backend;

    fn with_seed(id: &str, secret: &str) -> User {
        User {
            id: id.into(),
            tenant: "t".into(),
            email: Some(format!("{id}@example.com")),
            email_verified: true,
            status: crate::domain::UserStatus::Active,
            totp: Some(TotpState { secret: secret.into(), confirmed: true, last_step: None }),
            ..Default::default()
        }
    }

    fn raw_secret(store: &Store, id: &str) -> String {
        let tx = store.db.begin_read().unwrap();
        let t = tx.open_table(USERS).unwrap();
        let u: User = decode(&t.get(id).unwrap().unwrap()).unwrap();
        u.totp.unwrap().secret
    }

    #[test]
    fn seeds_are_sealed_at_rest_and_clear_ones_migrate() {
        each_backend(|store| {
            // Written by an earlier version: in the clear.
            store.put_user(&with_seed("old", "JBSWY3DPEHPK3PXP")).unwrap();
            assert_eq!(raw_secret(store, "old"), "JBSWY3DPEHPK3PXP");

            let key = [7u8; 32];
            assert_eq!(store.set_seed_key(key).unwrap(), 1);
            let at_rest = raw_secret(store, "old");
            assert!(at_rest.starts_with("sealed1:") && !at_rest.contains("JBSWY3DPEHPK3PXP"), "{at_rest}");
            assert_eq!(store.user("old").unwrap().unwrap().totp.unwrap().secret, "JBSWY3DPEHPK3PXP");

            // New seeds are sealed when written, through every write path, and read back in the clear.
            store.put_user(&with_seed("new", "GEZDGNBVGY3TQOJQ")).unwrap();
            assert!(raw_secret(store, "new").starts_with("sealed1:"));
            store
                .update_user("new", |u| {
                    u.totp.as_mut().unwrap().last_step = Some(5);
                    Ok::<_, String>(())
                })
                .unwrap()
                .unwrap();
            assert!(raw_secret(store, "new").starts_with("sealed1:"));
            let u = store.find_user("t", "new@example.com").unwrap().unwrap();
            assert_eq!(u.totp.unwrap().secret, "GEZDGNBVGY3TQOJQ");
            assert!(store.users().unwrap().iter().all(|u| !u.totp.as_ref().unwrap().secret.starts_with("sealed1:")));

            // Another key, or another user's record, does not open it.
            let sealed = raw_secret(store, "new");
            assert_eq!(open_seed(&key, "new", &sealed).as_deref(), Some("GEZDGNBVGY3TQOJQ"));
            assert_eq!(open_seed(&[8u8; 32], "new", &sealed), None);
            assert_eq!(open_seed(&key, "old", &sealed), None);
        });
    }
}
