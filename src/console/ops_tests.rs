//! The Authentication, Webhooks, Audit and Platform tabs without a socket (`oneshot`): what each
//! page shows (no secret of the configuration anywhere), the CSRF check of every form, the
//! confirmations, the filters, the explain form's answers, and that changes are the flows'
//! (audited with the administrator).

use super::testkit;
use crate::api::admin::testkit::audited;
use crate::state::Shared;
use crate::store::{AuditEvent, AuditQuery};
use axum::http::{header, StatusCode};
use std::sync::Arc;

/// Secrets written in the test configuration; no page may show one.
const SECRETS: &[&str] = &["smtp-pass-7731", "sms-token-8842", "query-key-9953", "hook-secret-1064", "path-key-3286"];

fn notifiers() -> String {
    format!(
        "notifiers:\n  log: true\n\
         \x20 email: {{smtp: {{host: 127.0.0.1, port: 9, username: ops, password: {}}}, from: 'G <g@example.com>'}}\n\
         \x20 sms:\n    - {{name: gateway-sms, kind: http, url: 'http://127.0.0.1:9/send?key={}&to={{{{to}}}}', headers: {{Authorization: 'Bearer {}'}}}}\n\
         \x20 webhooks:\n    - {{name: hook, url: 'http://127.0.0.1:9/hook', secret: {}}}\n\
         \x20   - {{name: slack, url: 'http://127.0.0.1:9/services/T0/B0/{}', secret: s-1}}\n",
        SECRETS[0], SECRETS[2], SECRETS[1], SECRETS[3], SECRETS[4]
    )
}

const POLICY: &str = "default_policy: deny\nrules:\n  - {domain: wiki.example.com, resources: ['^/public(/.*)?$'], policy: bypass}\n  - {domain: wiki.example.com, subject: ['group:staff'], policy: one_factor}\n";

struct Site {
    s: Arc<Shared>,
    cookie: String,
    csrf: String,
    dir: tempfile::TempDir,
}

async fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let s = testkit::shared(dir.path(), &notifiers());
    std::fs::write(dir.path().join("policies/10.yaml"), POLICY).unwrap();
    s.reload().unwrap();
    let (cookie, csrf) = testkit::admin(&s, "ops").await;
    Site { s, cookie, csrf, dir }
}

struct Answer {
    status: StatusCode,
    location: String,
    body: String,
}

async fn answer(resp: axum::http::Response<axum::body::Body>) -> Answer {
    let status = resp.status();
    let location = resp.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    Answer { status, location, body: testkit::text(resp).await }
}

impl Site {
    async fn get(&self, uri: &str) -> Answer {
        answer(testkit::get(&self.s, uri, &self.cookie).await).await
    }

    /// A form post with this session's CSRF token.
    async fn post(&self, uri: &str, pairs: &[(&str, &str)]) -> Answer {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(pairs);
        self.post_raw(uri, &all).await
    }

    async fn post_raw(&self, uri: &str, pairs: &[(&str, &str)]) -> Answer {
        answer(testkit::post(&self.s, uri, &self.cookie, pairs).await).await
    }

    fn events(&self) -> Vec<AuditEvent> {
        let q = AuditQuery { tenant: Some("default".into()), limit: 500, ..Default::default() };
        self.s.services.store.audit_query(&q).unwrap().events
    }
}

