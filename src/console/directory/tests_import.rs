//! The CSV import's handlers: the upload (text/csv with the admin session's CSRF token) starts
//! a job; its progress and its report with each refused row's line; one job at a time per
//! tenant; another tenant's administrator cannot see it.

use crate::console::testkit::*;
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
