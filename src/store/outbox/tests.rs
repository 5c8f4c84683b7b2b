//! The outbox's claims and leases, on every backend; several replicas (stores) on one database
//! where the backend can share one (the in-memory backend and PostgreSQL).

use super::*;
use crate::store::testing::{each_backend, each_backend_reopening};
use std::collections::BTreeSet;

fn code(id: &str) -> OutboxMessage {
    OutboxMessage { id: id.into(), purpose: "login".into(), channel: "email".into(), ..Default::default() }
}

fn event(id: &str) -> OutboxMessage {
    OutboxMessage { id: id.into(), purpose: webhooks::EVENT_PURPOSE.into(), ..Default::default() }
}

fn ids(s: &Store) -> Vec<String> {
    s.outbox_due(u64::MAX, 100).unwrap().into_iter().map(|(_, m)| m.id).collect()
}

#[test]
fn a_claimed_message_is_not_claimed_again_until_its_lease_ends() {
    each_backend(|s| {
        let one = s.enqueue(&code("one")).unwrap();
        s.enqueue(&code("two")).unwrap();
        s.enqueue(&event("ev")).unwrap();

        let (seq, m) = s.outbox_claim_as("a", 100, false, 60).unwrap().unwrap();
        assert_eq!((seq, m.id.as_str(), m.attempts), (one, "one", 1), "the oldest, its attempt counted");
        assert_eq!((m.leased_by.as_deref(), m.next_attempt), (Some("a"), 160));
        let stored = s.outbox_due(u64::MAX, 10).unwrap().remove(0).1;
        assert_eq!(stored, m, "the lease is stored");

        let (_, m2) = s.outbox_claim_as("b", 100, false, 60).unwrap().unwrap();
        assert_eq!(m2.id, "two", "b takes the next one, not a's");
        assert_eq!(s.outbox_claim_as("b", 159, false, 60).unwrap(), None, "both leased");
        assert_eq!(s.outbox_next_due(false).unwrap(), Some(160), "a lease is due when it ends");

        let (seq, m) = s.outbox_claim_as("b", 160, false, 60).unwrap().unwrap();
        assert_eq!((seq, m.attempts, m.leased_by.as_deref()), (one, 2, Some("b")), "a's lease ended: b retries it");

        let (_, ev) = s.outbox_claim_as("a", 100, true, 60).unwrap().unwrap();
        assert_eq!(ev.id, "ev", "each worker claims its own kind");
        assert_eq!(s.outbox_claim_as("a", 100, true, 60).unwrap(), None);
    });
}

#[test]
fn a_retry_is_stored_by_the_lease_holder_only() {
    each_backend(|s| {
        let seq = s.enqueue(&code("one")).unwrap();
        let (_, mut by_a) = s.outbox_claim_as("a", 100, false, 10).unwrap().unwrap();
        let (_, by_b) = s.outbox_claim_as("b", 110, false, 10).unwrap().unwrap();
        assert_eq!(by_b.attempts, 2);

        // a comes back after its lease ran out: b's claim stands.
        by_a.next_attempt = 111;
        assert!(!s.outbox_retry_as("a", seq, &by_a).unwrap());
        assert_eq!(s.outbox_due(u64::MAX, 1).unwrap()[0].1, by_b);

        // b's attempt failed: the retry is due after its backoff, leased by no one.
        let retry = OutboxMessage { next_attempt: 114, ..by_b };
        assert!(s.outbox_retry_as("b", seq, &retry).unwrap());
        let stored = s.outbox_due(u64::MAX, 1).unwrap().remove(0).1;
        assert_eq!((stored.next_attempt, stored.attempts, stored.leased_by), (114, 2, None));
        assert_eq!(s.outbox_claim_as("a", 113, false, 10).unwrap(), None, "not before the backoff");
        assert_eq!(s.outbox_claim_as("a", 114, false, 10).unwrap().unwrap().1.attempts, 3);

        // Completed (removed) by one, it is gone for every other.
        s.outbox_remove(seq).unwrap();
        assert_eq!(s.outbox_claim_as("b", u64::MAX, false, 10).unwrap(), None);
        assert!(!s.outbox_retry_as("a", seq, &retry).unwrap(), "a late retry brings nothing back");
        assert!(ids(s).is_empty());
    });
}

