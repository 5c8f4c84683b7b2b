//! Webhooks in the store: secrets sealed, and the audit append queuing exactly the deliveries
//! its events call for, in the same transaction.

use super::*;

use crate::store::testing::each_backend;

/// Runs `test` on every backend's store, its sealing key set.
fn keyed(test: impl Fn(&Store)) {
    each_backend(|s| {
        s.set_seed_key([7u8; 32]).unwrap();
        test(s)
    })
}

fn hook(id: &str, tenant: &str, events: &[&str], enabled: bool) -> Webhook {
    Webhook {
        id: id.into(),
        tenant: tenant.into(),
        url: "http://127.0.0.1:9/hook".into(),
        events: events.iter().map(|e| e.to_string()).collect(),
        secret: String::new(),
        enabled,
        created_at: 1,
        updated_at: 1,
    }
}

#[test]
fn every_mapped_kind_is_an_audit_kind_and_names_are_listed_once() {
    let names = event_names();
    for must in ["user.created", "user.updated", "user.disabled", "user.deleted", "user.signed_in", "session.revoked"] {
        assert!(names.contains(&must), "{must}");
    }
    assert!(names.contains(&"app.key_created") && names.contains(&"app.key_deleted"));
    assert_eq!(webhook_event("login_ok"), Some("user.signed_in"));
    assert_eq!(webhook_event("login_failed"), None);
}

#[test]
fn secrets_are_sealed_and_open_only_for_their_webhook() {
    keyed(|s| {
        s.put_webhook(&hook("w1", "t", &["user.created"], true), Some("whsec_topsecret")).unwrap();
        let w = s.webhook("w1").unwrap().unwrap();
        assert!(w.secret.starts_with("sealed1:") && !w.secret.contains("topsecret"));
        assert_eq!(s.webhook_secret(&w).as_deref(), Some("whsec_topsecret"));
        let moved = Webhook { id: "w2".into(), ..w };
        assert_eq!(s.webhook_secret(&moved), None, "a sealed secret is bound to its webhook");
        // Without the server's key nothing is sealed (or stored).
        let dir = tempfile::tempdir().unwrap();
        let bare = Store::open(&dir.path().join("b.redb")).unwrap();
        assert!(bare.put_webhook(&hook("w3", "t", &[], true), Some("x")).is_err());
    });
}

