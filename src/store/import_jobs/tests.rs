use super::*;
use crate::store::testing::each_backend;

fn job(tenant: &str, id: &str, total: u64, now: u64) -> ImportJob {
    ImportJob {
        id: id.into(),
        tenant: tenant.into(),
        file: "staff.csv".into(),
        total,
        done: 0,
        started_at: now,
        touched_at: 0,
        outcome: None,
    }
}

fn report() -> ImportOutcome {
    ImportOutcome::Report {
        created: 8,
        updated: 1,
        refused: vec![RefusedRow { line: 3, reason: "no address".into() }],
        more: 2,
    }
}

#[test]
fn a_job_is_started_shows_its_progress_and_its_outcome_within_its_tenant() {
    each_backend(|s| {
        assert_eq!(s.start_import_job(job("t1", "a1", 12, 100), 100).unwrap(), JobStart::Started);
        let j = s.import_job("t1", "a1", 100).unwrap().unwrap();
        assert_eq!((j.done, j.total, j.file.as_str(), j.outcome.clone()), (0, 12, "staff.csv", None));
        assert!(s.import_job("t2", "a1", 100).unwrap().is_none(), "another tenant's job is not found");
        s.import_progress("t1", "a1", 5, 101).unwrap();
        s.import_progress("t1", "a1", 3, 102).unwrap();
        s.import_progress("t1", "a1", 99, 102).unwrap();
        let j = s.import_job("t1", "a1", 102).unwrap().unwrap();
        assert_eq!((j.done, j.touched_at), (12, 102), "progress only grows, up to the total");
        s.finish_import_job("t1", "a1", report(), 103).unwrap();
        let j = s.import_job("t1", "a1", 103).unwrap().unwrap();
        assert_eq!((j.done, j.outcome), (12, Some(report())));
        s.import_progress("t1", "a1", 1, 104).unwrap();
        let failed = ImportOutcome::Failed { message: "late".into() };
        s.finish_import_job("t1", "a1", failed, 104).unwrap();
        assert_eq!(s.import_job("t1", "a1", 104).unwrap().unwrap().outcome, Some(report()), "finished once");
        s.import_progress("t1", "nope", 1, 104).unwrap();
        assert!(s.import_job("t1", "nope", 104).unwrap().is_none(), "progress of no job stores nothing");
    });
}

#[test]
fn one_running_import_per_tenant() {
    each_backend(|s| {
        assert_eq!(s.start_import_job(job("t1", "a1", 5, 100), 100).unwrap(), JobStart::Started);
        assert_eq!(s.start_import_job(job("t1", "a2", 5, 110), 110).unwrap(), JobStart::AlreadyRunning);
        assert!(s.import_job("t1", "a2", 110).unwrap().is_none());
        assert_eq!(s.start_import_job(job("t2", "b1", 5, 110), 110).unwrap(), JobStart::Started, "per tenant");
        s.finish_import_job("t1", "a1", ImportOutcome::Failed { message: "store".into() }, 120).unwrap();
        assert_eq!(s.start_import_job(job("t1", "a2", 5, 121), 121).unwrap(), JobStart::Started);
        assert!(s.import_job("t1", "a1", 121).unwrap().is_some(), "the finished one is kept");
    });
}

/// A replica that died mid-import stops writing progress: after STALE_SECS its job counts as
/// stopped, the tenant may start another, and nothing the dead job writes late changes it.
#[test]
fn a_job_whose_replica_stopped_writing_counts_as_stopped() {
    each_backend(|s| {
        s.start_import_job(job("t1", "a1", 5, 100), 100).unwrap();
        s.import_progress("t1", "a1", 2, 110).unwrap();
        assert_eq!(s.import_job("t1", "a1", 110 + STALE_SECS - 1).unwrap().unwrap().outcome, None);
        assert_eq!(s.start_import_job(job("t1", "a2", 5, 169), 169).unwrap(), JobStart::AlreadyRunning);
        let later = 110 + STALE_SECS;
        let j = s.import_job("t1", "a1", later).unwrap().unwrap();
        assert_eq!((j.done, j.outcome), (2, Some(ImportOutcome::Stopped)));
        assert_eq!(s.start_import_job(job("t1", "a2", 5, later), later).unwrap(), JobStart::Started);
        s.finish_import_job("t1", "a1", report(), later + 1).unwrap();
        let j = s.import_job("t1", "a1", later + 1).unwrap().unwrap();
        assert_eq!(j.outcome, Some(ImportOutcome::Stopped), "recorded as stopped by the next start");
    });
}

