//! One-use tokens of account links: a password reset (a link by e-mail or a code by SMS) and a
//! sign-in link. One live token per (tenant, user, purpose): storing a new one supersedes the
//! earlier. A link's token is 256 random bits, stored only as its SHA-256 (indexed, so the link
//! alone finds its record); a code is short, stored as an HMAC bound to the record's key and
//! checked with an attempt budget like the sign-in codes (`codes.rs`). Consuming is one write
//! transaction: of two uses at once, one wins. A token that is unknown or expired is answered
//! from a read: anyone can present one, and that never costs a write.

use super::*;
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// What a one-use token is for. (Another purpose, e.g. e-mail verification, is one more variant.)
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum LinkPurpose {
    /// Choosing a new password (`POST /auth/password/reset`).
    Reset,
    /// Signing in from a link (`/auth/magic-link/{token}`).
    MagicLink,
    /// Proving an e-mail address (`/auth/email/verify/{token}`): the record's `address`.
    VerifyEmail,
    /// Proving a mobile number by code (`/auth/mobile/verify/confirm`): the record's `address`.
    VerifyMobile,
}

impl LinkPurpose {
    pub const ALL: [LinkPurpose; 4] =
        [LinkPurpose::Reset, LinkPurpose::MagicLink, LinkPurpose::VerifyEmail, LinkPurpose::VerifyMobile];

    pub const fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Reset => "reset",
            LinkPurpose::MagicLink => "magic_link",
            LinkPurpose::VerifyEmail => "verify_email",
            LinkPurpose::VerifyMobile => "verify_mobile",
        }
    }
}

/// A live one-use token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LinkRecord {
    pub purpose: LinkPurpose,
    pub tenant: String,
    pub user_id: String,
    /// Hex SHA-256 of a link's token, or hex HMAC of a code (see `code`).
    pub hash: String,
    /// Whether the token is a short code (checked by key and HMAC, with attempts), not a link.
    #[serde(default)]
    pub code: bool,
    pub expires_at: u64,
    pub created_at: u64,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub max_attempts: u32,
    /// The channel it went out on.
    pub channel: String,
    /// Where a sign-in link sends the browser afterwards (checked when the link was asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rd: Option<String>,
    /// The address a proof is for (the account's own, or the new one of a change): kept here,
    /// never in the link, so the proof holds for exactly this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// What checking a code against a record found.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkCheck {
    Accepted(LinkRecord),
    Wrong { attempts_left: u32 },
    Locked,
    Missing,
}

