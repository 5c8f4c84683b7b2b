//! The audit indexes: kept with every append and purge, and a query through them returns what
//! a scan of the whole log would, page by page.

use super::*;

use crate::store::testing::{each_backend, each_backend_reopening};

/// Event `n` at time 1000 + n: tenants `a`/`b` alternate every event, users u0..u4, IPs
/// 10.0.0.0..2, kinds `login_ok` / `login_failed` / `request_denied` by n % 3, app `wiki` on
/// every fourth.
fn event(n: u64) -> AuditEvent {
    AuditEvent {
        time: 1000 + n,
        event: ["login_ok", "login_failed", "request_denied"][(n % 3) as usize].into(),
        tenant: Some(if n.is_multiple_of(2) { "a" } else { "b" }.into()),
        user: Some(format!("u{}", n % 5)),
        app: n.is_multiple_of(4).then(|| "wiki".into()),
        ip: Some(format!("10.0.0.{}", n % 3)),
        ..Default::default()
    }
}

fn filled(s: &Store, n: u64) -> Vec<AuditEvent> {
    let mut all: Vec<AuditEvent> = (0..n).map(event).collect();
    for chunk in all.chunks_mut(37) {
        s.append_audit(chunk).unwrap();
    }
    all
}

/// Every page of `q` followed through its cursors.
fn all_pages(s: &Store, mut q: AuditQuery) -> Vec<u64> {
    let mut seqs = vec![];
    for _ in 0..10_000 {
        let p = s.audit_query(&q).unwrap();
        assert!(p.events.len() <= q.limit);
        seqs.extend(p.events.iter().map(|e| e.seq));
        match p.next {
            Some(n) => q.before = Some(n),
            None => return seqs,
        }
    }
    panic!("the cursor never ended");
}

fn expected(all: &[AuditEvent], q: &AuditQuery) -> Vec<u64> {
    all.iter().rev().filter(|e| q.matches(e)).map(|e| e.seq).collect()
}

#[test]
fn a_query_through_the_indexes_equals_a_scan_in_pages() {
    each_backend(|s| {
        let all = filled(s, 600);
        let some = |v: &str| Some(v.to_string());
        let queries = [
            AuditQuery { tenant: some("a"), ..Default::default() },
            AuditQuery { tenant: some("b"), event: some("login_failed"), ..Default::default() },
            AuditQuery { tenant: some("a"), user: some("u2"), ..Default::default() },
            AuditQuery { tenant: some("a"), ip: some("10.0.0.1"), event: some("request_denied"), ..Default::default() },
            AuditQuery {
                tenant: some("a"),
                app: some("wiki"),
                user: some("u4"),
                ip: some("10.0.0.2"),
                ..Default::default()
            },
            AuditQuery { tenant: some("b"), since: Some(1100), until: Some(1200), ..Default::default() },
            AuditQuery { tenant: some("b"), user: some("u3"), since: Some(1400), ..Default::default() },
            AuditQuery { tenant: some("a"), user: some("nobody"), ..Default::default() },
            AuditQuery { tenant: some("c"), ..Default::default() },
            AuditQuery { tenant: None, ip: some("10.0.0.0"), until: Some(1300), ..Default::default() },
        ];
        for mut q in queries {
            for limit in [1, 7, 50] {
                q.limit = limit;
                let want = expected(&all, &q);
                assert_eq!(all_pages(s, q.clone()), want, "{q:?}");
            }
        }
        // An admin of tenant `a` never sees `b`'s events.
        let q = AuditQuery { tenant: Some("a".into()), limit: 500, ..Default::default() };
        assert!(s.audit_query(&q).unwrap().events.iter().all(|e| e.tenant.as_deref() == Some("a")));
    });
}

#[test]
fn purging_removes_the_events_and_their_index_rows() {
    each_backend(|s| {
        let all = filled(s, 300);
        // Tenant `a`'s events older than time 1100: 50 of them; `b`'s stay.
        assert_eq!(s.purge_audit(Some("a"), 1100, 10_000).unwrap(), 50);
        let q = |t: &str| AuditQuery { tenant: Some(t.into()), limit: 500, ..Default::default() };
        let a = s.audit_query(&q("a")).unwrap().events;
        assert_eq!(a.len(), 100);
        assert!(a.iter().all(|e| e.time >= 1100));
        assert_eq!(s.audit_query(&q("b")).unwrap().events.len(), 150);
        // Every tenant's events, bounded per transaction.
        assert_eq!(s.purge_audit(None, 1200, 30).unwrap(), 30);
        assert_eq!(s.prune_audit(1200, 10_000).unwrap(), 200 - 50 - 30);
        let left = all.iter().filter(|e| e.time >= 1200).count();
        assert_eq!(s.audit(10_000).unwrap().len(), left);
        // No index row outlives its event.
        let tx = s.db.begin_read().unwrap();
        let idx = tx.open_table(AUDIT_INDEX).unwrap();
        let events = tx.open_table(AUDIT).unwrap();
        for row in idx.iter().unwrap() {
            let (k, _) = row.unwrap();
            assert!(events.get(k.1).unwrap().is_some(), "index row {:?} has no event", k);
        }
        // Nothing old enough: no write at all.
        let writes = s.write_transactions();
        assert_eq!(s.purge_audit(Some("a"), 1100, 10_000).unwrap(), 0);
        assert_eq!(s.write_transactions(), writes);
    });
}

#[test]
fn a_store_written_before_the_index_is_indexed_at_open() {
    each_backend_reopening(|b| {
        let all: Vec<AuditEvent> = {
            let s = b.open();
            let mut all: Vec<AuditEvent> = (0..40).map(event).collect();
            s.append_audit(&mut all).unwrap();
            // As an earlier version left it: events, no index, no mark.
            let tx = s.db.begin_write().unwrap();
            tx.delete_table(AUDIT_INDEX).unwrap();
            tx.open_table(META).unwrap().remove("audit_index").unwrap();
            tx.commit().unwrap();
            all
        };
        let s = b.open();
        let q = AuditQuery { tenant: Some("a".into()), user: Some("u1".into()), limit: 100, ..Default::default() };
        assert_eq!(all_pages(&s, q.clone()), expected(&all, &q));
        assert!(!expected(&all, &q).is_empty());
    });
}

#[test]
fn sequence_numbers_never_go_back_when_retention_empties_the_log() {
    each_backend(|s| {
        let mut first = vec![event(1), event(2)];
        s.append_audit(&mut first).unwrap();
        assert_eq!(s.prune_audit(u64::MAX, 10_000).unwrap(), 2);
        assert!(s.audit(10).unwrap().is_empty());
        let mut next = vec![event(3)];
        s.append_audit(&mut next).unwrap();
        assert_eq!(next[0].seq, first[1].seq + 1, "not {}: event ids made of it would repeat", next[0].seq);
    });
}
