//! The Platform tab: the dashboard (last hour), the public URL, the policy files with the
//! "test a request" form (the `policy explain` engine), the reload (what SIGHUP does, audited),
//! and the effective configuration without secrets. Platform administrators only (tenant
//! `default`), as the admin API's platform endpoints.

use super::ops_kit::{Form, Op, BASE};
use super::platform_view::{self as view, ExplainAnswer, ExplainForm};
use crate::state::Shared;
use crate::web::escape;
use axum::body::Bytes;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/auth/admin/platform", get(show))
        .route("/auth/admin/platform/explain", post(explain))
        .route("/auth/admin/platform/reload", post(reload))
}

const TAB: &str = "platform";

fn not_platform(op: &Op) -> Response {
    op.page(
        TAB,
        "Platform",
        r#"<p class="notice">Only platform administrators (of the <code>default</code> tenant) see the server's configuration and reload it; ask the platform operator.</p>"#,
    )
}

/// Everything but the answers: `explain` (the form, its answer) and `reloaded` go in place.
fn render(op: &Op, form: &ExplainForm, answer: Option<&ExplainAnswer>, reloaded: &str) -> Response {
    let rt = &op.0.rt;
    let h = crate::metrics::metrics().recent.last_hour(std::time::Instant::now());
    let now = crate::clock::now_secs();
    let policies: String = view::policy_files(&rt.config.policies_dir)
        .iter()
        .map(|(name, text)| {
            format!(
                r#"<details><summary><code>{n}</code></summary><pre tabindex="0" aria-label="{n}">{}</pre></details>"#,
                escape(text),
                n = escape(name)
            )
        })
        .collect();
    let error = match answer {
        Some(ExplainAnswer::Invalid { field, message }) => Some((*field, message.as_str())),
        _ => None,
    };
    let body = format!(
        r#"{dashboard}
<section aria-labelledby="url-h"><h2 id="url-h">Public URL</h2><p><a href="{url}" id="public-url">{url}</a></p></section>
<section aria-labelledby="policies-h"><h2 id="policies-h">Policies</h2><p>From <code>{dir}</code>; the first matching rule decides.</p>{policies}
{form}{answer}</section>
<section aria-labelledby="reload-h"><h2 id="reload-h">Reload</h2><p>Reads config.yaml and the policies again, as <code>kill -HUP</code> does; a configuration with errors is refused and the running one stays.</p>
<form method="post" action="{BASE}/platform/reload">{csrf}<button type="submit">Reload configuration</button></form>{reloaded}</section>
<section aria-labelledby="config-h"><h2 id="config-h">Configuration in effect</h2><p>As loaded, defaults filled in, every secret <code>[redacted]</code>.</p>{config}</section>"#,
        dashboard = view::dashboard(&h, now),
        url = escape(rt.config.server.public_url.as_str()),
        dir = escape(&rt.config.policies_dir.display().to_string()),
        form = explain_form(op, form, error),
        answer = answer.map(view::explain_answer).unwrap_or_default(),
        csrf = op.csrf_field(),
        config = view::effective(rt),
    );
    op.page(TAB, "Platform", &body)
}

fn explain_form(op: &Op, f: &ExplainForm, error: Option<(&str, &str)>) -> String {
    let field = |name: &str, label: &str, value: &str, hint: &str, required: bool| {
        let (inv, err) = match error.filter(|(x, _)| *x == name) {
            Some((_, m)) => (
                format!(r#" aria-invalid="true" aria-describedby="x-{name}-error""#),
                format!(r#"<span class="field-error" id="x-{name}-error">{}</span>"#, escape(m)),
            ),
            None => (format!(r#" aria-describedby="x-{name}-hint""#), String::new()),
        };
        let req = if required { " required" } else { "" };
        format!(
            r#"<div class="field"><label for="x-{name}">{label}</label><input id="x-{name}" name="{name}" value="{}"{req}{inv}><span class="hint" id="x-{name}-hint">{hint}</span>{err}</div>"#,
            escape(value)
        )
    };
    let methods: String = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        .iter()
        .map(|m| {
            let sel = if f.method.eq_ignore_ascii_case(m) { " selected" } else { "" };
            format!(r#"<option{sel}>{m}</option>"#)
        })
        .collect();
    let method_err = match error.filter(|(x, _)| *x == "method") {
        Some((_, m)) => format!(r#"<span class="field-error" id="x-method-error">{}</span>"#, escape(m)),
        None => String::new(),
    };
    let two = if f.two_factor.is_some() { " checked" } else { "" };
    format!(
        r#"<form method="post" action="{BASE}/platform/explain" class="explain" aria-labelledby="explain-h"><h3 id="explain-h">Test a request</h3>{csrf}
{url}
<div class="field"><label for="x-method">Method</label><select id="x-method" name="method">{methods}</select>{method_err}</div>
{ip}{user}{groups}
<div class="field"><label class="check"><input type="checkbox" name="two_factor" value="on"{two}> Signed in with a second factor</label></div>
<div class="actions"><button type="submit">Explain</button></div></form>"#,
        csrf = op.csrf_field(),
        url = field("url", "URL", &f.url, "e.g. https://wiki.example.com/admin", true),
        ip = field("ip", "Client IP", &f.ip, "empty: 192.0.2.10 (no private network)", false),
        user = field("user", "User", &f.user, "empty: an anonymous caller", false),
        groups = field("groups", "Groups", &f.groups, "comma-separated, e.g. staff, admins", false),
    )
}

async fn show(op: Op) -> Response {
    if !op.platform() {
        return not_platform(&op);
    }
    render(&op, &ExplainForm { method: "GET".into(), ..Default::default() }, None, "")
}

async fn explain(op: Op, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if let Some(r) = op.check_csrf(&form) {
        return r;
    }
    if !op.platform() {
        return not_platform(&op);
    }
    let f = ExplainForm {
        url: form.get("url").into(),
        method: form.get("method").into(),
        ip: form.get("ip").into(),
        user: form.get("user").into(),
        groups: form.get("groups").into(),
        two_factor: Some(form.get("two_factor").to_string()).filter(|v| !v.is_empty()),
    };
    let answer = view::explain(&op.0.rt, &f);
    render(&op, &f, Some(&answer), "")
}

async fn reload(op: Op, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if let Some(r) = op.check_csrf(&form) {
        return r;
    }
    if !op.platform() {
        return not_platform(&op);
    }
    let (s, actor, tenant) = (op.0.s.clone(), op.0.actor(), op.0.user.tenant.clone());
    let done =
        crate::flows::services::blocking(move || crate::api::admin::platform::reload_as(&s, &actor, &tenant)).await;
    let answer = match done {
        Ok(r) => view::reload_answer(&r),
        Err(e) => {
            format!(r#"<p class="error" role="alert" id="reload-answer">{}</p>"#, escape(&super::ops_kit::message(&e)))
        }
    };
    // The reload may have changed the configuration: the page shows the new one.
    let rt = op.0.s.runtime.load_full();
    let Op(c) = op;
    let op = Op(super::Console { admin: crate::api::admin::Admin { rt, ..c.admin }, csrf: c.csrf });
    render(&op, &ExplainForm { method: "GET".into(), ..Default::default() }, None, &answer)
}