#[test]
fn finished_jobs_expire_after_a_day_and_at_most_sixteen_are_kept_per_tenant() {
    each_backend(|s| {
        for i in 0..JOBS_PER_TENANT as u64 + 3 {
            let (id, now) = (format!("j{i:02}"), 1000 + i * 10);
            assert_eq!(s.start_import_job(job("t1", &id, 1, now), now).unwrap(), JobStart::Started);
            s.finish_import_job("t1", &id, report(), now + 1).unwrap();
        }
        s.start_import_job(job("t2", "other", 1, 1000), 1000).unwrap();
        let kept: Vec<bool> = (0..JOBS_PER_TENANT + 3)
            .map(|i| s.import_job("t1", &format!("j{i:02}"), 2000).unwrap().is_some())
            .collect();
        assert_eq!(kept.iter().filter(|k| **k).count(), JOBS_PER_TENANT);
        assert!(!kept[0] && !kept[1] && !kept[2] && kept[3], "the oldest went first: {kept:?}");

        // A day after it finished, a job goes with the next start of its tenant.
        let day = 1180 + KEEP_SECS;
        s.start_import_job(job("t1", "new", 1, day), day).unwrap();
        assert!(s.import_job("t1", "j18", day).unwrap().is_some(), "finished at 1181: not yet a day");
        assert!(s.import_job("t1", "j17", day).unwrap().is_none(), "finished at 1171: a day ago");
        // Or with the housekeeping: the other tenant's stale running job too.
        assert_eq!(s.purge_import_jobs(day + 10).unwrap(), 2, "j18 and t2's stopped job");
        assert!(s.import_job("t2", "other", day + 10).unwrap().is_none());
        assert!(s.import_job("t1", "new", day + 10).unwrap().is_some(), "a running job stays");
        assert_eq!(s.purge_import_jobs(day + 10).unwrap(), 0);
    });
}

/// Two replicas on one PostgreSQL: a job started through one is read through the other, which
/// cannot start a second import for the tenant while it runs.
#[test]
fn a_job_started_on_one_replica_is_seen_and_held_on_another() {
    let Some(db) = crate::store::postgres::testdb::TestDb::create() else {
        eprintln!("GATEHOUSE_TEST_PG_URL is not set: skipped");
        return;
    };
    let open = || Store::open_kv(Box::new(crate::store::postgres::Postgres::open(&db.config(2)).unwrap())).unwrap();
    let (a, b) = (open(), open());
    assert_eq!(a.start_import_job(job("t1", "a1", 10, 100), 100).unwrap(), JobStart::Started);
    assert_eq!(b.start_import_job(job("t1", "b1", 10, 101), 101).unwrap(), JobStart::AlreadyRunning);
    a.import_progress("t1", "a1", 4, 102).unwrap();
    assert_eq!(b.import_job("t1", "a1", 102).unwrap().map(|j| j.done), Some(4));
    a.finish_import_job("t1", "a1", report(), 103).unwrap();
    assert_eq!(b.import_job("t1", "a1", 103).unwrap().and_then(|j| j.outcome), Some(report()));
    assert_eq!(b.start_import_job(job("t1", "b1", 10, 104), 104).unwrap(), JobStart::Started);
    assert_eq!(a.start_import_job(job("t1", "a2", 10, 105), 105).unwrap(), JobStart::AlreadyRunning);
}
