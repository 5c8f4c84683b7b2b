//! The portal against the real server: creating an account in the browser's forms, the codes
//! read from the mail aiosmtpd received, then signing in (docs/http-api.md §5, README's portal).
use crate::common::*;
use serde_json::json;

/// A portal form sent by a browser that prefers German.
fn form(gh: &Gatehouse, path: &str, csrf: &str, fields: &[(&str, &str)]) -> Resp {
    portal_form_with(gh, path, csrf, fields, |r| r.header("Accept-Language", "de-DE, en;q=0.5"))
}

#[test]
fn an_account_is_created_on_the_portal_with_the_code_from_the_mail() {
    let smtp = Smtp::start();
    let extra =
        "tenants:\n  - {id: default, hosts: ['app.test'], self_registration: true, validation_sources: [email]}";
    let gh = Gatehouse::start(&code_config(smtp.port, free_port(), extra), &[]);
    let signin = gh.get("/auth/login").host("app.test").send().text();
    assert!(signin.contains(r#"<a href="/auth/register">Create account</a>"#), "{signin}");

    let csrf = portal_csrf(&gh, "/auth/register");
    let details = [
        ("email", "neu@example.com"),
        ("mobile", ""),
        ("name", "Neu"),
        ("username", ""),
        ("password", "orange-kettle-77"),
        ("confirm_password", "orange-kettle-77"),
    ];
    let r = form(&gh, "/auth/register", &csrf, &details);
    assert_eq!(r.status(), 200);
    let page = r.text();
    assert!(page.contains("<html lang=\"de\">") && page.contains("Code aus der E-Mail"), "{page}");
    let code = smtp.code("neu@example.com", 1);

    // Pending until the code: no sign-in yet; a wrong code is refused on the same step.
    let login = json!({"identifier": "neu@example.com", "password": "orange-kettle-77"});
    assert_eq!(post_json(&gh, "/auth/login", login.clone()).status(), 401);
    let step = |otp: &str| {
        form(
            &gh,
            "/auth/register/confirm",
            &csrf,
            &[("type", "email"), ("email", "neu@example.com"), ("mobile", ""), ("otp", otp)],
        )
    };
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = step(wrong);
    assert_eq!(r.status(), 401);
    assert!(r.text().contains("Der Code ist falsch"), "the refusal in the visitor's language");
    let r = step(&code);
    assert_eq!(r.status(), 200);
    let done = r.text();
    assert!(done.contains("Ihr Konto ist bereit") && done.contains(r#"href="/auth/login""#), "{done}");

    // Now the password signs in, on the portal too.
    assert_eq!(post_json(&gh, "/auth/login", login).status(), 200);
    let csrf = portal_csrf(&gh, "/auth/login");
    let r = form(&gh, "/auth/login", &csrf, &[("identifier", "neu@example.com"), ("password", "orange-kettle-77")]);
    assert_eq!(r.status(), 303);
    assert!(r.header("set-cookie").unwrap().starts_with("gatehouse_session="));

    // The address again: the same page as a new one, and no second mail.
    let r = form(&gh, "/auth/register", &csrf, &details);
    assert_eq!(r.status(), 200);
    assert_eq!(r.text(), page.replace(&csrf_of_page(&page), &csrf));
    let audit = audit_when(&gh, |a| a.contains("register_refused"));
    assert!(audit.contains("user_registered"), "{audit}");
    assert_eq!(smtp.messages().len(), 1);
}

/// The CSRF token a page's form carries.
fn csrf_of_page(page: &str) -> String {
    let at = page.find(r#"name="csrf" value=""#).unwrap() + r#"name="csrf" value=""#.len();
    page[at..].split('"').next().unwrap().to_string()
}
