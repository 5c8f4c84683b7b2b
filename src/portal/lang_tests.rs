//! The portal speaks the visitor's language: every page in the language `Accept-Language`
//! picks, `<html lang>` set, and no text outside the catalogue.
use super::*;
use crate::api::tests::shared;
use axum::body::Body;
use tower::ServiceExt;

/// Texts a page shows that are not the catalogue's (values the test put in).
const DYNAMIC: [&str; 4] = ["alice", "Gatehouse", "JBSWY3DP", "alice@example.com"];

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// The page's visible texts (text nodes outside `<style>`, and `aria-label`s) that are neither
/// part of a German catalogue text nor a value the test put in.
fn not_german(html: &str) -> Vec<String> {
    let german: Vec<&str> = M::ALL.iter().map(|m| m.text(Lang::De)).collect();
    let mut texts = vec![];
    let mut rest = html;
    while let Some(i) = rest.find('>') {
        let tag = &rest[..i];
        if let Some(label) = tag.split("aria-label=\"").nth(1).and_then(|l| l.split('"').next()) {
            texts.push(label.to_string());
        }
        rest = &rest[i + 1..];
        let end = rest.find('<').unwrap_or(rest.len());
        if !tag.ends_with("<style") {
            texts.extend(rest[..end].split(" · ").map(str::to_string));
        }
        rest = &rest[end..];
    }
    texts
        .into_iter()
        .map(|t| unescape(t.trim()))
        .filter(|t| t.chars().any(char::is_alphabetic))
        .filter(|t| !DYNAMIC.contains(&t.as_str()))
        .filter(|t| !german.iter().any(|g| g.contains(t.as_str())))
        .collect()
}

async fn get(s: &Arc<Shared>, path: &str, accept: &str) -> (StatusCode, String) {
    let req = axum::http::Request::builder()
        .uri(path)
        .header("host", "auth.test")
        .header("accept-language", accept)
        .body(Body::empty())
        .unwrap();
    let resp = crate::auth_router::router(s.clone()).oneshot(req).await.unwrap();
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
    let resp = crate::auth_router::router(s.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body = String::from_utf8_lossy(&axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap()).into_owned();
    assert!(body.contains(M::FormExpired.text(Lang::De)) && body.contains("lang=\"de\""), "{body}");
    assert_eq!(not_german(&body), Vec::<String>::new());
}

/// The pages a post answers with (the steps after a form), rendered in German: nothing outside
/// the catalogue.
#[test]
fn step_pages_have_no_text_outside_the_catalogue() {
    let de = Ui::of(Lang::De);
    let step = MfaStep { token: "t", methods: "otp,totp,recovery_code", notice: Some(M::SentToEmail) };
    let mut pages = vec![
        de.page(M::SecondFactor, &code_form(&de, Some("/x"), "c", &step, Some(de.t(M::CodeWrongOrUsed)))),
        de.page(M::EnterYourCode, &code::entry_form(&de, None, "c", "alice", Some(de.t(M::TooManyWrongCodes)))),
        de.page(M::AuthenticatorApp, &enrol::confirm_form(&de, "c", "JBSWY3DP", "", Some(de.t(M::EnrolCodeMismatch)))),
        de.page(M::ResetYourPassword, &links::forgot_form(&de, "c", "alice", Some(de.t(M::TooManyMessages)))),
        de.page(M::ChooseNewPassword, &links::reset_form(&de, "c", None, "alice", Some(de.t(M::PasswordsDiffer)))),
        de.page(M::SignInWithLink, &links::link_request_form(&de, None, "c", "alice@example.com", None)),
    ];
    for r in [sign_in_again(&de, StatusCode::UNAUTHORIZED, M::CannotStepUp), form_expired(&de, SIGN_IN_AGAIN)] {
        let body = futures_body(r);
        pages.push(body);
    }
    for p in pages {
        assert!(p.contains("<html lang=\"de\">"));
        assert_eq!(not_german(&p), Vec::<String>::new(), "{p}");
    }
    let en = Ui::of(Lang::En);
    assert!(!not_german(&en.page(M::SignIn, &password_form(&en, None, "c", "", None, true))).is_empty());
}

fn futures_body(r: Response) -> String {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let bytes = rt.block_on(axum::body::to_bytes(r.into_body(), 1 << 20)).unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}
