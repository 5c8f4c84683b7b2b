//! The CSV import's handlers: the upload (text/csv with the admin session's CSRF token) starts
//! a job; its progress and its report with each refused row's line; one job at a time per
//! tenant; another tenant's administrator cannot see it.

use crate::console::testkit::*;
use crate::store::import_jobs::{ImportJob, ImportOutcome, JobStart, RefusedRow};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use tower::ServiceExt;

async fn upload(
    s: &std::sync::Arc<crate::state::Shared>,
    cookie: &str,
    csrf: Option<&str>,
    csv: String,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::post("/auth/admin/directory/import")
        .header("host", "auth.example.com")
        .header("origin", "https://auth.example.com")
        .header(header::CONTENT_TYPE, "text/csv")
        .header("x-file-name", "staff%20list.csv")
        .header(header::COOKIE, cookie);
    if let Some(t) = csrf {
        req = req.header("x-csrf-token", t);
    }
    let resp = router(s).oneshot(req.body(Body::from(csv)).unwrap()).await.unwrap();
    let status = resp.status();
    (status, serde_json::from_str(&text(resp).await).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_starts_an_import_whose_progress_and_report_the_page_shows() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    let (cookie, csrf) = admin(&s, "root").await;
    let mut csv = String::from("name,email,mobile,emp_id\n");
    for i in 0..300 {
        csv += &format!("Person {i},p{i}@example.com,,E{i}\n");
    }
    csv += "Broken,not-an-address,,\nNo Mobile,,+1,\n";

    let (status, _) = upload(&s, &cookie, None, csv.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token, no import");
    assert!(s.services.store.find_user("default", "p0@example.com").unwrap().is_none());

    let (status, body) = upload(&s, &cookie, Some(&csrf), csv).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let job = body["job"].as_str().unwrap().to_string();
    assert!(job.starts_with("/auth/admin/directory/import/"), "{job}");

    let mut last = (0, 0);
    for _ in 0..600 {
        let p: serde_json::Value =
            serde_json::from_str(&text(get(&s, &format!("{job}/progress"), &cookie).await).await).unwrap();
        let now = (p["done"].as_u64().unwrap(), p["total"].as_u64().unwrap());
        assert_eq!(now.1, 302);
        assert!(now.0 >= last.0, "progress only grows");
        last = now;
        if p["finished"] == true {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(last, (302, 302));
    let page = text(get(&s, &job, &cookie).await).await;
    assert!(page.contains("300 created, 0 updated, 2 refused."), "{page}");
    assert!(page.contains("staff list.csv"), "{page}");
    assert!(page.contains("<tr><td>302</td><td>") && page.contains("<tr><td>303</td><td>"), "line numbers: {page}");
    assert!(page.contains("not-an-address") && page.contains("international form"), "{page}");
    assert!(s.services.store.find_user("default", "p299@example.com").unwrap().is_some());
    let events = s.services.store.audit(50).unwrap();
    let imported: Vec<_> = events.iter().filter(|e| e.event == "users_imported").collect();
    assert_eq!(imported.len(), 1);
    assert_eq!(imported[0].detail["admin"], "admin:id-root");
    assert_eq!(imported[0].detail["created"], 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_cannot_be_imported_is_refused_before_any_row() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    let (cookie, csrf) = admin(&s, "root").await;
    let (status, body) = upload(&s, &cookie, Some(&csrf), "name,colour\nAnn,red\n".into()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["message"].as_str().unwrap().starts_with("file: "), "{body}");
    let page = text(get(&s, "/auth/admin/directory/import", &cookie).await).await;
    assert!(page.contains("id=\"import-form\"") && page.contains("src=\"/auth/admin/static/directory.js\""));
    assert_eq!(get(&s, "/auth/admin/directory/import/0123", &cookie).await.status(), StatusCode::NOT_FOUND);
}

/// A job as another replica stores it (`id`: 32 hex digits).
fn stored_job(s: &std::sync::Arc<crate::state::Shared>, tenant: &str, id: &str, touched_at: u64) {
    let job = ImportJob {
        id: id.into(),
        tenant: tenant.into(),
        file: "elsewhere.csv".into(),
        total: 40,
        done: 0,
        started_at: touched_at,
        touched_at,
        outcome: None,
    };
    assert_eq!(s.services.store.start_import_job(job, touched_at).unwrap(), JobStart::Started);
}

/// Jobs are in the store: one another replica runs is shown here, its progress as that replica
/// wrote it, its report with the refused rows kept and the count of the others; while it runs
/// the tenant cannot start another; another tenant's job is not found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_in_the_store_is_answered_by_any_replica_within_its_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    let (cookie, csrf) = admin(&s, "root").await;
    let now = crate::clock::now_secs();
    let id = "0123456789abcdef0123456789abcdef";
    stored_job(&s, "default", id, now);
    s.services.store.import_progress("default", id, 17, now).unwrap();
    let job = format!("/auth/admin/directory/import/{id}");
    let p: serde_json::Value =
        serde_json::from_str(&text(get(&s, &format!("{job}/progress"), &cookie).await).await).unwrap();
    assert_eq!(p, serde_json::json!({"done": 17, "total": 40, "finished": false}));
    let page = text(get(&s, &job, &cookie).await).await;
    assert!(
        page.contains("Importing users") && page.contains("value=\"17\"") && page.contains("elsewhere.csv"),
        "{page}"
    );

    let (status, body) = upload(&s, &cookie, Some(&csrf), "name,email\nAnn,ann@example.com\n".into()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "one running import per tenant: {body}");
    assert!(body["message"].as_str().unwrap().contains("already running"), "{body}");
    assert!(s.services.store.find_user("default", "ann@example.com").unwrap().is_none());

    let refused = (0..3).map(|i| RefusedRow { line: i + 2, reason: format!("reason {i}") }).collect();
    let report = ImportOutcome::Report { created: 30, updated: 2, refused, more: 5 };
    s.services.store.finish_import_job("default", id, report, now).unwrap();
    let p: serde_json::Value =
        serde_json::from_str(&text(get(&s, &format!("{job}/progress"), &cookie).await).await).unwrap();
    assert_eq!(p, serde_json::json!({"done": 40, "total": 40, "finished": true}));
    let page = text(get(&s, &job, &cookie).await).await;
    assert!(page.contains("30 created, 2 updated, 8 refused."), "{page}");
    assert!(
        page.contains("<tr><td>4</td><td>reason 2</td></tr>") && page.contains("And 5 more refused rows"),
        "{page}"
    );

    let theirs = "fedcba9876543210fedcba9876543210";
    stored_job(&s, "other", theirs, now);
    let theirs = format!("/auth/admin/directory/import/{theirs}");
    assert_eq!(get(&s, &theirs, &cookie).await.status(), StatusCode::NOT_FOUND, "another tenant's job");
    assert_eq!(get(&s, &format!("{theirs}/progress"), &cookie).await.status(), StatusCode::NOT_FOUND);
}

/// A job whose replica died mid-import (no progress for a minute) reads as stopped and does not
/// hold the tenant: the next upload starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_replica_died_reads_as_stopped_and_does_not_block_the_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    let (cookie, csrf) = admin(&s, "root").await;
    let id = "00000000000000000000000000000001";
    stored_job(&s, "default", id, crate::clock::now_secs() - 61);
    let job = format!("/auth/admin/directory/import/{id}");
    let p: serde_json::Value =
        serde_json::from_str(&text(get(&s, &format!("{job}/progress"), &cookie).await).await).unwrap();
    assert_eq!(p["finished"], true);
    let page = text(get(&s, &job, &cookie).await).await;
    assert!(
        page.contains(
            "The import stopped: the server running it stopped; the rows imported so far stay imported: run it again"
        ),
        "{page}"
    );
    let (status, body) = upload(&s, &cookie, Some(&csrf), "name,email\nAnn,ann@example.com\n".into()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

/// The report keeps the first 1,000 refused rows and counts the others.
#[test]
fn the_stored_report_keeps_a_thousand_refused_rows() {
    let rejected = (0..1003).map(|i| crate::flows::users::Rejected { line: i + 2, reason: "bad".into() }).collect();
    let r = crate::flows::users::ImportReport { created: 1, updated: 0, rejected };
    match super::import::outcome(r) {
        ImportOutcome::Report { refused, more, created, .. } => {
            assert_eq!((refused.len(), more, created), (1000, 3, 1));
            assert_eq!(refused[999].line, 1001);
        }
        other => panic!("{other:?}"),
    }
}
