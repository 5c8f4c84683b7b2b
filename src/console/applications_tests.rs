//! The Applications tab's forms: each change through `flows::apps` with the administrator as
//! its author; refused without the CSRF token; errors next to their field.

use crate::console::testkit::*;
use axum::http::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_an_app_needs_the_csrf_token_and_is_audited_with_the_admin() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    let (cookie, csrf) = admin(&s, "root").await;
    let form = [("id", "shop"), ("name", "Shop"), ("allowed_ips", "10.0.0.5\n10.1.2.3/16")];

    let resp = post(&s, "/auth/admin/applications", &cookie, &form).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(s.services.store.stored_apps().unwrap().is_empty(), "an app was registered without the token");

    let mut with = vec![("csrf", csrf.as_str())];
    with.extend(form);
    let resp = post(&s, "/auth/admin/applications", &cookie, &with).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/auth/admin/applications/shop?done=registered");
    let event = crate::api::admin::testkit::audited(&s, "app_created").await;
    assert_eq!(event.detail["admin"], "admin:id-root");
    let page = text(get(&s, "/auth/admin/applications", &cookie).await).await;
    assert!(page.contains("10.0.0.5/32, 10.1.0.0/16"), "{page}");

    // A key: created by the form, its secret on the page once, and it works on the app API.
    let resp = post(&s, "/auth/admin/applications/shop/keys", &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let page = text(resp).await;
    let secret = page.split("<code id=\"new-key\">").nth(1).and_then(|r| r.split('<').next()).unwrap().to_string();
    assert!(secret.len() > 20, "{page}");
    assert!(!text(get(&s, "/auth/admin/applications/shop", &cookie).await).await.contains(&secret));
    crate::api::admin::testkit::audited(&s, "app_key_created").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_field_is_shown_next_to_it_with_the_apis_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    let (cookie, csrf) = admin(&s, "root").await;
    let form = [("csrf", csrf.as_str()), ("id", "shop"), ("name", ""), ("allowed_ips", "10.0.0.999")];
    let resp = post(&s, "/auth/admin/applications", &cookie, &form).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = text(resp).await;
    assert!(page.contains("<p class=\"error\" id=\"ips-error\">`allowed_ips`:"), "{page}");
    assert!(page.contains("aria-invalid=\"true\">10.0.0.999</textarea>"), "the typed value is kept: {page}");

    let ok = [("csrf", csrf.as_str()), ("id", "shop"), ("allowed_ips", "10.0.0.5")];
    assert_eq!(post(&s, "/auth/admin/applications", &cookie, &ok).await.status(), StatusCode::SEE_OTHER);
    let resp = post(&s, "/auth/admin/applications", &cookie, &ok).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(text(resp).await.contains("<p class=\"error\" id=\"id-error\">The app id `shop` is taken"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_an_app_asks_first_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = shared(dir.path(), "");
    let (cookie, csrf) = admin(&s, "root").await;
    let ok = [("csrf", csrf.as_str()), ("id", "shop"), ("name", "Shop"), ("allowed_ips", "10.0.0.5")];
    post(&s, "/auth/admin/applications", &cookie, &ok).await;
    let page = text(get(&s, "/auth/admin/applications/shop/disable", &cookie).await).await;
    assert!(page.contains("Disable the application Shop (shop)?"), "{page}");
    assert!(page.contains("action=\"/auth/admin/applications/shop/disable\""), "{page}");
    let resp = post(&s, "/auth/admin/applications/shop/disable", &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let page = text(get(&s, "/auth/admin/applications", &cookie).await).await;
    assert!(page.contains("status-disabled"), "{page}");
    let e = crate::api::admin::testkit::audited(&s, "app_updated").await;
    assert_eq!(e.detail["admin"], "admin:id-root");
}
