//! The delivery outbox (codes, account messages and event webhook deliveries), as its workers
//! use it — also when several Gatehouse processes (replicas) share one store.
//!
//! A worker **claims** one due message at a time in a write transaction before delivering it:
//! the claim counts the attempt and writes a lease (`leased_by` = this store's random
//! [`Store::replica_id`], `next_attempt` = the lease's end). Write transactions are serialised
//! (across processes too, by the PostgreSQL backend's advisory lock), so two claimers never
//! take the same message: the second no longer sees it due. The worker then **completes** it in
//! another transaction: removes it (sent, or given up), or stores its retry (the next attempt
//! after the backoff, the lease cleared) while the lease is still its own. A message whose
//! lease ended — its replica died or hung mid-delivery — is due again for anyone, and as the
//! lease's end is its `next_attempt`, a waiting worker that knows the message wakes then.
//!
//! Delivery is at least once: a replica that dies after sending but before completing, or
//! that outlives its lease, leaves a message another replica sends again. The lease (the
//! `notifiers.lease` setting, [`DEFAULT_LEASE`]) outlasts the providers' timeouts.

use super::*;

/// How long a claim lasts unless `notifiers.lease` says otherwise: four times the longest
/// timeout of one delivery (SMTP and HTTP providers 15 s; event webhooks 10 s).
pub const DEFAULT_LEASE: u64 = 60;

impl Store {
    /// This store's owner name on its outbox leases: random per opened store (per process).
    pub fn replica_id(&self) -> &str {
        &self.replica
    }

    /// Messages whose next attempt is due, oldest first.
    pub fn outbox_due(&self, now: u64, limit: usize) -> Result<Vec<(u64, OutboxMessage)>> {
        self.outbox_due_where(now, limit, |_| true)
    }

    /// Due messages, oldest first: the event webhook deliveries (`events`), or all the others
    /// (codes and account messages), so that each has its own worker and neither waits for the
    /// other. A message leased by a replica is due when its lease ends.
    pub fn outbox_due_for(&self, now: u64, limit: usize, events: bool) -> Result<Vec<(u64, OutboxMessage)>> {
        self.outbox_due_where(now, limit, |m| is_event(m) == events)
    }

