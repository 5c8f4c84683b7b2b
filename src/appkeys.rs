//! Application API keys (`X-Auth-Service-Key`). A key is `gh_<id>_<secret>`: the id finds the
//! record, the whole key's SHA-256 is what is stored (256 random bits, so a fast hash is
//! enough) and is compared in constant time. Keys are shown once, at creation.

use crate::clock::now_secs;
use crate::store::{AppKey, Store, StoreError};
use subtle::ConstantTimeEq;

pub const HEADER: &str = "x-auth-service-key";

/// A new key for `app`: the record to store and the secret to show once.
pub fn create(app: &str) -> (AppKey, String) {
    let id: String = rand::random::<[u8; 6]>().iter().map(|b| format!("{b:02x}")).collect();
    let secret = format!("gh_{id}_{}", crate::sessions::new_secret());
    let rec = AppKey {
        id,
        app: app.to_string(),
        hash: crate::sessions::digest_hex(&secret),
        created_at: now_secs(),
        last_used: None,
    };
    (rec, secret)
}

/// The key record `presented` proves, if any. Also records the use (at most once a minute).
pub fn check(store: &Store, presented: &str) -> Result<Option<AppKey>, StoreError> {
    let Some(id) = presented.strip_prefix("gh_").and_then(|r| r.split_once('_')).map(|(id, _)| id) else {
        return Ok(None);
    };
    if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let Some(k) = store.app_key(id)? else { return Ok(None) };
    let hash = crate::sessions::digest_hex(presented);
    if !bool::from(hash.as_bytes().ct_eq(k.hash.as_bytes())) {
        return Ok(None);
    }
    let now = now_secs();
    if k.last_used.is_none_or(|t| t + 60 <= now) {
        store.touch_app_key(&k.id, now)?;
    }
    Ok(Some(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_keys_check_and_others_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let (rec, secret) = create("wiki");
        store.put_app_key(&rec).unwrap();
        assert_eq!(check(&store, &secret).unwrap().map(|k| k.app), Some("wiki".to_string()));
        assert!(store.app_key(&rec.id).unwrap().unwrap().last_used.is_some());
        let mut forged = secret.clone();
        forged.pop();
        forged.push(if secret.ends_with('A') { 'B' } else { 'A' });
        assert!(check(&store, &forged).unwrap().is_none());
        assert!(check(&store, "gh_zz_x").unwrap().is_none());
        assert!(check(&store, "").unwrap().is_none());
        assert!(store.delete_app_key("wiki", &rec.id).unwrap());
        assert!(check(&store, &secret).unwrap().is_none());
    }
}