fn assert_no_secret(page: &str) {
    for secret in SECRETS {
        assert!(!page.contains(secret), "{secret} shown:\n{page}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_page_shows_a_secret_of_the_configuration() {
    let site = site().await;
    for tab in ["authentication", "platform", "webhooks", "audit"] {
        let a = site.get(&format!("/auth/admin/{tab}")).await;
        assert_eq!(a.status, StatusCode::OK, "{tab}: {}", a.body);
        assert_no_secret(&a.body);
    }
    let auth = site.get("/auth/admin/authentication").await.body;
    for name in ["email", "gateway-sms", "hook", "slack", "log"] {
        assert!(auth.contains(&format!("/auth/admin/authentication/providers/{name}/test")), "{name}: {auth}");
    }
    assert!(auth.contains("[redacted]"));
    assert!(auth.contains("One-time codes (otp)") && auth.contains("<code>length</code>"), "{auth}");
    let platform = site.get("/auth/admin/platform").await.body;
    assert!(platform.contains(r#"id="public-url">https://auth.example.com/</a>"#), "{platform}");
    assert!(platform.contains("10.yaml") && platform.contains("wiki.example.com"));
    assert!(platform.contains("cookie_name: gatehouse_session"), "the effective configuration as YAML");
    // A failed provider test shows the provider's error, scrubbed.
    let a = site.post("/auth/admin/authentication/providers/gateway-sms/test", &[("to", "+15550001234")]).await;
    assert!(a.body.contains("Not delivered (502 delivery_failed)"), "{}", a.body);
    assert_no_secret(&a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_message_goes_through_the_platform_flow_and_is_audited() {
    let site = site().await;
    let a = site.post("/auth/admin/authentication/providers/log/test", &[("to", "+15550001234")]).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("Delivered: the provider took the test message to +15550001234."), "{}", a.body);
    let e = audited(&site.s, "provider_tested").await;
    assert_eq!(e.detail, serde_json::json!({"provider": "log", "delivered": true, "admin": "admin:id-ops"}));
    // An empty address is refused next to the field, nothing sent.
    let a = site.post("/auth/admin/authentication/providers/log/test", &[("to", "  ")]).await;
    assert!(a.body.contains(r#"aria-invalid="true" aria-describedby="to-log-answer""#), "{}", a.body);
    let a = site.post("/auth/admin/authentication/providers/nope/test", &[("to", "x@example.com")]).await;
    assert!(a.body.contains("There is no provider `nope`"), "{}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_refuses_a_missing_or_wrong_csrf_token() {
    let site = site().await;
    for uri in [
        "/auth/admin/audit/purge",
        "/auth/admin/platform/reload",
        "/auth/admin/platform/explain",
        "/auth/admin/authentication/providers/log/test",
        "/auth/admin/webhooks",
    ] {
        let none = site.post_raw(uri, &[("days", "0"), ("confirm", "yes"), ("to", "x")]).await;
        assert_eq!(none.status, StatusCode::FORBIDDEN, "{uri}");
        let wrong = site.post_raw(uri, &[("csrf", "not-the-token"), ("days", "0"), ("confirm", "yes")]).await;
        assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{uri}");
    }
    assert!(!site.events().iter().any(|e| e.event == "audit_purged" || e.event == "provider_tested"));
    // Without the admin session: to the sign-in page.
    let anon = answer(testkit::get(&site.s, "/auth/admin/audit", "").await).await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
    assert!(!anon.body.contains("<table"), "the sign-in page, not the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_filters_pages_and_purges_only_after_a_confirmation() {
    let site = site().await;
    let mut events: Vec<AuditEvent> = (0..60)
        .map(|i| AuditEvent {
            time: 1_700_000_000 + i,
            event: if i % 2 == 0 { "login_ok" } else { "login_failed" }.into(),
            tenant: Some("default".into()),
            user: Some("id-ops".into()),
            ip: Some(format!("10.0.0.{}", i % 3)),
            forwarded: Some("198.51.100.7".into()),
            remote: Some("127.0.0.1".into()),
            ..Default::default()
        })
        .collect();
    site.s.services.store.append_audit(&mut events).unwrap();
    let a = site.get("/auth/admin/audit?event=login_failed&ip=10.0.0.1").await;
    let rows = a.body.matches("<tr data-seq=").count();
    assert_eq!(rows, 10, "{}", a.body); // odd i with i % 3 == 1
    assert!(!a.body.contains("<code>login_ok</code>"));
    assert!(a.body.contains("<small>id-ops</small>") && a.body.contains("forwarded: 198.51.100.7"), "{}", a.body);
    assert!(a.body.contains("remote: 127.0.0.1") && a.body.contains("2023-11-14"), "{}", a.body);
    // Paging: 50 a page, then the rest.
    let first = site.get("/auth/admin/audit").await.body;
    assert_eq!(first.matches("<tr data-seq=").count(), 50);
    let next = first.split(r#"rel="next""#).next().unwrap().rsplit("href=\"").next().unwrap().replace("&amp;", "&");
    let next = next.trim_end_matches(['"', ' ']).to_string();
    let second = site.get(&next).await.body;
    assert_eq!(second.matches("<tr data-seq=").count(), 10, "{next}");
    assert!(first.contains(r#"href="/auth/admin/api/audit?format=csv""#), "the CSV export");
    // Bad filters: the error next to their field.
    let a = site.get("/auth/admin/audit?ip=10.0.0").await.body;
    assert!(a.contains(r#"aria-invalid="true" aria-describedby="ip-error""#), "{a}");
    let a = site.get("/auth/admin/audit?since=2026-12-05&until=2026-12-04").await.body;
    assert!(a.contains(r#"id="since-error""#), "{a}");

    // A purge asks first, and nothing goes until it is confirmed.
    let ask = site.post("/auth/admin/audit/purge", &[("days", "0")]).await;
    assert!(ask.body.contains("Purge the audit log?") && ask.body.contains(r#"name="confirm" value="yes""#));
    assert_eq!(site.events().len(), 60);
    let bad = site.post("/auth/admin/audit/purge", &[("days", "-1")]).await.body;
    assert!(bad.contains(r#"aria-describedby="days-error""#), "{bad}");
    let done = site.post("/auth/admin/audit/purge", &[("days", "0"), ("confirm", "yes")]).await;
    assert!(done.body.contains("Purged 60 events."), "{}", done.body);
    let left = site.events();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].event, "audit_purged");
    assert_eq!(left[0].detail["admin"], "admin:id-ops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explain_form_answers_with_the_deciding_rule_or_the_wrong_field() {
    let site = site().await;
    let ask = |url: &'static str, user: &'static str, groups: &'static str, ip: &'static str| {
        let site = &site;
        async move {
            site.post(
                "/auth/admin/platform/explain",
                &[("url", url), ("method", "GET"), ("user", user), ("groups", groups), ("ip", ip)],
            )
            .await
            .body
        }
    };
    let a = ask("https://wiki.example.com/public/x", "", "", "").await;
    assert!(a.contains(r#"verdict-allow">allow</strong> (policy bypass) by <code>"#), "{a}");
    assert!(a.contains("10.yaml:3</code>"), "{a}");
    let a = ask("https://wiki.example.com/notes", "ann", "staff", "10.1.2.3").await;
    assert!(a.contains(">allow</strong> (policy one_factor)") && a.contains("10.yaml:4</code>"), "{a}");
    assert!(a.contains("client IP <code>10.1.2.3</code>"), "{a}");
    let a = ask("https://wiki.example.com/notes", "", "", "").await;
    assert!(a.contains(">sign_in</strong>"), "{a}");
    let a = ask("https://other.example.com/", "ann", "", "").await;
    assert!(a.contains(">deny</strong>") && a.contains("default_policy"), "{a}");
    let a = ask("https://wiki.example.com/a%2fb", "", "", "").await;
    assert!(a.contains("bad_path</strong> (400, before any rule)"), "{a}");
    let a = ask("https://wiki.example.com/", "", "", "10.0.0").await;
    assert!(a.contains(r#"aria-invalid="true" aria-describedby="x-ip-error""#), "{a}");
    let a = ask("wiki.example.com/", "", "", "").await;
    assert!(a.contains(r#"id="x-url-error""#), "{a}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_shows_errors_with_file_and_line_and_is_audited() {
    let site = site().await;
    let ok = site.post("/auth/admin/platform/reload", &[]).await.body;
    assert!(ok.contains("Reloaded: the configuration"), "{ok}");
    let path = site.dir.path().join("policies/10.yaml");
    std::fs::write(&path, "default_policy: deny\nrules:\n  - {domain: x, policy: sometimes}\n").unwrap();
    let bad = site.post("/auth/admin/platform/reload", &[]).await.body;
    assert!(bad.contains("The reload was refused") && bad.contains("10.yaml:3</code>"), "{bad}");
    let results: Vec<String> = site
        .events()
        .iter()
        .filter(|e| e.event == "config_reloaded")
        .map(|e| e.detail["result"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(results, ["refused", "ok"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_created_with_the_secret_shown_once_disabled_and_deleted_after_a_confirmation() {
    let site = site().await;
    let bad = site.post("/auth/admin/webhooks", &[("url", "ftp://x"), ("events", "user.created")]).await.body;
    assert!(bad.contains(r#"id="url-error""#), "{bad}");
    let bad = site.post("/auth/admin/webhooks", &[("url", "http://127.0.0.1:9/in"), ("enabled", "on")]).await.body;
    assert!(bad.contains(r#"id="events-error""#), "{bad}");
    let made = site
        .post(
            "/auth/admin/webhooks",
            &[
                ("url", "http://127.0.0.1:9/in"),
                ("events", "user.created"),
                ("events", "user.signed_in"),
                ("enabled", "on"),
            ],
        )
        .await
        .body;
    assert!(made.contains(r#"<code id="secret-once">whsec_"#), "{made}");
    let hooks = site.s.services.store.webhooks("default", None, 20).unwrap();
    assert_eq!(hooks.len(), 1);
    let id = hooks[0].id.clone();
    assert_eq!(hooks[0].events, ["user.created", "user.signed_in"]);
    let list = site.get("/auth/admin/webhooks").await.body;
    assert!(list.contains("http://127.0.0.1:9/in") && !list.contains("whsec_"), "the secret is shown once only");
    let off = site.post(&format!("/auth/admin/webhooks/{id}/disable"), &[]).await;
    assert_eq!((off.status, off.location.as_str()), (StatusCode::SEE_OTHER, "/auth/admin/webhooks"));
    assert!(!site.s.services.store.webhook(&id).unwrap().unwrap().enabled);
    let edit = site.get(&format!("/auth/admin/webhooks/{id}/edit")).await.body;
    assert!(edit.contains(r#"value="user.signed_in" checked"#), "{edit}");
    // Delete: without the confirmation, the question; the webhook stays.
    let ask = site.post(&format!("/auth/admin/webhooks/{id}/delete"), &[]).await.body;
    assert!(ask.contains("Delete this webhook?") && ask.contains("http://127.0.0.1:9/in"), "{ask}");
    assert!(site.s.services.store.webhook(&id).unwrap().is_some());
    let gone = site.post(&format!("/auth/admin/webhooks/{id}/delete"), &[("confirm", "yes")]).await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    assert!(site.s.services.store.webhook(&id).unwrap().is_none());
    let kinds: Vec<String> = site.events().iter().map(|e| e.event.clone()).collect();
    for k in ["webhook_created", "webhook_updated", "webhook_deleted"] {
        let e = audited(&site.s, k).await;
        assert_eq!(e.detail["admin"], "admin:id-ops", "{k} in {kinds:?}");
    }
    let missing = site.get(&format!("/auth/admin/webhooks/{id}/deliveries")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_counts_the_last_hour() {
    let site = site().await;
    let m = crate::metrics::metrics();
    let now = std::time::Instant::now();
    for _ in 0..3 {
        m.recent.decided(crate::metrics::Outcome::Allow, now);
    }
    m.recent.decided(crate::metrics::Outcome::Deny, now);
    let page = site.get("/auth/admin/platform").await.body;
    let total = |id: &str| -> u64 {
        let at = page.find(&format!(r#"<dd id="{id}">"#)).unwrap() + id.len() + 10;
        page[at..].split('<').next().unwrap().parse().unwrap()
    };
    // Other tests of this binary count too: at least ours.
    assert!(total("total-allowed") >= 3 && total("total-denied") >= 1, "{page}");
    assert_eq!(page.matches(r#"<svg class="chart""#).count(), 2);
}
