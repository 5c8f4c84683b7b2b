//! Personal API tokens (`gh_pat_…`): a user's own bearer tokens for scripts. The store keeps
//! each token's SHA-256 (the token is 256 random bits, so a fast hash is enough), never the
//! token, under `user_id \0 token id`, so a user's tokens are one range and a token of another
//! user cannot be named.

use super::*;
use serde::{Deserialize, Serialize};

/// `user_id \0 token id` → personal token (hashed).
pub(crate) const PERSONAL_TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("personal_tokens");

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct PersonalToken {
    /// Public id (not a credential): names the token in lists and `DELETE`.
    pub id: String,
    pub user_id: String,
    pub tenant: String,
    pub name: String,
    /// Granted at creation: a subset of the user's scopes then.
    pub scopes: Vec<String>,
    /// SHA-256 (hex) of the whole token.
    pub hash: String,
    pub created_at: u64,
    pub expires_at: u64,
    /// The last request it was accepted on, as last written (kept in memory between writes).
    #[serde(default)]
    pub last_used_at: Option<u64>,
}

fn key(user_id: &str, id: &str) -> String {
    format!("{user_id}\0{id}")
}

fn prefix(user_id: &str) -> String {
    format!("{user_id}\0")
}

impl Store {
    /// Stores a new token unless its user already holds `max` unexpired ones (checked in the same
    /// write transaction, so two creations at once cannot both pass the cap). False: refused.
    pub fn put_personal_token_capped(&self, rec: &PersonalToken, max: usize, now: u64) -> Result<bool> {
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(PERSONAL_TOKENS)?;
            let p = prefix(&rec.user_id);
            let mut live = 0;
            for row in t.range(p.as_str()..)? {
                let (k, v) = row?;
                if !k.starts_with(&p) {
                    break;
                }
                let r: PersonalToken = decode(&v)?;
                live += usize::from(r.expires_at > now);
            }
            if live >= max {
                return Ok(false);
            }
            t.insert(key(&rec.user_id, &rec.id).as_str(), encode(rec).as_slice())?;
            tx.open_table(super::lookups::TOKEN_HASHES)?
                .insert(rec.hash.as_str(), key(&rec.user_id, &rec.id).as_str())?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// Every stored token (loaded into memory at start).
    pub fn personal_tokens(&self) -> Result<Vec<PersonalToken>> {
        Ok(self.all_json::<PersonalToken>(PERSONAL_TOKENS)?.into_iter().map(|(_, r)| r).collect())
    }

    /// A user's tokens.
    pub fn user_personal_tokens(&self, user_id: &str) -> Result<Vec<PersonalToken>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(PERSONAL_TOKENS)?;
        let p = prefix(user_id);
        let mut out = vec![];
        for row in t.range(p.as_str()..)? {
            let (k, v) = row?;
            if !k.starts_with(&p) {
                break;
            }
            out.push(decode(&v)?);
        }
        Ok(out)
    }

    /// Deletes token `id` of `user_id`; `None` when the user has no such token (nothing written).
    pub fn delete_personal_token(&self, user_id: &str, id: &str) -> Result<Option<PersonalToken>> {
        let k = key(user_id, id);
        if self.get_json::<PersonalToken>(PERSONAL_TOKENS, &k)?.is_none() {
            return Ok(None);
        }
        let tx = self.db.begin_write()?;
        let gone: Option<PersonalToken> =
            tx.open_table(PERSONAL_TOKENS)?.remove(k.as_str())?.map(|v| decode(&v)).transpose()?;
        if let Some(r) = &gone {
            tx.open_table(super::lookups::TOKEN_HASHES)?.remove(r.hash.as_str())?;
        }
        tx.commit()?;
        Ok(gone)
    }

