//! The Webhooks tab: the tenant's webhooks; create (the secret shown once), edit, enable or
//! disable, delete (after a confirmation naming it), the delivery log and redelivery — every
//! change through the webhook flows the admin API uses, audited with the administrator.

use super::ops_kit::{message, see_other, Form, Op, BASE};
use super::webhooks_view::{self as view, HookForm};
use crate::clock::now_secs;
use crate::flows::error::FlowError;
use crate::flows::services::blocking;
use crate::flows::webhooks::{self as flow, HookError, Spec, MAX_PER_TENANT};
use crate::state::Shared;
use crate::web::escape;
use axum::body::Bytes;
use axum::extract::Path;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/auth/admin/webhooks", get(list).post(create))
        .route("/auth/admin/webhooks/{id}/edit", get(edit_page).post(edit))
        .route("/auth/admin/webhooks/{id}/enable", post(enable))
        .route("/auth/admin/webhooks/{id}/disable", post(disable))
        .route("/auth/admin/webhooks/{id}/delete", get(delete_page).post(delete))
        .route("/auth/admin/webhooks/{id}/deliveries", get(deliveries))
        .route("/auth/admin/webhooks/{id}/deliveries/{delivery}/redeliver", post(redeliver))
}

const TAB: &str = "webhooks";

fn base() -> String {
    format!("{BASE}/webhooks")
}

fn hook_message(e: &HookError) -> String {
    match e {
        HookError::Flow(e) => message(e),
        HookError::TooMany => format!("Your tenant has {MAX_PER_TENANT} webhooks, the most allowed: delete one first."),
        HookError::Pending => "That delivery is still pending: it is queued already, nothing more is sent.".into(),
        HookError::Disabled => "The webhook is disabled: enable it to redeliver.".into(),
    }
}

