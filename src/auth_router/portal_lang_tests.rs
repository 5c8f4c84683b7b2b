//! The portal speaks the visitor's language: every page in the language `Accept-Language`
//! picks, `<html lang>` set, and no text outside the catalogue.
use crate::api::tests::shared;
use crate::portal::lang_tests::not_german;
use crate::portal::{Lang, M};
use crate::state::Shared;
use axum::body::Body;
use axum::http::StatusCode;
use std::sync::Arc;
use tower::ServiceExt;

async fn get(s: &Arc<Shared>, path: &str, accept: &str) -> (StatusCode, String) {
    let req = axum::http::Request::builder()
        .uri(path)
        .header("host", "auth.test")
        .header("accept-language", accept)
        .body(Body::empty())
        .unwrap();
    let resp = super::router(s.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    (status, String::from_utf8_lossy(&axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap()).into_owned())
}

const PAGES: [&str; 7] = [
    "/auth/login",
    "/auth/login?method=code",
    "/auth/password/forgot",
    "/auth/password/reset?token=abc",
    "/auth/password/reset?identifier=alice",
    "/auth/magic-link",
    "/auth/magic-link/some-token",
];

/// Each page in German for a browser that prefers German over English (q-values), in English
/// when German is refused or not asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_speak_the_language_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path());
    for path in PAGES {
        let (status, body) = get(&s, path, "fr-FR, de;q=0.8, en;q=0.5").await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(body.contains("<html lang=\"de\">"), "{path}: {body}");
        assert_eq!(not_german(&body), Vec::<String>::new(), "{path} shows text outside the catalogue");
        for accept in ["de;q=0, en", "it", ""] {
            let (_, body) = get(&s, path, accept).await;
            assert!(body.contains("<html lang=\"en\">"), "{path} for {accept:?}: {body}");
            assert!(!not_german(&body).is_empty(), "{path} for {accept:?} is in English");
        }
    }
    // A form post without its token: the expired-form page, in German too.
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/auth/login")
        .header("host", "auth.test")
        .header("accept-language", "de-DE")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("identifier=alice&password=x"))
        .unwrap();
    let resp = super::router(s.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body = String::from_utf8_lossy(&axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap()).into_owned();
    assert!(body.contains(M::FormExpired.text(Lang::De)) && body.contains("lang=\"de\""), "{body}");
    assert_eq!(not_german(&body), Vec::<String>::new());
}
