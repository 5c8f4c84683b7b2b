//! Indexes of the audit log, so the admin API's filters read only what they return
//! (docs/http-api.md, admin API: audit). Each event is indexed under its tenant, and under its
//! tenant with its kind, user, app and IP: `(key, seq)` rows in one table, written in the
//! transaction that appends the event and removed in the one that deletes it. A query with
//! several filters intersects their rows by leapfrogging (each step one B-tree lookup); a time
//! range becomes a range of sequence numbers (found by bisection, events being in time order).

use super::*;

/// `(kind \0 tenant [\0 value], seq)` → nothing. Kinds: `t` tenant, `e` event, `u` user, `a`
/// app, `i` IP; events without a tenant are indexed under the empty tenant.
pub(crate) const AUDIT_INDEX: TableDefinition<(&str, u64), ()> = TableDefinition::new("audit_index");

/// Events whose time may be out of sequence order (written by two queues in batches): time
/// ranges are widened by this many seconds into sequence ranges, then checked exactly.
const TIME_SKEW: u64 = 120;
/// Index lookups one query page may make at most; a page that needs more ends early with a
/// cursor (it may then hold fewer events than asked, even none).
pub const QUERY_BUDGET: usize = 50_000;

/// A filter of the audit log, within one tenant (`None`: every tenant, for the operator's CLI).
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub tenant: Option<String>,
    pub event: Option<String>,
    pub user: Option<String>,
    pub app: Option<String>,
    pub ip: Option<String>,
    /// Unix seconds, inclusive.
    pub since: Option<u64>,
    pub until: Option<u64>,
    /// Only events with a smaller sequence number (the cursor).
    pub before: Option<u64>,
    pub limit: usize,
}

/// One page: the events, newest first, and where the next page starts (`before`), if any.
#[derive(Debug, Clone, Default)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub next: Option<u64>,
}

fn key(kind: &str, tenant: &str, value: Option<&str>) -> String {
    match value {
        Some(v) => format!("{kind}\0{tenant}\0{v}"),
        None => format!("{kind}\0{tenant}"),
    }
}

/// The index keys of one event.
pub(crate) fn index_keys(e: &AuditEvent) -> Vec<String> {
    let t = e.tenant.as_deref().unwrap_or("");
    let mut keys = vec![key("t", t, None), key("e", t, Some(&e.event))];
    for (kind, v) in [("u", &e.user), ("a", &e.app), ("i", &e.ip)] {
        if let Some(v) = v {
            keys.push(key(kind, t, Some(v)));
        }
    }
    keys
}

