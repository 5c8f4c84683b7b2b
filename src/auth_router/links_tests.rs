//! Password reset and sign-in link requests through the whole /auth router (docs/http-api.md §5).
use crate::api::tests::{add_user, request, shared};
use axum::http::StatusCode;
use tower::ServiceExt;

async fn call(s: &std::sync::Arc<crate::state::Shared>, path: &str, body: &str) -> (StatusCode, Vec<u8>) {
    let resp = super::router(s.clone()).oneshot(request("POST", path, "", Some(body))).await.unwrap();
    let status = resp.status();
    (status, axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap().to_vec())
}

/// A reset and a sign-in link are asked for alike whoever the address belongs to, and draw
/// on the one per-identifier send budget (`rate_limits.otp_send`, 5 per 10 minutes) with
/// sign-in codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_answer_alike_and_share_the_send_budget() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    add_user(&s, "alice", "violet-tractor-42").await;
    let reset = |who: &str| format!(r#"{{"identifier": "{who}"}}"#);
    let link = |who: &str| format!(r#"{{"email": "{who}"}}"#);
    let known = call(&s, "/auth/password/request-reset", &reset("alice")).await;
    assert_eq!(known.0, StatusCode::ACCEPTED);
    assert_eq!(known, call(&s, "/auth/password/request-reset", &reset("nobody")).await);
    let known = call(&s, "/auth/magic-link", &link("alice@example.com")).await;
    assert_eq!(known, call(&s, "/auth/magic-link", &link("nobody@example.com")).await);
    assert_eq!(known.0, StatusCode::ACCEPTED);
    for _ in 0..3 {
        assert_eq!(call(&s, "/auth/otp/request", &reset("alice@example.com")).await.0, StatusCode::ACCEPTED);
    }
    assert_eq!(call(&s, "/auth/password/request-reset", &reset("alice@example.com")).await.0, StatusCode::ACCEPTED);
    let r = call(&s, "/auth/magic-link", &link("ALICE@example.com")).await;
    assert_eq!(r.0, StatusCode::TOO_MANY_REQUESTS, "the sixth message to one address this quarter hour");
    let bad = call(&s, "/auth/magic-link", &link("not-an-address")).await;
    assert_eq!(bad.0, StatusCode::UNPROCESSABLE_ENTITY);
    let r =
        call(&s, "/auth/password/reset", r#"{"token": "nobody-has-this", "new_password": "a-long-new-passphrase-9"}"#)
            .await;
    assert_eq!(r.0, StatusCode::UNAUTHORIZED);
}
