//! The portal speaks the visitor's language: no text outside the catalogue (the pages through
//! the router: auth_router/portal_tests.rs).
use super::*;

/// Texts a page shows that are not the catalogue's (values the test put in).
const DYNAMIC: [&str; 4] = ["alice", "Gatehouse", "JBSWY3DP", "alice@example.com"];

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// The page's visible texts (text nodes outside `<style>`, and `aria-label`s) that are neither
/// part of a German catalogue text nor a value the test put in.
pub(crate) fn not_german(html: &str) -> Vec<String> {
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
    for r in [sign_in_again(&de, StatusCode::UNAUTHORIZED, M::CannotStepUp), form_expired_in(&de, SIGN_IN_AGAIN)] {
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
