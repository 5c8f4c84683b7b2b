//! The Audit tab: the tenant's recent security events with filters (event, user, app, IP,
//! time range) and paging through the audit flow the admin API uses, the CSV export (the admin
//! API's, linked), and the purge (older than N days; 0: all, one purge event stays) behind a
//! confirmation.

use super::audit_view::{self as view, AuditForm};
use super::ops_kit::{message, Form, Op, BASE};
use crate::clock::now_secs;
use crate::flows::error::FlowError;
use crate::flows::services::blocking;
use crate::state::Shared;
use crate::web::escape;
use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use std::collections::HashMap;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/auth/admin/audit", get(list)).route("/auth/admin/audit/purge", post(purge))
}

const TAB: &str = "audit";

/// Events per page.
const PAGE: usize = 50;

/// The most days a purge may say (as the admin API).
const MAX_DAYS: u64 = 36_500;

fn action() -> String {
    format!("{BASE}/audit")
}

fn parse_query(raw: Option<&str>) -> AuditForm {
    let mut f = AuditForm::default();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let v = v.into_owned();
        match k.as_ref() {
            "event" => f.event = v,
            "user" => f.user = v,
            "app" => f.app = v,
            "ip" => f.ip = v,
            "since" => f.since = v,
            "until" => f.until = v,
            "before" => f.before = v.parse().ok(),
            _ => {}
        }
    }
    f
}

/// The page: filters, events, paging, purge (`purge`: the purge form's part, `notice` above).
async fn render(op: &Op, f: &AuditForm, notice: &str, purge: Option<String>) -> Response {
    let (store, tenant, filters, before) =
        (op.0.s.services.store.clone(), op.0.user.tenant.clone(), f.filters(), f.before);
    let found = blocking(move || {
        let page = crate::flows::audit::search(&store, &tenant, &filters, before, PAGE)?;
        // The users' names, for the table (one lookup per user shown).
        let mut names = HashMap::new();
        for id in page.events.iter().filter_map(|e| e.user.as_deref()) {
            if !names.contains_key(id) {
                if let Some(u) = store.user(id)?.filter(|u| u.tenant == tenant) {
                    names.insert(id.to_string(), u.display_user());
                }
            }
        }
        Ok((page, names))
    })
    .await;
    let (error, events) = match found {
        Ok((page, names)) => {
            (None, format!("{}{}", view::table(&page.events, &names), view::paging(&action(), f, page.next)))
        }
        Err(FlowError::Invalid(m)) => (Some(m), String::new()),
        Err(e) => (None, format!(r#"<p class="error" role="alert">{}</p>"#, escape(&message(&e)))),
    };
    let field_error = error.as_deref().map(|m| (view::field_of(m).unwrap_or("event"), m));
    let purge = purge.unwrap_or_else(|| view::purge_form(&format!("{}/purge", action()), &op.csrf_field(), "", None));
    let body = format!(
        "{notice}<p>Recent security events of your tenant: sign-ins, refusals, administrators' changes. Compare the effective, forwarded and remote addresses when an app's allow-list refuses calls.</p>{}{events}{purge}",
        view::filter_form(&action(), f, field_error)
    );
    op.page(TAB, "Audit", &body)
}

async fn list(op: Op, RawQuery(raw): RawQuery) -> Response {
    render(&op, &parse_query(raw.as_deref()), "", None).await
}

async fn purge(op: Op, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if let Some(r) = op.check_csrf(&form) {
        return r;
    }
    let at = format!("{}/purge", action());
    let raw = form.get("days").trim().to_string();
    let days = match raw.parse::<u64>() {
        Ok(d) if d <= MAX_DAYS => d,
        _ => {
            let why = format!("Write a number of days, 0 (everything) to {MAX_DAYS}.");
            let purge = view::purge_form(&at, &op.csrf_field(), &raw, Some(&why));
            return render(&op, &AuditForm::default(), "", Some(purge)).await;
        }
    };
    if form.get("confirm") != "yes" {
        let confirm = view::purge_confirm(&at, &op.csrf_field(), days);
        return op.page(TAB, "Purge the audit log", &confirm);
    }
    let (store, actor, tenant) = (op.0.s.services.store.clone(), op.0.actor(), op.0.user.tenant.clone());
    let n = blocking(move || Ok(crate::flows::audit::purge(&store, &actor, Some(&tenant), days * 86_400, now_secs())?))
        .await;
    let notice = match n {
        Ok(n) => format!(
            r#"<p class="notice" role="status" id="purged">Purged {n} event{}.</p>"#,
            if n == 1 { "" } else { "s" }
        ),
        Err(e) => format!(r#"<p class="error" role="alert">{}</p>"#, escape(&message(&e))),
    };
    render(&op, &AuditForm::default(), &notice, None).await
}