#[test]
fn a_look_with_nothing_due_writes_nothing() {
    each_backend(|s| {
        let before = s.write_transactions();
        assert_eq!(s.outbox_claim(100, false, 60).unwrap(), None);
        s.enqueue(&OutboxMessage { next_attempt: 200, ..code("later") }).unwrap();
        let before_claim = s.write_transactions();
        assert_eq!(before_claim, before + 1, "only the enqueue wrote");
        assert_eq!(s.outbox_claim(100, false, 60).unwrap(), None);
        assert_eq!(s.outbox_claim(100, true, 60).unwrap(), None);
        assert_eq!(s.write_transactions(), before_claim, "a look at nothing due writes nothing");
        assert_eq!(s.outbox_claim(200, false, 60).unwrap().unwrap().1.leased_by.as_deref(), Some(s.replica_id()));
    });
}

/// At start every waiting message is due at once — but on a shared store another replica's
/// running lease stands (on redb, one process, any lease left is a dead process's).
#[test]
fn a_start_makes_waiting_messages_due_but_leaves_running_leases_on_a_shared_store() {
    each_backend(|s| {
        s.enqueue(&OutboxMessage { next_attempt: 500, ..code("backoff") }).unwrap();
        let leased = s.enqueue(&code("leased")).unwrap();
        s.outbox_claim_as("other", 100, false, 60).unwrap();
        let expired = s.enqueue(&code("expired")).unwrap();
        s.outbox_claim_as("dead", 30, false, 60).unwrap();
        let before = s.write_transactions();
        s.outbox_make_due(100).unwrap();
        assert_eq!(s.write_transactions(), before + 1);
        let due: Vec<(u64, Option<String>)> =
            s.outbox_due(100, 10).unwrap().into_iter().map(|(k, m)| (k, m.leased_by)).collect();
        if s.db.is_redb() {
            assert_eq!(due.len(), 3, "every message: {due:?}");
        } else {
            assert_eq!(due.iter().map(|d| d.0).collect::<Vec<_>>(), [1, expired], "not the live lease");
            assert_eq!(s.outbox_next_due(false).unwrap(), Some(0));
            let live = s.outbox_due(160, 10).unwrap().into_iter().find(|(k, _)| *k == leased).unwrap().1;
            assert_eq!((live.leased_by.as_deref(), live.next_attempt), (Some("other"), 160), "due when it ends");
        }
        assert!(due.iter().all(|d| d.1.is_none()), "leases made due are cleared");
        let before = s.write_transactions();
        s.outbox_make_due(100).unwrap();
        assert_eq!(s.write_transactions(), before, "nothing more to make due: nothing written");
    });
}

/// Two replicas (two stores on one database), each claiming from two threads at once: every
/// message is claimed exactly once, and a completion on one is seen by the other.
#[test]
fn replicas_on_one_database_claim_each_message_exactly_once() {
    each_backend_reopening(|b| {
        if b.name == "redb" {
            return; // a redb file is one process's
        }
        let (a, other) = (b.open(), b.open());
        assert_ne!(a.replica_id(), other.replica_id());
        const N: usize = 40;
        for i in 0..N {
            a.enqueue(&code(&format!("m{i}"))).unwrap();
        }
        let claimed: Vec<(String, u64, String)> = std::thread::scope(|sc| {
            let workers: Vec<_> = [&a, &other, &a, &other]
                .into_iter()
                .map(|s| {
                    sc.spawn(move || {
                        let mut mine = vec![];
                        while let Some((seq, m)) = s.outbox_claim(100, false, 60).unwrap() {
                            mine.push((m.id, seq, m.leased_by.unwrap()));
                        }
                        mine
                    })
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
        });
        let once: BTreeSet<&str> = claimed.iter().map(|c| c.0.as_str()).collect();
        assert_eq!((claimed.len(), once.len()), (N, N), "each message claimed once: {claimed:?}");

        // Neither claims again before the leases end; a's completions are gone for the other.
        assert_eq!(other.outbox_claim(159, false, 60).unwrap(), None);
        for (_, seq, owner) in claimed.iter().filter(|c| c.2 == a.replica_id()) {
            assert_eq!(owner, a.replica_id());
            a.outbox_remove(*seq).unwrap();
        }
        let left = claimed.iter().filter(|c| c.2 == other.replica_id()).count();
        assert_eq!(other.outbox_due(u64::MAX, 100).unwrap().len(), left);
        // The other replica dies: its leases end at 160, and a takes each of its messages then.
        let mut retaken = 0;
        while let Some((_, m)) = a.outbox_claim(160, false, 60).unwrap() {
            assert_eq!((m.attempts, m.leased_by.as_deref()), (2, Some(a.replica_id())));
            retaken += 1;
        }
        assert_eq!(retaken, left);
    });
}