    /// Deletes every token of `user_id` (the user was disabled or deleted); returns them.
    pub fn delete_user_personal_tokens(&self, user_id: &str) -> Result<Vec<PersonalToken>> {
        let gone = self.user_personal_tokens(user_id)?;
        if gone.is_empty() {
            return Ok(gone);
        }
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(PERSONAL_TOKENS)?;
            let mut hashes = tx.open_table(super::lookups::TOKEN_HASHES)?;
            for r in &gone {
                t.remove(key(&r.user_id, &r.id).as_str())?;
                hashes.remove(r.hash.as_str())?;
            }
        }
        tx.commit()?;
        Ok(gone)
    }

    /// Records when tokens were last used, `(user_id, id, time)` each, in one write; a token
    /// deleted meanwhile stays deleted.
    pub fn touch_personal_tokens(&self, uses: &[(String, String, u64)]) -> Result<()> {
        if uses.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(PERSONAL_TOKENS)?;
            for (user_id, id, time) in uses {
                let k = key(user_id, id);
                let rec: Option<PersonalToken> = t.get(k.as_str())?.map(|v| decode(&v)).transpose()?;
                if let Some(mut r) = rec {
                    r.last_used_at = r.last_used_at.max(Some(*time));
                    t.insert(k.as_str(), encode(&r).as_slice())?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes the tokens expired at `now`; one write, only when there are some. Returns them.
    pub fn purge_personal_tokens(&self, now: u64) -> Result<Vec<PersonalToken>> {
        let expired: Vec<PersonalToken> = self.personal_tokens()?.into_iter().filter(|r| r.expires_at <= now).collect();
        if expired.is_empty() {
            return Ok(expired);
        }
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(PERSONAL_TOKENS)?;
            let mut hashes = tx.open_table(super::lookups::TOKEN_HASHES)?;
            for r in &expired {
                t.remove(key(&r.user_id, &r.id).as_str())?;
                hashes.remove(r.hash.as_str())?;
            }
        }
        tx.commit()?;
        Ok(expired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::each_backend;

    fn token(user: &str, id: &str, expires_at: u64) -> PersonalToken {
        PersonalToken {
            id: id.into(),
            user_id: user.into(),
            tenant: "default".into(),
            name: format!("t-{id}"),
            hash: format!("{id:0>64}"),
            created_at: 1,
            expires_at,
            ..Default::default()
        }
    }

    #[test]
    fn tokens_are_capped_listed_per_user_touched_and_deleted() {
        each_backend(|store| {
            assert!(store.put_personal_token_capped(&token("u1", "a", 100), 2, 10).unwrap());
            assert!(store.put_personal_token_capped(&token("u1", "old", 5), 2, 10).unwrap());
            // An expired token does not count against the cap; a second live one reaches it.
            assert!(store.put_personal_token_capped(&token("u1", "b", 100), 2, 10).unwrap());
            assert!(!store.put_personal_token_capped(&token("u1", "c", 100), 2, 10).unwrap());
            assert!(store.put_personal_token_capped(&token("u10", "x", 100), 2, 10).unwrap());
            let ids = |u: &str| store.user_personal_tokens(u).unwrap().into_iter().map(|r| r.id).collect::<Vec<_>>();
            assert_eq!(ids("u1"), ["a", "b", "old"]);
            assert_eq!(ids("u10"), ["x"], "a user id that starts like another's is its own range");
            // Another user's token cannot be named; an unknown id writes nothing.
            let before = store.write_transactions();
            assert!(store.delete_personal_token("u10", "a").unwrap().is_none());
            assert_eq!(store.write_transactions(), before);
            store.touch_personal_tokens(&[("u1".into(), "a".into(), 50), ("u1".into(), "gone".into(), 50)]).unwrap();
            assert_eq!(store.user_personal_tokens("u1").unwrap()[0].last_used_at, Some(50));
            assert_eq!(store.delete_personal_token("u1", "a").unwrap().map(|r| r.id), Some("a".into()));
            assert_eq!(store.purge_personal_tokens(10).unwrap().len(), 1);
            assert_eq!(ids("u1"), ["b"]);
            assert_eq!(store.delete_user_personal_tokens("u1").unwrap().len(), 1);
            assert!(ids("u1").is_empty());
            assert_eq!(store.personal_tokens().unwrap().len(), 1);
        });
    }
}