#[test]
fn appending_audit_events_queues_one_delivery_per_subscribed_enabled_webhook_of_the_tenant() {
    keyed(|s| {
        s.put_webhook(&hook("a", "t1", &["user.created", "user.signed_in"], true), Some("k")).unwrap();
        s.put_webhook(&hook("b", "t1", &["user.deleted"], true), Some("k")).unwrap();
        s.put_webhook(&hook("c", "t1", &["user.created"], false), Some("k")).unwrap();
        s.put_webhook(&hook("d", "t2", &["user.created"], true), Some("k")).unwrap();
        let ev = |kind: &str, t: &str| AuditEvent {
            time: 50,
            event: kind.into(),
            tenant: Some(t.into()),
            user: Some("u1".into()),
            detail: serde_json::json!({"admin": "admin:x"}),
            ..Default::default()
        };
        let mut events =
            vec![ev("user_created", "t1"), ev("login_failed", "t1"), ev("login_ok", "t1"), ev("user_created", "t3")];
        s.append_audit(&mut events).unwrap();
        let a = s.deliveries("a", None, 10).unwrap();
        assert_eq!(a.iter().map(|d| d.event.as_str()).collect::<Vec<_>>(), ["user.signed_in", "user.created"]);
        assert!(s.deliveries("b", None, 10).unwrap().is_empty());
        assert!(s.deliveries("c", None, 10).unwrap().is_empty(), "disabled");
        assert!(s.deliveries("d", None, 10).unwrap().is_empty(), "another tenant");
        let created = &a[1];
        assert_eq!(created.status, DeliveryStatus::Pending);
        let body: serde_json::Value = serde_json::from_str(&created.body).unwrap();
        assert_eq!(body["id"], format!("evt_{}", events[0].seq));
        assert_eq!(
            (body["event"].as_str(), body["tenant"].as_str(), body["created_at"].as_u64()),
            (Some("user.created"), Some("t1"), Some(50))
        );
        assert_eq!(body["data"]["user"], "u1");
        assert_eq!(body["data"]["detail"]["admin"], "admin:x");
        let queued = s.outbox_due(u64::MAX, 10).unwrap();
        assert_eq!(queued.len(), 2);
        assert!(queued.iter().all(|(_, m)| m.purpose == EVENT_PURPOSE && m.to == "a"));

        // An attempt is logged; a redelivery queues the same body again.
        s.record_attempt(
            "a",
            created.id,
            Attempt { at: 60, status: Some(500), error: Some("HTTP 500".into()) },
            DeliveryStatus::Failed,
        )
        .unwrap();
        let w = s.webhook("a").unwrap().unwrap();
        let Redelivery::Queued(again) = s.redeliver(&w, created.id, 70).unwrap() else { panic!("not queued") };
        assert_eq!((again.status, again.attempts.len(), &again.body), (DeliveryStatus::Pending, 1, &created.body));
        assert_eq!(s.outbox_due(u64::MAX, 10).unwrap().len(), 3);
        assert_eq!(s.redeliver(&w, created.id, 71).unwrap(), Redelivery::Pending, "pending: queued already");
        assert_eq!(s.outbox_due(u64::MAX, 10).unwrap().len(), 3, "nothing more queued");
        assert_eq!(s.redeliver(&w, 999, 70).unwrap(), Redelivery::NotFound);

        // Paging, deletion and retention.
        assert_eq!(s.deliveries("a", Some(a[0].id), 10).unwrap().len(), 1);
        assert_eq!(s.prune_deliveries(50).unwrap(), 0, "none older than time 50");
        let writes = s.write_transactions();
        assert_eq!(s.prune_deliveries(50).unwrap(), 0);
        assert_eq!(s.write_transactions(), writes, "nothing to prune: no write");
        s.put_webhook(&hook("e", "t1", &["user.deleted"], true), Some("k")).unwrap();
        let mut late = vec![AuditEvent { time: 90, ..ev("user_deleted", "t1") }];
        s.append_audit(&mut late).unwrap();
        assert_eq!(s.prune_deliveries(51).unwrap(), 2, "a's two deliveries of time 50 go, e's of time 90 stays");
        assert!(s.deliveries("a", None, 10).unwrap().is_empty());
        assert_eq!(s.deliveries("e", None, 10).unwrap().len(), 1);
        assert!(s.delete_webhook("a").unwrap());
        assert!(s.deliveries("a", None, 10).unwrap().is_empty());
        assert!(!s.delete_webhook("a").unwrap());
    });
}

#[test]
fn retention_deletes_delivery_rows_in_bounded_transactions() {
    keyed(|s| {
        s.put_webhook(&hook("a", "t1", &["user.deleted"], true), Some("k")).unwrap();
        s.put_webhook(&hook("b", "t1", &["user.deleted"], true), Some("k")).unwrap();
        let mut events: Vec<AuditEvent> = (0..3)
            .map(|_| AuditEvent {
                time: 10,
                event: "user_deleted".into(),
                tenant: Some("t1".into()),
                ..Default::default()
            })
            .collect();
        s.append_audit(&mut events).unwrap();
        let writes = s.write_transactions();
        assert_eq!(s.prune_deliveries_in(11, 4).unwrap(), 6, "three deliveries to each of two webhooks");
        assert_eq!(s.write_transactions() - writes, 2, "4 rows, then 2");
        assert!(s.deliveries("a", None, 10).unwrap().is_empty() && s.deliveries("b", None, 10).unwrap().is_empty());
    });
}
