//! The audit log for administrators (docs/http-api.md, admin API: audit): a filtered query of
//! one tenant's events through the store's indexes, and the purge — one implementation for the
//! admin API, the CLI and the control socket. The retention (`audit.retention`) purges through
//! the same store call every hour.

use crate::audit::EventKind;
use crate::flows::admin::Actor;
use crate::flows::error::FlowError;
use crate::store::{AuditPage, AuditQuery, Store, StoreError};
use serde_json::json;

/// Events deleted per write transaction while purging.
const PURGE_BATCH: usize = 10_000;

/// A query's filters as an administrator gives them (strings from the request).
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub event: Option<String>,
    /// A user id, or an identifier (e-mail, mobile, username) of a user of the tenant.
    pub user: Option<String>,
    pub app: Option<String>,
    pub ip: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

fn invalid(field: &str, why: &str) -> FlowError {
    FlowError::Invalid(format!("`{field}` {why}"))
}

/// Unix seconds from `1733270400`, `2024-12-04` (midnight UTC) or `2024-12-04T10:20:30Z`.
pub fn parse_time(field: &str, s: &str) -> Result<u64, FlowError> {
    if let Ok(n) = s.parse::<u64>() {
        return Ok(n);
    }
    let bad = || invalid(field, "is unix seconds, a date (2024-12-04) or a UTC time (2024-12-04T10:20:30Z).");
    let (date, clock) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z').ok_or_else(bad)?)),
        None => (s, None),
    };
    let num = |v: &str, len: usize| {
        (v.len() == len && v.bytes().all(|b| b.is_ascii_digit())).then(|| v.parse::<u32>().ok()).flatten()
    };
    let d: Vec<&str> = date.split('-').collect();
    let [y, m, day] = d[..] else { return Err(bad()) };
    let (y, m, day) = (num(y, 4).ok_or_else(bad)?, num(m, 2).ok_or_else(bad)?, num(day, 2).ok_or_else(bad)?);
    let month = time::Month::try_from(m as u8).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(y as i32, month, day as u8).map_err(|_| bad())?;
    let (mut h, mut min, mut sec) = (0, 0, 0);
    if let Some(c) = clock {
        let t: Vec<&str> = c.split(':').collect();
        let [a, b, c] = t[..] else { return Err(bad()) };
        (h, min, sec) = (num(a, 2).ok_or_else(bad)?, num(b, 2).ok_or_else(bad)?, num(c, 2).ok_or_else(bad)?);
    }
    let t = time::Time::from_hms(h as u8, min as u8, sec as u8).map_err(|_| bad())?;
    u64::try_from(time::PrimitiveDateTime::new(date, t).assume_utc().unix_timestamp()).map_err(|_| bad())
}

/// The store query for `f` in `tenant`: the event kind known, the IP written as events write
/// it, the user resolved to its id when it names one of the tenant's users.
pub fn query(
    store: &Store,
    tenant: &str,
    f: &Filters,
    before: Option<u64>,
    limit: usize,
) -> Result<AuditQuery, FlowError> {
    if let Some(e) = &f.event {
        EventKind::parse(e).ok_or_else(|| invalid("event", "is not an audit event kind (docs/operations.md §4)."))?;
    }
    let ip = match &f.ip {
        Some(ip) => {
            Some(ip.trim().parse::<std::net::IpAddr>().map_err(|_| invalid("ip", "is not an IP address."))?.to_string())
        }
        None => None,
    };
    let user = match &f.user {
        Some(u) => Some(match store.user(u)?.filter(|x| x.tenant == tenant) {
            Some(x) => x.id,
            None => store.find_user(tenant, u)?.map(|x| x.id).unwrap_or_else(|| u.clone()),
        }),
        None => None,
    };
    let since = f.since.as_deref().map(|s| parse_time("since", s)).transpose()?;
    let until = f.until.as_deref().map(|s| parse_time("until", s)).transpose()?;
    if let (Some(s), Some(u)) = (since, until) {
        if s > u {
            return Err(invalid("since", "is after `until`."));
        }
    }
    Ok(AuditQuery {
        tenant: Some(tenant.to_string()),
        event: f.event.clone(),
        user,
        app: f.app.clone(),
        ip,
        since,
        until,
        before,
        limit,
    })
}

/// One page of `tenant`'s events that `f` selects, newest first.
pub fn search(
    store: &Store,
    tenant: &str,
    f: &Filters,
    before: Option<u64>,
    limit: usize,
) -> Result<AuditPage, FlowError> {
    let q = query(store, tenant, f, before, limit)?;
    Ok(store.audit_query(&q)?)
}