/// The list and the create form (`form`, `error`: what was submitted and why it was refused;
/// `notice`: what just happened).
async fn render_list(op: &Op, form: &HookForm, error: Option<&str>, notice: &str) -> Response {
    let (store, tenant) = (op.0.s.services.store.clone(), op.0.user.tenant.clone());
    let hooks = blocking(move || Ok(store.webhooks(&tenant, None, MAX_PER_TENANT)?)).await;
    let table = match hooks {
        Ok(h) => view::list(&base(), &h, &op.csrf_field()),
        Err(e) => format!(r#"<p class="error" role="alert">{}</p>"#, escape(&message(&e))),
    };
    let body = format!(
        r#"{notice}<p>Each event of your tenant is POSTed, signed (<code>X-Gatehouse-Signature</code>), to every enabled webhook subscribed to it.</p>{table}{}"#,
        view::form(&base(), &op.csrf_field(), form, false, error)
    );
    op.page(TAB, "Webhooks", &body)
}

async fn list(op: Op) -> Response {
    let blank = HookForm { enabled: true, ..Default::default() };
    render_list(&op, &blank, None, "").await
}

/// The flow's spec of a submitted form (an empty secret: generated on create, kept on edit).
fn spec(f: &HookForm) -> Spec {
    Spec {
        url: Some(f.url.trim().to_string()),
        events: Some(f.events.clone()),
        secret: Some(f.secret.trim().to_string()).filter(|s| !s.is_empty()),
        enabled: Some(f.enabled),
    }
}

async fn create(op: Op, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if let Some(r) = op.check_csrf(&form) {
        return r;
    }
    let f = HookForm::parse(&body);
    let (s, actor, tenant) = (op.0.s.clone(), op.0.actor(), op.0.user.tenant.clone());
    let sp = spec(&f);
    match blocking(move || Ok(flow::create(&s.services, &actor, &tenant, sp, now_secs()))).await {
        Ok(Ok((w, secret))) => op.page(TAB, "Webhook created", &view::created(&base(), &w, &secret)),
        Ok(Err(e)) => render_list(&op, &f, Some(&hook_message(&e)), "").await,
        Err(e) => render_list(&op, &f, Some(&message(&e)), "").await,
    }
}

async fn get_hook(op: &Op, id: String) -> Result<crate::store::Webhook, FlowError> {
    let (s, tenant) = (op.0.s.clone(), op.0.user.tenant.clone());
    blocking(move || flow::get(&s.services, &tenant, &id)).await
}

fn not_found(op: &Op, e: &FlowError) -> Response {
    let mut r = op.page(
        TAB,
        "Webhooks",
        &format!(
            r#"<p class="error" role="alert">{}</p><p><a href="{}">Back to webhooks</a></p>"#,
            escape(&message(e)),
            base()
        ),
    );
    if matches!(e, FlowError::NotFound) {
        *r.status_mut() = axum::http::StatusCode::NOT_FOUND;
    }
    r
}

async fn edit_page(op: Op, Path(id): Path<String>) -> Response {
    match get_hook(&op, id).await {
        Ok(w) => {
            let action = format!("{}/{}/edit", base(), w.id);
            op.page(TAB, "Edit webhook", &view::form(&action, &op.csrf_field(), &HookForm::of(&w), true, None))
        }
        Err(e) => not_found(&op, &e),
    }
}

async fn edit(op: Op, Path(id): Path<String>, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if let Some(r) = op.check_csrf(&form) {
        return r;
    }
    let f = HookForm::parse(&body);
    let (s, actor, tenant, hid) = (op.0.s.clone(), op.0.actor(), op.0.user.tenant.clone(), id.clone());
    let sp = spec(&f);
    match blocking(move || flow::update(&s.services, &actor, &tenant, &hid, sp, now_secs())).await {
        Ok(_) => see_other(&base()),
        Err(FlowError::Invalid(m)) => {
            let action = format!("{}/{}/edit", base(), escape(&id));
            op.page(TAB, "Edit webhook", &view::form(&action, &op.csrf_field(), &f, true, Some(&m)))
        }
        Err(e) => not_found(&op, &e),
    }
}

async fn set_enabled(op: Op, id: String, body: Bytes, enabled: bool) -> Response {
    let form = Form::parse(&body);
    if let Some(r) = op.check_csrf(&form) {
        return r;
    }
    let (s, actor, tenant) = (op.0.s.clone(), op.0.actor(), op.0.user.tenant.clone());
    let sp = Spec { enabled: Some(enabled), ..Default::default() };
    match blocking(move || flow::update(&s.services, &actor, &tenant, &id, sp, now_secs())).await {
        Ok(_) => see_other(&base()),
        Err(e) => not_found(&op, &e),
    }
}

async fn enable(op: Op, Path(id): Path<String>, body: Bytes) -> Response {
    set_enabled(op, id, body, true).await
}

async fn disable(op: Op, Path(id): Path<String>, body: Bytes) -> Response {
    set_enabled(op, id, body, false).await
}

async fn delete_page(op: Op, Path(id): Path<String>) -> Response {
    match get_hook(&op, id).await {
        Ok(w) => op.page(TAB, "Delete webhook", &view::delete_confirm(&base(), &op.csrf_field(), &w)),
        Err(e) => not_found(&op, &e),
    }
}

async fn delete(op: Op, Path(id): Path<String>, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if let Some(r) = op.check_csrf(&form) {
        return r;
    }
    if form.get("confirm") != "yes" {
        // Not confirmed: ask.
        return delete_page(op, Path(id)).await;
    }
    let (s, actor, tenant) = (op.0.s.clone(), op.0.actor(), op.0.user.tenant.clone());
    match blocking(move || flow::delete(&s.services, &actor, &tenant, &id)).await {
        Ok(()) => see_other(&base()),
        Err(e) => not_found(&op, &e),
    }
}

async fn render_deliveries(op: &Op, id: String, notice: &str) -> Response {
    let (s, tenant) = (op.0.s.clone(), op.0.user.tenant.clone());
    let found = blocking(move || {
        let w = flow::get(&s.services, &tenant, &id)?;
        let ds = s.services.store.deliveries(&w.id, None, crate::api::admin::DEFAULT_LIMIT)?;
        Ok((w, ds))
    })
    .await;
    match found {
        Ok((w, ds)) => {
            let body = format!("{notice}{}", view::deliveries(&base(), &op.csrf_field(), &w, &ds));
            op.page(TAB, "Webhook deliveries", &body)
        }
        Err(e) => not_found(op, &e),
    }
}

async fn deliveries(op: Op, Path(id): Path<String>) -> Response {
    render_deliveries(&op, id, "").await
}

async fn redeliver(op: Op, Path((id, delivery)): Path<(String, String)>, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if let Some(r) = op.check_csrf(&form) {
        return r;
    }
    let (s, actor, tenant, hid) = (op.0.s.clone(), op.0.actor(), op.0.user.tenant.clone(), id.clone());
    let out = blocking(move || Ok(flow::redeliver(&s.services, &actor, &tenant, &hid, &delivery, now_secs()))).await;
    let notice = match out {
        Ok(Ok(d)) => format!(r#"<p class="notice" role="status">Delivery {} is queued again.</p>"#, d.id),
        Ok(Err(e)) => format!(r#"<p class="error" role="alert">{}</p>"#, escape(&hook_message(&e))),
        Err(e) => format!(r#"<p class="error" role="alert">{}</p>"#, escape(&message(&e))),
    };
    render_deliveries(&op, id, &notice).await
}