/// The record key of a (tenant, user, purpose): where its one live token lives.
pub fn link_key(purpose: LinkPurpose, tenant: &str, user_id: &str) -> String {
    format!("{}\0{tenant}\0{user_id}", purpose.as_str())
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

type Links<'t> = kv::WriteTable<'t, &'static str, &'static [u8]>;

fn get_link(t: &Links, key: &str) -> Result<Option<LinkRecord>> {
    t.get(key)?.map(|v| decode(&v)).transpose()
}

impl Store {
    /// Stores `rec` as the one live token of its (tenant, user, purpose), dropping the earlier
    /// one and its index entry, and queues `message` in the same transaction.
    pub fn put_link(&self, rec: &LinkRecord, message: Option<&OutboxMessage>) -> Result<()> {
        let key = link_key(rec.purpose, &rec.tenant, &rec.user_id);
        let tx = self.db.begin_write()?;
        {
            let mut links = tx.open_table(LINKS)?;
            let mut index = tx.open_table(LINK_INDEX)?;
            if let Some(old) = get_link(&links, &key)?.filter(|o| !o.code) {
                index.remove(old.hash.as_str())?;
            }
            links.insert(key.as_str(), encode(rec).as_slice())?;
            if !rec.code {
                index.insert(rec.hash.as_str(), key.as_str())?;
            }
            if let Some(m) = message {
                codes::enqueue(&tx, m)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The live link whose token hashes to `hash`, for `purpose`, without consuming it.
    pub fn peek_link(&self, purpose: LinkPurpose, hash: &str, now: u64) -> Result<Option<LinkRecord>> {
        let tx = self.db.begin_read()?;
        let index = tx.open_table(LINK_INDEX)?;
        let Some(key) = index.get(hash)? else { return Ok(None) };
        let links = tx.open_table(LINKS)?;
        let rec: Option<LinkRecord> = links.get(key.as_str())?.map(|v| decode(&v)).transpose()?;
        Ok(rec.filter(|r| r.purpose == purpose && !r.code && ct_eq(&r.hash, hash) && r.expires_at > now))
    }

    /// Consumes the live link whose token hashes to `hash`: one caller gets it, once. An
    /// unknown or expired token is answered from a read (no write).
    pub fn consume_link(&self, purpose: LinkPurpose, hash: &str, now: u64) -> Result<Option<LinkRecord>> {
        if self.peek_link(purpose, hash, now)?.is_none() {
            return Ok(None);
        }
        let tx = self.db.begin_write()?;
        let out = {
            let mut index = tx.open_table(LINK_INDEX)?;
            let key = index.get(hash)?;
            let mut links = tx.open_table(LINKS)?;
            match key {
                None => None,
                Some(key) => match get_link(&links, &key)? {
                    Some(r) if r.purpose == purpose && !r.code && ct_eq(&r.hash, hash) && r.expires_at > now => {
                        links.remove(key.as_str())?;
                        index.remove(hash)?;
                        Some(r)
                    }
                    _ => None,
                },
            }
        };
        tx.commit()?;
        Ok(out)
    }

    /// Checks a code (`hash`, its HMAC) against the live code of `key` ([`link_key`]); the
    /// right one consumes it. With `count`, a wrong one counts an attempt and the last allowed
    /// one locks the record; without, a wrong one writes nothing (the caller counts it on the
    /// account's failure budget, so a wrong code costs the same whether or not a code exists).
    /// No record, an expired or a locked one is answered from a read.
    pub fn check_link_code(&self, key: &str, hash: &str, now: u64, count: bool) -> Result<LinkCheck> {
        let live = |r: &LinkRecord| r.code && r.expires_at > now;
        match self.get_json::<LinkRecord>(LINKS, key)? {
            Some(r) if live(&r) && r.attempts < r.max_attempts => {
                if !count && !ct_eq(&r.hash, hash) {
                    return Ok(LinkCheck::Wrong { attempts_left: r.max_attempts - r.attempts });
                }
            }
            Some(r) if live(&r) => return Ok(LinkCheck::Locked),
            _ => return Ok(LinkCheck::Missing),
        }
        let tx = self.db.begin_write()?;
        let out = {
            let mut t = tx.open_table(LINKS)?;
            match get_link(&t, key)? {
                None => LinkCheck::Missing,
                Some(r) if !live(&r) => LinkCheck::Missing,
                Some(r) if r.attempts >= r.max_attempts => LinkCheck::Locked,
                Some(r) if ct_eq(&r.hash, hash) => {
                    t.remove(key)?;
                    LinkCheck::Accepted(r)
                }
                Some(r) if !count => LinkCheck::Wrong { attempts_left: r.max_attempts - r.attempts },
                Some(mut r) => {
                    r.attempts += 1;
                    t.insert(key, encode(&r).as_slice())?;
                    if r.attempts >= r.max_attempts {
                        LinkCheck::Locked
                    } else {
                        LinkCheck::Wrong { attempts_left: r.max_attempts - r.attempts }
                    }
                }
            }
        };
        tx.commit()?;
        Ok(out)
    }

    /// Drops every live token of (tenant, user), whatever its purpose (a reset ends them all);
    /// writes nothing when there is none.
    pub fn drop_links(&self, tenant: &str, user_id: &str) -> Result<()> {
        let keys: Vec<String> = LinkPurpose::ALL.iter().map(|p| link_key(*p, tenant, user_id)).collect();
        let mut live = vec![];
        for k in &keys {
            if self.get_json::<LinkRecord>(LINKS, k)?.is_some() {
                live.push(k);
            }
        }
        if live.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write()?;
        {
            let mut links = tx.open_table(LINKS)?;
            let mut index = tx.open_table(LINK_INDEX)?;
            for k in live {
                if let Some(r) = get_link(&links, k)? {
                    links.remove(k.as_str())?;
                    if !r.code {
                        index.remove(r.hash.as_str())?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The live token record of (tenant, user, purpose), if any.
    pub fn link(&self, purpose: LinkPurpose, tenant: &str, user_id: &str) -> Result<Option<LinkRecord>> {
        self.get_json(LINKS, &link_key(purpose, tenant, user_id))
    }

    /// Every stored token record (tests prove with it what was, or was not, stored).
    pub fn links(&self) -> Result<Vec<LinkRecord>> {
        Ok(self.all_json::<LinkRecord>(LINKS)?.into_iter().map(|(_, r)| r).collect())
    }

    /// Drops expired tokens (and their index entries); writes nothing when none expired.
    pub fn purge_links(&self, now: u64) -> Result<()> {
        let dead: Vec<String> = self
            .all_json::<LinkRecord>(LINKS)?
            .into_iter()
            .filter(|(_, r)| r.expires_at <= now)
            .map(|(k, _)| k)
            .collect();
        if dead.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write()?;
        {
            let mut links = tx.open_table(LINKS)?;
            let mut index = tx.open_table(LINK_INDEX)?;
            for k in &dead {
                if let Some(r) = get_link(&links, k)?.filter(|s| s.expires_at <= now) {
                    links.remove(k.as_str())?;
                    if !r.code {
                        index.remove(r.hash.as_str())?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::each_backend;

    fn link(hash: &str, now: u64) -> LinkRecord {
        LinkRecord {
            purpose: LinkPurpose::Reset,
            tenant: "t".into(),
            user_id: "u1".into(),
            hash: hash.into(),
            code: false,
            expires_at: now + 900,
            created_at: now,
            attempts: 0,
            max_attempts: 0,
            channel: "email".into(),
            rd: None,
            address: None,
        }
    }

    #[test]
    fn a_link_is_consumed_once_expires_and_is_superseded() {
        each_backend(|s| {
            s.put_link(&link("aa", 1000), None).unwrap();
            assert!(s.consume_link(LinkPurpose::MagicLink, "aa", 1001).unwrap().is_none(), "another purpose");
            assert!(s.consume_link(LinkPurpose::Reset, "aa", 1001).unwrap().is_some());
            assert!(s.consume_link(LinkPurpose::Reset, "aa", 1001).unwrap().is_none(), "one use");
            // Expiry: alive at its last second, dead at expires_at; that costs no write.
            s.put_link(&link("bb", 1000), None).unwrap();
            let before = s.write_transactions();
            assert!(s.consume_link(LinkPurpose::Reset, "bb", 1900).unwrap().is_none());
            assert!(s.consume_link(LinkPurpose::Reset, "nobody", 1000).unwrap().is_none());
            assert_eq!(s.write_transactions(), before, "unknown or expired tokens are answered from a read");
            assert!(s.peek_link(LinkPurpose::Reset, "bb", 1899).unwrap().is_some());
            // A new one supersedes: the earlier token is dead at once, and its index entry gone.
            s.put_link(&link("cc", 1000), None).unwrap();
            assert!(s.consume_link(LinkPurpose::Reset, "bb", 1001).unwrap().is_none());
            assert_eq!(s.links().unwrap().len(), 1);
            assert!(s.consume_link(LinkPurpose::Reset, "cc", 1899).unwrap().is_some());
            assert!(s.links().unwrap().is_empty());
        });
    }

    #[test]
    fn a_code_counts_attempts_and_a_link_supersedes_it() {
        each_backend(|s| {
            let key = link_key(LinkPurpose::Reset, "t", "u1");
            let code = LinkRecord { code: true, max_attempts: 2, channel: "sms".into(), ..link("right", 1000) };
            s.put_link(&code, None).unwrap();
            assert!(s.peek_link(LinkPurpose::Reset, "right", 1001).unwrap().is_none(), "a code is no link");
            let before = s.write_transactions();
            assert_eq!(s.check_link_code(&key, "wrong", 1001, false).unwrap(), LinkCheck::Wrong { attempts_left: 2 });
            assert_eq!(s.write_transactions(), before, "uncounted: a wrong code writes nothing");
            assert_eq!(s.check_link_code(&key, "wrong", 1001, true).unwrap(), LinkCheck::Wrong { attempts_left: 1 });
            assert_eq!(s.check_link_code(&key, "wrong", 1001, true).unwrap(), LinkCheck::Locked);
            assert_eq!(s.check_link_code(&key, "right", 1001, false).unwrap(), LinkCheck::Locked);
            s.put_link(&code, None).unwrap();
            assert!(matches!(s.check_link_code(&key, "right", 1001, false).unwrap(), LinkCheck::Accepted(_)));
            assert_eq!(s.check_link_code(&key, "right", 1001, false).unwrap(), LinkCheck::Missing);
            s.put_link(&code, None).unwrap();
            s.put_link(&link("dd", 1000), None).unwrap();
            assert_eq!(
                s.check_link_code(&key, "right", 1001, true).unwrap(),
                LinkCheck::Missing,
                "superseded by a link"
            );
            s.purge_links(1900).unwrap();
            assert!(s.links().unwrap().is_empty());
            assert!(s.peek_link(LinkPurpose::Reset, "dd", 1001).unwrap().is_none(), "the index entry went too");
        });
    }
}