/// Deletes the events older than `older_than_secs` before `now` — all of them when 0 — of
/// `tenant` (every tenant: `None`), then records one `audit_purged` event naming the actor;
/// returns how many were deleted.
pub fn purge(
    store: &Store,
    actor: &Actor,
    tenant: Option<&str>,
    older_than_secs: u64,
    now: u64,
) -> Result<usize, StoreError> {
    let before = if older_than_secs == 0 { u64::MAX } else { now.saturating_sub(older_than_secs) };
    let mut total = 0;
    loop {
        let n = store.purge_audit(tenant, before, PURGE_BATCH)?;
        total += n;
        if n < PURGE_BATCH {
            break;
        }
    }
    let detail = json!({"older_than_secs": older_than_secs, "purged": total});
    let mut e = actor.event(EventKind::AuditPurged, tenant, None, detail);
    e.time = now;
    store.append_audit(std::slice::from_mut(&mut e))?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Origin;
    use crate::flows::admin::ActorKind;
    use crate::store::AuditEvent;

    #[test]
    fn times_parse_as_seconds_dates_and_utc_times() {
        assert_eq!(parse_time("since", "1733270400").unwrap(), 1_733_270_400);
        assert_eq!(parse_time("since", "2024-12-04").unwrap(), 1_733_270_400);
        assert_eq!(parse_time("since", "2024-12-04T10:20:30Z").unwrap(), 1_733_270_400 + 10 * 3600 + 20 * 60 + 30);
        for bad in [
            "",
            "yesterday",
            "2024-13-01",
            "2024-02-30",
            "2024-12-04T10:20:30",
            "2024-12-4",
            "-5",
            "2024-12-04T25:00:00Z",
        ] {
            let e = parse_time("until", bad).unwrap_err();
            assert!(e.to_string().contains("`until`"), "{bad}: {e}");
        }
    }

    #[test]
    fn filters_are_checked_and_users_resolved_within_the_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let u = crate::store::User {
            id: "u-ann".into(),
            tenant: "t1".into(),
            email: Some("ann@example.com".into()),
            email_verified: true,
            status: crate::domain::UserStatus::Active,
            ..Default::default()
        };
        store.put_user(&u).unwrap();
        let f = |user: &str| Filters { user: Some(user.into()), ..Default::default() };
        assert_eq!(query(&store, "t1", &f("ann@example.com"), None, 5).unwrap().user, Some(u.id.clone()));
        assert_eq!(query(&store, "t1", &f(&u.id), None, 5).unwrap().user, Some(u.id.clone()));
        // Another tenant's admin does not learn the id: the value is kept as it was given.
        assert_eq!(
            query(&store, "t2", &f("ann@example.com"), None, 5).unwrap().user.as_deref(),
            Some("ann@example.com")
        );
        let ip = Filters { ip: Some("::FFFF:10.0.0.1".into()), ..Default::default() };
        assert_eq!(query(&store, "t1", &ip, None, 5).unwrap().ip.as_deref(), Some("::ffff:10.0.0.1"));
        for (f, field) in [
            (Filters { event: Some("nope".into()), ..Default::default() }, "event"),
            (Filters { ip: Some("10.0.0".into()), ..Default::default() }, "ip"),
            (
                Filters { since: Some("2024-12-05".into()), until: Some("2024-12-04".into()), ..Default::default() },
                "since",
            ),
        ] {
            let e = query(&store, "t1", &f, None, 5).unwrap_err();
            assert!(matches!(&e, FlowError::Invalid(m) if m.contains(&format!("`{field}`"))), "{e}");
        }
    }

    #[test]
    fn purge_zero_leaves_only_the_purge_event_of_that_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let day = 86_400;
        let mut events: Vec<AuditEvent> = (0..10)
            .map(|i| AuditEvent {
                time: 100 * day + i * day,
                event: "login_ok".into(),
                tenant: Some(if i % 2 == 0 { "t1" } else { "t2" }.into()),
                ..Default::default()
            })
            .collect();
        store.append_audit(&mut events).unwrap();
        let actor =
            Actor { kind: ActorKind::Admin { user_id: "a1".into(), user: "ops".into() }, origin: Origin::default() };
        let now = 110 * day;
        // Older than 5 days in t1: times 100, 102, 104 (days).
        assert_eq!(purge(&store, &actor, Some("t1"), 5 * day, now).unwrap(), 3);
        assert_eq!(purge(&store, &actor, Some("t1"), 0, now).unwrap(), 2 + 1);
        let q = AuditQuery { tenant: Some("t1".into()), limit: 100, ..Default::default() };
        let left = store.audit_query(&q).unwrap().events;
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].event, "audit_purged");
        assert_eq!(left[0].detail, json!({"older_than_secs": 0, "purged": 3, "admin": "admin:a1"}));
        let q = AuditQuery { tenant: Some("t2".into()), limit: 100, ..Default::default() };
        assert_eq!(store.audit_query(&q).unwrap().events.len(), 5, "the other tenant's events stay");
    }
}
