//! Sign-in state: sessions, refresh-token families, failure counters and bans, audit events.

use super::*;

/// META key of the last audit sequence number given.
const AUDIT_SEQ: &str = "audit_seq";

/// Sign-in attempts one process runs at once at most (more are refused like a busy account):
/// bounds what claims hold, in memory and in a shared database's lock table.
pub const MAX_ATTEMPTS: usize = 1024;

impl Store {
    pub fn put_session(&self, secret_hash: &str, s: &Session) -> Result<()> {
        self.put_session_with_refresh(secret_hash, s, None)
    }

    /// Stores a new session and, in the same transaction (one disk sync), its first refresh token.
    pub fn put_session_with_refresh(
        &self,
        secret_hash: &str,
        s: &Session,
        refresh: Option<(&str, &RefreshRecord)>,
    ) -> Result<()> {
        let tx = self.db.begin_write()?;
        // Re-read in this transaction: a disable or delete committed since the sign-in read
        // the user (during its password hash, say) leaves no session behind.
        let user: Option<User> =
            tx.open_table(USERS)?.get(s.user_id.as_str())?.map(|v| self.decode_user(&v)).transpose()?;
        let may = user.is_some_and(|u| {
            u.is_active() && u.tenant == s.tenant && (s.kind != crate::domain::SessionKind::Admin || u.admin)
        });
        if !may {
            return Err(StoreError::UserInactive(format!("user {} may not hold this session now", s.user_id)));
        }
        tx.open_table(SESSIONS)?.insert(secret_hash, encode(s).as_slice())?;
        tx.open_table(lookups::SESSION_IDS)?.insert(s.id.as_str(), secret_hash)?;
        if let Some((hash, r)) = refresh {
            tx.open_table(REFRESH)?.insert(hash, encode(r).as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Writes a stored session's advanced last use; a session no longer stored (revoked since)
    /// stays gone.
    pub fn touch_session(&self, secret_hash: &str, last_seen: u64) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(SESSIONS)?;
            let old: Option<Session> = t.get(secret_hash)?.map(|v| decode(&v)).transpose()?;
            if let Some(mut s) = old {
                s.last_seen = s.last_seen.max(last_seen);
                t.insert(secret_hash, encode(&s).as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// [`Store::touch_session`] for many sessions in one write transaction (the minute's
    /// housekeeping: one commit, not one per session).
    pub fn touch_sessions(&self, uses: &[(String, u64)]) -> Result<()> {
        if uses.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(SESSIONS)?;
            for (secret_hash, last_seen) in uses {
                let old: Option<Session> = t.get(secret_hash.as_str())?.map(|v| decode(&v)).transpose()?;
                if let Some(mut s) = old {
                    if *last_seen > s.last_seen {
                        s.last_seen = *last_seen;
                        t.insert(secret_hash.as_str(), encode(&s).as_slice())?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every stored session with the hash of its secret (loaded into memory at start).
    pub fn sessions(&self) -> Result<Vec<(String, Session)>> {
        self.all_json(SESSIONS)
    }

    /// Deletes sessions matching `pred` and the refresh tokens of those sessions; returns them.
    pub fn delete_sessions(&self, pred: impl Fn(&Session) -> bool) -> Result<Vec<(String, Session)>> {
        let tx = self.db.begin_write()?;
        let mut gone = vec![];
        {
            let mut sessions = tx.open_table(SESSIONS)?;
            for row in sessions.iter()? {
                let (k, v) = row?;
                let s: Session = decode(&v)?;
                if pred(&s) {
                    gone.push((k.clone(), s));
                }
            }
            let mut index = tx.open_table(lookups::SESSION_IDS)?;
            for (k, s) in &gone {
                sessions.remove(k.as_str())?;
                index.remove(s.id.as_str())?;
            }
            let ids: std::collections::HashSet<&str> = gone.iter().map(|(_, s)| s.id.as_str()).collect();
            let mut refresh = tx.open_table(REFRESH)?;
            let mut dead = vec![];
            for row in refresh.iter()? {
                let (k, v) = row?;
                let r: RefreshRecord = decode(&v)?;
                if ids.contains(r.session_id.as_str()) {
                    dead.push(k.clone());
                }
            }
            for k in dead {
                refresh.remove(k.as_str())?;
            }
        }
        tx.commit()?;
        Ok(gone)
    }

    pub fn put_refresh(&self, token_hash: &str, r: &RefreshRecord) -> Result<()> {
        let tx = self.db.begin_write()?;
        tx.open_table(REFRESH)?.insert(token_hash, encode(r).as_slice())?;
        tx.commit()?;
        Ok(())
    }

    /// Exchanges a refresh token atomically: a fresh one is marked used and `next` is stored
    /// under `next_hash`; one already used is reported as reuse (the caller revokes the
    /// session). redb serialises write transactions, so two concurrent exchanges of one token
    /// yield one successor and one reuse.
    pub fn rotate_refresh(&self, token_hash: &str, now: u64, next_hash: &str, grace: u64) -> Result<RefreshOutcome> {
        // A token exchanged `grace` seconds ago or less was presented concurrently with the
        // exchange (two tabs, a retry, replicas racing): refused, its session kept.
        let superseded = |r: &RefreshRecord| r.used && r.used_at.is_some_and(|t| now.saturating_sub(t) < grace);
        // An unknown, expired or just-superseded token (anyone can send one) is answered from a
        // read: it never costs a write transaction.
        match self.refresh(token_hash)? {
            None => return Ok(RefreshOutcome::Unknown),
            Some(r) if !r.used && r.expires_at <= now => return Ok(RefreshOutcome::Expired),
            Some(r) if superseded(&r) => return Ok(RefreshOutcome::Superseded(r)),
            Some(_) => {}
        }
        let tx = self.db.begin_write()?;
        let outcome = {
            let mut t = tx.open_table(REFRESH)?;
            let rec: Option<RefreshRecord> = t.get(token_hash)?.map(|v| decode(&v)).transpose()?;
            match rec {
                None => RefreshOutcome::Unknown,
                Some(r) if superseded(&r) => RefreshOutcome::Superseded(r),
                Some(r) if r.used => RefreshOutcome::Reused(r),
                Some(r) if r.expires_at <= now => RefreshOutcome::Expired,
                Some(mut r) => {
                    r.used = true;
                    r.used_at = Some(now);
                    t.insert(token_hash, encode(&r).as_slice())?;
                    let next = RefreshRecord { used: false, used_at: None, ..r.clone() };
                    t.insert(next_hash, encode(&next).as_slice())?;
                    RefreshOutcome::Rotated(r)
                }
            }
        };
        tx.commit()?;
        Ok(outcome)
    }

    pub fn refresh(&self, token_hash: &str) -> Result<Option<RefreshRecord>> {
        self.get_json(REFRESH, token_hash)
    }

    pub fn ban(&self, b: &Ban) -> Result<()> {
        let tx = self.db.begin_write()?;
        tx.open_table(BANS)?.insert(b.key.as_str(), encode(b).as_slice())?;
        tx.open_table(FAILURES)?.remove(b.key.as_str())?;
        tx.commit()?;
        Ok(())
    }

    /// The active ban on `key`, if any.
    pub fn active_ban(&self, key: &str, now: u64) -> Result<Option<Ban>> {
        Ok(self.get_json::<Ban>(BANS, key)?.filter(|b| b.until > now))
    }

    pub fn bans(&self, now: u64) -> Result<Vec<Ban>> {
        Ok(self.all_json::<Ban>(BANS)?.into_iter().map(|(_, b)| b).filter(|b| b.until > now).collect())
    }

    /// Removes a ban and its failure history (the consecutive count too: an administrator
    /// vouched for the account); false when there was none.
    pub fn revoke_ban(&self, key: &str) -> Result<bool> {
        let tx = self.db.begin_write()?;
        let existed = tx.open_table(BANS)?.remove(key)?.is_some();
        tx.open_table(FAILURES)?.remove(key)?;
        tx.open_table(STREAKS)?.remove(key)?;
        tx.commit()?;
        Ok(existed)
    }

    /// Claims `key` (an account's budget key) for one attempt: false when another attempt on
    /// it is still in progress — in this process or, on a shared database, in any replica —
    /// or when [`MAX_ATTEMPTS`] are in progress here. An error (the database unreachable)
    /// refuses the attempt too: the caller answers 503. See `Regulation::attempt`.
    ///
    /// This process's attempts are kept in memory (redb is one process's: that is the whole
    /// claim); a shared backend then claims the key across replicas (PostgreSQL: a
    /// session-level advisory lock on a dedicated connection, see `postgres::claims`), which
    /// writes nothing, so anonymous callers naming any identifier cannot make the store write.
    pub fn begin_attempt(&self, key: &str) -> Result<bool> {
        {
            let mut held = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
            if held.len() >= MAX_ATTEMPTS || held.contains_key(key) {
                return Ok(false);
            }
            // Held here while the backend claims: a second local attempt is refused meanwhile.
            held.insert(key.to_string(), 0);
        }
        let claimed = self.db.claim(key);
        let mut held = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        match claimed {
            Ok(Some(token)) => {
                held.insert(key.to_string(), token);
                Ok(true)
            }
            Ok(None) => {
                held.remove(key);
                Ok(false)
            }
            Err(e) => {
                held.remove(key);
                Err(e)
            }
        }
    }

    /// Ends the attempt `begin_attempt` claimed (never waits on the database).
    pub fn end_attempt(&self, key: &str) {
        let token = self.attempts.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
        if let Some(token) = token {
            self.db.release(key, token);
        }
    }

    /// Records a failure for `key` at `now` in one write: returns how many happened since
    /// `since` and, when `streak` (an account's key), how many in a row since the last
    /// completed sign-in (time does not reset that count).
    pub fn record_failure(&self, key: &str, now: u64, since: u64, streak: bool) -> Result<(usize, u64)> {
        let tx = self.db.begin_write()?;
        let counts = {
            let mut t = tx.open_table(FAILURES)?;
            let mut times: Vec<u64> = t.get(key)?.map(|v| decode(&v)).transpose()?.unwrap_or_default();
            times.retain(|&t| t >= since);
            times.push(now);
            // Bounded: NIST's ceiling is 100 attempts.
            if times.len() > 128 {
                let cut = times.len() - 128;
                times.drain(..cut);
            }
            t.insert(key, encode(&times).as_slice())?;
            let mut streaks = tx.open_table(STREAKS)?;
            let run = if streak {
                let run = streaks.get(key)?.unwrap_or(0).saturating_add(1);
                streaks.insert(key, run)?;
                run
            } else {
                0
            };
            (times.len(), run)
        };
        tx.commit()?;
        Ok(counts)
    }

    /// Forgets the failure records whose every failure is older than `before` (they count for
    /// nothing any more); consecutive counts stay. One write, only when there is something to
    /// forget. Returns how many went.
    pub fn purge_failures(&self, before: u64) -> Result<usize> {
        let stale: Vec<String> = {
            let tx = self.db.begin_read()?;
            let t = tx.open_table(FAILURES)?;
            let mut stale = vec![];
            for row in t.iter()? {
                let (k, v) = row?;
                let times: Vec<u64> = decode(&v)?;
                if times.iter().all(|&t| t < before) {
                    stale.push(k.clone());
                }
            }
            stale
        };
        if stale.is_empty() {
            return Ok(0);
        }
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(FAILURES)?;
            for k in &stale {
                // Re-checked inside the write: a failure may have arrived since the read.
                let times: Option<Vec<u64>> = t.get(k.as_str())?.map(|v| decode(&v)).transpose()?;
                if times.is_some_and(|ts| ts.iter().all(|&t| t < before)) {
                    t.remove(k.as_str())?;
                }
            }
        }
        tx.commit()?;
        Ok(stale.len())
    }

    /// The consecutive failures recorded for `key`.
    pub fn failure_streak(&self, key: &str) -> Result<u64> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(STREAKS)?;
        let v = t.get(key)?.unwrap_or(0);
        Ok(v)
    }

    /// Forgets `key`'s failures, the consecutive count included (a completed sign-in). Writes
    /// only when there is something to forget.
    pub fn clear_failures(&self, key: &str) -> Result<()> {
        {
            let tx = self.db.begin_read()?;
            let none = tx.open_table(FAILURES)?.get(key)?.is_none() && tx.open_table(STREAKS)?.get(key)?.is_none();
            if none {
                return Ok(());
            }
        }
        let tx = self.db.begin_write()?;
        tx.open_table(FAILURES)?.remove(key)?;
        tx.open_table(STREAKS)?.remove(key)?;
        tx.commit()?;
        Ok(())
    }

    /// Appends audit events in one transaction, numbering them on from the last number ever
    /// given (never reused, even when retention emptied the log).
    pub fn append_audit(&self, events: &mut [AuditEvent]) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(AUDIT)?;
            let mut idx = tx.open_table(super::audit_index::AUDIT_INDEX)?;
            // The last sequence number is kept in META too, so that it never goes back when
            // retention empties the log (event webhooks' ids are made of it).
            let mut meta = tx.open_table(META)?;
            let kept = meta.get(AUDIT_SEQ)?.unwrap_or(0);
            let first = t.last()?.map(|(k, _)| k).unwrap_or(0).max(kept) + 1;
            let mut last = first - 1;
            for (seq, e) in (first..).zip(events.iter_mut()) {
                e.seq = seq;
                t.insert(seq, encode(e).as_slice())?;
                super::audit_index::index_event(&mut idx, e)?;
                last = seq;
            }
            meta.insert(AUDIT_SEQ, last)?;
        }
        let queued = super::webhooks::fan_out(&tx, events)?;
        tx.commit()?;
        if queued {
            self.deliveries.notify();
        }
        Ok(())
    }

    /// Deletes up to `max` of the oldest audit events whose time is before `before`; returns
    /// how many. Events are in time order (sequence numbers grow with time).
    pub fn prune_audit(&self, before: u64, max: usize) -> Result<usize> {
        self.purge_audit(None, before, max)
    }

    /// The newest `limit` audit events, newest first.
    pub fn audit(&self, limit: usize) -> Result<Vec<AuditEvent>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(AUDIT)?;
        let mut out = vec![];
        for row in t.iter()?.rev().take(limit) {
            let (_, v) = row?;
            out.push(decode(&v)?);
        }
        Ok(out)
    }

    /// The newest `limit` audit events of user `user_id` that `keep` keeps, newest first, found
    /// among the newest `scan` events (bounded work, whatever the log's size).
    pub fn audit_of_user(
        &self,
        user_id: &str,
        scan: usize,
        limit: usize,
        keep: impl Fn(&AuditEvent) -> bool,
    ) -> Result<Vec<AuditEvent>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(AUDIT)?;
        let mut out = vec![];
        for row in t.iter()?.rev().take(scan) {
            let (_, v) = row?;
            let e: AuditEvent = decode(&v)?;
            if e.user.as_deref() == Some(user_id) && keep(&e) {
                out.push(e);
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::each_backend;

    #[test]
    fn an_unknown_or_expired_refresh_token_writes_nothing() {
        each_backend(|store| {
            let rec = RefreshRecord {
                session_id: "s1".into(),
                family: "f".into(),
                user_id: "u1".into(),
                tenant: "t".into(),
                used: false,
                expires_at: 100,
                used_at: None,
            };
            store.put_refresh("old", &rec).unwrap();
            let before = store.write_transactions();
            assert_eq!(store.rotate_refresh("nope", 50, "next", 10).unwrap(), RefreshOutcome::Unknown);
            assert_eq!(store.rotate_refresh("old", 100, "next", 10).unwrap(), RefreshOutcome::Expired);
            assert_eq!(store.write_transactions(), before, "no write transaction");
            assert!(store.refresh("next").unwrap().is_none());
            // A live one rotates (one write); within the grace a second presentation is refused
            // from a read, the successor kept; after it, it is reuse.
            assert!(matches!(store.rotate_refresh("old", 50, "next", 10).unwrap(), RefreshOutcome::Rotated(_)));
            assert_eq!(store.write_transactions(), before + 1);
            assert!(matches!(store.rotate_refresh("old", 59, "again", 10).unwrap(), RefreshOutcome::Superseded(_)));
            assert_eq!(store.write_transactions(), before + 1, "no write transaction");
            assert!(store.refresh("again").unwrap().is_none() && store.refresh("next").unwrap().is_some());
            assert!(matches!(store.rotate_refresh("old", 60, "again", 10).unwrap(), RefreshOutcome::Reused(_)));
            assert!(matches!(store.rotate_refresh("next", 61, "third", 0).unwrap(), RefreshOutcome::Rotated(_)));
            assert!(
                matches!(store.rotate_refresh("next", 61, "fourth", 0).unwrap(), RefreshOutcome::Reused(_)),
                "no grace"
            );
        });
    }

    /// A user's audit events: theirs only, newest first, `limit` at most, found among the
    /// newest `scan` events only.
    #[test]
    fn a_users_audit_events_are_theirs_and_bounded() {
        each_backend(|store| {
            let event = |n: u64, user: &str| AuditEvent {
                seq: 0,
                time: n,
                event: if n.is_multiple_of(2) { "login_ok" } else { "login_failed" }.into(),
                tenant: None,
                user: Some(user.into()),
                app: None,
                ip: None,
                forwarded: None,
                remote: None,
                detail: serde_json::Value::Null,
            };
            let mut events: Vec<AuditEvent> = (0..10).map(|n| event(n, if n < 8 { "alice" } else { "bob" })).collect();
            store.append_audit(&mut events).unwrap();
            let times = |v: Vec<AuditEvent>| v.into_iter().map(|e| e.time).collect::<Vec<_>>();
            assert_eq!(times(store.audit_of_user("alice", 100, 3, |_| true).unwrap()), vec![7, 6, 5]);
            assert_eq!(times(store.audit_of_user("alice", 100, 3, |e| e.event == "login_ok").unwrap()), vec![6, 4, 2]);
            assert_eq!(times(store.audit_of_user("alice", 4, 10, |_| true).unwrap()), vec![7, 6], "only 4 scanned");
            assert!(store.audit_of_user("carol", 100, 10, |_| true).unwrap().is_empty());
        });
    }
}

/// What exchanging a refresh token found.
#[derive(Debug, Clone, PartialEq)]
pub enum RefreshOutcome {
    Rotated(RefreshRecord),
    Reused(RefreshRecord),
    /// Exchanged by a concurrent presentation moments ago (within the grace): refused, the
    /// session kept.
    Superseded(RefreshRecord),
    Expired,
    Unknown,
}