    /// The earliest next attempt among the waiting messages of one worker (as
    /// [`Store::outbox_due_for`] divides them; a leased one counts at its lease's end), `None`
    /// when none waits. It reads every waiting message (the outbox holds only undelivered
    /// ones, usually none), so the workers ask only when they go idle.
    pub fn outbox_next_due(&self, events: bool) -> Result<Option<u64>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(OUTBOX)?;
        let mut next: Option<u64> = None;
        for row in t.iter()? {
            let m: OutboxMessage = decode(&row?.1)?;
            if is_event(&m) == events {
                next = Some(next.map_or(m.next_attempt, |n| n.min(m.next_attempt)));
            }
        }
        Ok(next)
    }

    /// Bumped after every commit that queued an event webhook delivery: the event worker
    /// waits on it when idle.
    pub fn delivery_signal(&self) -> &signal::Signal {
        &self.deliveries
    }

    /// Bumped when a code or account message was queued: the outbox worker waits on it when
    /// idle.
    pub fn outbox_signal(&self) -> &signal::Signal {
        &self.outbox
    }

    /// Wakes both outbox workers: the outbox changed elsewhere (another replica queued,
    /// claimed, completed or redelivered a message). Each looks again, writing nothing unless
    /// something is due.
    pub fn outbox_changed(&self) {
        self.outbox.notify();
        self.deliveries.notify();
    }

    fn outbox_due_where(
        &self,
        now: u64,
        limit: usize,
        keep: impl Fn(&OutboxMessage) -> bool,
    ) -> Result<Vec<(u64, OutboxMessage)>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(OUTBOX)?;
        let mut out = vec![];
        for row in t.iter()? {
            let (k, v) = row?;
            let m: OutboxMessage = decode(&v)?;
            if m.next_attempt <= now && keep(&m) {
                out.push((k, m));
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Claims the oldest due message of one worker (see [`Store::outbox_due_for`]) for
    /// `lease` seconds: counts the attempt and leases it to this store. Answers it with the
    /// attempt counted, `None` when nothing is due (then nothing was written).
    pub fn outbox_claim(&self, now: u64, events: bool, lease: u64) -> Result<Option<(u64, OutboxMessage)>> {
        self.outbox_claim_as(&self.replica, now, events, lease)
    }

    /// [`Store::outbox_claim`] for the replica named `owner` (tests play several on one store).
    pub(crate) fn outbox_claim_as(
        &self,
        owner: &str,
        now: u64,
        events: bool,
        lease: u64,
    ) -> Result<Option<(u64, OutboxMessage)>> {
        // A read first: an idle worker's look writes nothing.
        if self.outbox_due_for(now, 1, events)?.is_empty() {
            return Ok(None);
        }
        let tx = self.db.begin_write()?;
        let claimed = {
            let mut t = tx.open_table(OUTBOX)?;
            let mut found = None;
            for row in t.iter()? {
                let (k, v) = row?;
                let m: OutboxMessage = decode(&v)?;
                if m.next_attempt <= now && is_event(&m) == events {
                    found = Some((k, m));
                    break;
                }
            }
            match found {
                None => None,
                Some((seq, mut m)) => {
                    m.attempts = m.attempts.saturating_add(1);
                    m.next_attempt = now.saturating_add(lease.max(1));
                    m.leased_by = Some(owner.to_string());
                    t.insert(seq, encode(&m).as_slice())?;
                    Some((seq, m))
                }
            }
        };
        match claimed {
            Some(_) => tx.commit()?,
            // Another replica claimed it between the look and the lock.
            None => tx.abort()?,
        }
        Ok(claimed)
    }

    /// Stores the retry of a claimed message (its attempt count and next attempt, as `m`
    /// says) and ends the lease — while the lease is this store's: one that ran out and was
    /// claimed by another replica (or completed) is left to it. Answers whether it stored.
    pub fn outbox_retry(&self, seq: u64, m: &OutboxMessage) -> Result<bool> {
        self.outbox_retry_as(&self.replica, seq, m)
    }

    pub(crate) fn outbox_retry_as(&self, owner: &str, seq: u64, m: &OutboxMessage) -> Result<bool> {
        let tx = self.db.begin_write()?;
        let ours = {
            let mut t = tx.open_table(OUTBOX)?;
            let stored: Option<OutboxMessage> = t.get(seq)?.map(|v| decode(&v)).transpose()?;
            let ours = stored.is_some_and(|s| s.leased_by.as_deref() == Some(owner));
            if ours {
                let m = OutboxMessage { leased_by: None, ..m.clone() };
                t.insert(seq, encode(&m).as_slice())?;
            }
            ours
        };
        tx.commit()?;
        Ok(ours)
    }

    /// Makes waiting messages due now (at start: they waited through a restart). On redb (one
    /// process) every lease is a dead process's, and ends too; on a shared store another
    /// replica's running lease is left alone.
    pub fn outbox_make_due(&self, now: u64) -> Result<()> {
        let exclusive = self.db.is_redb();
        let stale =
            |m: &OutboxMessage| m.next_attempt != 0 && (exclusive || m.leased_by.is_none() || m.next_attempt <= now);
        // Read first: a start with nothing waiting writes nothing.
        {
            let tx = self.db.begin_read()?;
            let t = tx.open_table(OUTBOX)?;
            let mut waiting = false;
            for row in t.iter()? {
                let (_, v) = row?;
                waiting |= stale(&decode::<OutboxMessage>(&v)?);
            }
            if !waiting {
                return Ok(());
            }
        }
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(OUTBOX)?;
            let mut all = vec![];
            for row in t.iter()? {
                let (k, v) = row?;
                all.push((k, decode::<OutboxMessage>(&v)?));
            }
            for (k, mut m) in all.into_iter().filter(|(_, m)| stale(m)) {
                m.next_attempt = 0;
                m.leased_by = None;
                t.insert(k, encode(&m).as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes a delivered (or abandoned) message, whoever holds it now: it is done.
    pub fn outbox_remove(&self, seq: u64) -> Result<()> {
        let tx = self.db.begin_write()?;
        tx.open_table(OUTBOX)?.remove(seq)?;
        tx.commit()?;
        Ok(())
    }

    /// Stores a message's attempt count and next attempt time.
    pub fn outbox_update(&self, seq: u64, m: &OutboxMessage) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(OUTBOX)?;
            if t.get(seq)?.is_some() {
                t.insert(seq, encode(m).as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

fn is_event(m: &OutboxMessage) -> bool {
    m.purpose == super::webhooks::EVENT_PURPOSE
}

#[cfg(test)]
mod tests;