pub(crate) fn index_event(idx: &mut kv::WriteTable<(&'static str, u64), ()>, e: &AuditEvent) -> Result<()> {
    for k in index_keys(e) {
        idx.insert((k.as_str(), e.seq), ())?;
    }
    Ok(())
}

fn unindex_event(idx: &mut kv::WriteTable<(&'static str, u64), ()>, e: &AuditEvent) -> Result<()> {
    for k in index_keys(e) {
        idx.remove((k.as_str(), e.seq))?;
    }
    Ok(())
}

/// The largest sequence number below `below` and at least `lo` under `key`.
fn prev(idx: &impl ReadableTable<(&'static str, u64), ()>, key: &str, lo: u64, below: u64) -> Result<Option<u64>> {
    if below <= lo {
        return Ok(None);
    }
    let row = idx.range((key, lo)..(key, below))?.next_back().transpose()?;
    Ok(row.map(|(k, _)| k.1))
}

/// The first sequence number whose event has a time of at least `t` (events in time order up to
/// [`TIME_SKEW`]), or one past the last event.
fn seq_at(t_audit: &impl ReadableTable<u64, &'static [u8]>, t: u64) -> Result<u64> {
    let (Some(first), Some(last)) = (t_audit.first()?, t_audit.last()?) else { return Ok(1) };
    let (mut lo, mut hi) = (first.0, last.0 + 1);
    drop((first, last));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let Some(row) = t_audit.range(mid..hi)?.next().transpose()? else {
            hi = mid;
            continue;
        };
        let (k, v) = (row.0, decode::<AuditEvent>(&row.1)?);
        if v.time >= t {
            hi = mid;
        } else {
            lo = k + 1;
        }
    }
    Ok(lo)
}

impl AuditQuery {
    /// Whether `e` passes every filter (the indexes found it; this checks the time exactly and
    /// the rest again, for the queries of every tenant that no index covers).
    fn matches(&self, e: &AuditEvent) -> bool {
        let is = |want: &Option<String>, have: &Option<String>| want.is_none() || want == have;
        let tenant = self.tenant.is_none() || self.tenant.as_deref() == Some(e.tenant.as_deref().unwrap_or(""));
        tenant
            && self.event.as_ref().is_none_or(|v| *v == e.event)
            && is(&self.user, &e.user)
            && is(&self.app, &e.app)
            && is(&self.ip, &e.ip)
            && self.since.is_none_or(|s| e.time >= s)
            && self.until.is_none_or(|u| e.time <= u)
    }
}

impl Store {
    /// A page of the events `q` selects, newest first, read through the indexes.
    pub fn audit_query(&self, q: &AuditQuery) -> Result<AuditPage> {
        let tx = self.db.begin_read()?;
        let events = tx.open_table(AUDIT)?;
        let idx = tx.open_table(AUDIT_INDEX)?;
        let lo = match q.since {
            Some(s) => seq_at(&events, s.saturating_sub(TIME_SKEW))?,
            None => 0,
        };
        let mut hi = match q.until {
            Some(u) => seq_at(&events, u.saturating_add(TIME_SKEW + 1))?,
            None => u64::MAX,
        };
        if let Some(b) = q.before {
            hi = hi.min(b);
        }
        let keys = self.query_keys(q);
        let mut page = AuditPage::default();
        let mut steps = 0usize;
        // Leapfrog: `cand` is the largest sequence number every key might still share.
        let mut cand = match keys.first() {
            Some(k) => prev(&idx, k, lo, hi)?,
            None => events.range(lo..hi)?.next_back().transpose()?.map(|(k, _)| k),
        };
        while let Some(c) = cand {
            let mut agreed = true;
            for k in keys.iter().skip(1) {
                steps += 1;
                match prev(&idx, k, lo, c + 1)? {
                    Some(s) if s == c => {}
                    other => {
                        cand = other;
                        agreed = false;
                        break;
                    }
                }
            }
            if !agreed {
                if let Some(c) = cand {
                    // Realign the first key at or below the new candidate.
                    steps += 1;
                    cand = match keys.first() {
                        Some(k) => prev(&idx, k, lo, c + 1)?,
                        None => Some(c),
                    };
                }
            } else {
                if let Some(row) = events.get(c)? {
                    let e: AuditEvent = decode(&row)?;
                    if q.matches(&e) {
                        page.events.push(e);
                    }
                }
                steps += 1;
                cand = match keys.first() {
                    Some(k) => prev(&idx, k, lo, c)?,
                    None => events.range(lo..c)?.next_back().transpose()?.map(|(k, _)| k),
                };
                if page.events.len() == q.limit {
                    page.next = cand.map(|c| c + 1);
                    return Ok(page);
                }
            }
            if steps >= QUERY_BUDGET {
                page.next = cand.map(|c| c + 1);
                return Ok(page);
            }
        }
        Ok(page)
    }

    /// The index keys a query intersects, the most selective kinds first; none for an
    /// unfiltered query of every tenant (the log itself is read).
    fn query_keys(&self, q: &AuditQuery) -> Vec<String> {
        let Some(t) = q.tenant.as_deref() else {
            // Every tenant: only possible through the log itself or per-value keys of all
            // tenants, which the CLI does not need; filters then apply per event below.
            return vec![];
        };
        let mut keys = vec![];
        for (kind, v) in [("u", &q.user), ("i", &q.ip), ("a", &q.app), ("e", &q.event)] {
            if let Some(v) = v {
                keys.push(key(kind, t, Some(v)));
            }
        }
        if keys.is_empty() {
            keys.push(key("t", t, None));
        }
        keys
    }

    /// Deletes up to `max` of the oldest events with a time before `before` — of `tenant` only,
    /// or of every tenant — with their index rows, in one transaction; returns how many. Events
    /// are in time order, so the first one not old enough ends the pass.
    pub fn purge_audit(&self, tenant: Option<&str>, before: u64, max: usize) -> Result<usize> {
        // Most calls (the hourly retention) find nothing to do: find out without a write.
        let old: Vec<AuditEvent> = {
            let tx = self.db.begin_read()?;
            let events = tx.open_table(AUDIT)?;
            let idx = tx.open_table(AUDIT_INDEX)?;
            let seqs: Vec<u64> = match tenant {
                Some(t) => {
                    let k = key("t", t, None);
                    let rows = idx.range((k.as_str(), 0)..=(k.as_str(), u64::MAX))?.take(max);
                    rows.map(|r| r.map(|(k, _)| k.1)).collect::<std::result::Result<_, _>>()?
                }
                None => events.iter()?.take(max).map(|r| r.map(|(k, _)| k)).collect::<std::result::Result<_, _>>()?,
            };
            let mut out = vec![];
            for seq in seqs {
                let Some(v) = events.get(seq)? else { continue };
                let e: AuditEvent = decode(&v)?;
                if e.time >= before {
                    break;
                }
                out.push(e);
            }
            out
        };
        if old.is_empty() {
            return Ok(0);
        }
        let tx = self.db.begin_write()?;
        let mut n = 0;
        {
            let mut events = tx.open_table(AUDIT)?;
            let mut idx = tx.open_table(AUDIT_INDEX)?;
            for e in &old {
                if events.remove(e.seq)?.is_some() {
                    unindex_event(&mut idx, e)?;
                    n += 1;
                }
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Indexes the events of a store written before the index existed (once, at open).
    pub(crate) fn migrate_audit_index(&self) -> Result<()> {
        if self.db.begin_read()?.open_table(META)?.get("audit_index")?.is_some() {
            return Ok(());
        }
        let tx = self.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            if meta.get("audit_index")?.is_some() {
                return Ok(());
            }
            meta.insert("audit_index", 1)?;
            let events = tx.open_table(AUDIT)?;
            let mut idx = tx.open_table(AUDIT_INDEX)?;
            for row in events.iter()? {
                let (_, v) = row?;
                index_event(&mut idx, &decode(&v)?)?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
