//! The Authentication tab: the delivery providers in effect (secrets redacted), a test message
//! through each (the platform flow the admin API's `providers/{name}/test` runs, audited
//! `provider_tested`), and the sign-in settings in effect. The providers and their tests are
//! the platform's (tenant `default`), as in the admin API.

use super::authentication_view::{self as view, TestAnswer};
use super::ops_kit::{message, Form, Op, BASE};
use crate::clock::now_secs;
use crate::flows::platform::{self, Tested};
use crate::flows::services::blocking;
use crate::state::Shared;
use axum::body::Bytes;
use axum::extract::Path;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/auth/admin/authentication", get(show))
        .route("/auth/admin/authentication/providers/{name}/test", post(test))
}

const TAB: &str = "authentication";

fn render(op: &Op, tested: Option<(&str, &TestAnswer)>, general: &str) -> Response {
    let cfg = &op.0.rt.config;
    let base = format!("{BASE}/authentication");
    let providers = if op.platform() {
        view::providers(&base, &op.csrf_field(), &platform::providers(cfg), tested)
    } else {
        r#"<p class="notice">The delivery providers are the platform's: and so are the sign-in settings: only platform administrators (of the <code>default</code> tenant) see them and test the providers.</p>"#.into()
    };
    // The sign-in settings are the platform's too (failure limits included): platform
    // administrators only, as `GET /auth/admin/api/config` is.
    let settings = if op.platform() { view::settings(&platform::sign_in_settings(cfg)) } else { String::new() };
    let body = format!("{general}{providers}{settings}");
    op.page(TAB, "Authentication", &body)
}

async fn show(op: Op) -> Response {
    render(&op, None, "")
}

async fn test(op: Op, Path(name): Path<String>, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if let Some(r) = op.check_csrf(&form) {
        return r;
    }
    if !op.platform() {
        return render(&op, None, "");
    }
    let raw_to = form.get("to").to_string();
    let to = match platform::test_address(&raw_to) {
        Ok(to) => to,
        Err(e) => return render(&op, Some((&name, &TestAnswer::Invalid { to: raw_to, message: message(&e) })), ""),
    };
    if crate::notify::provider(&op.0.rt.config, &name).is_none() {
        let known = crate::notify::channel_names(&op.0.rt.config).join(", ");
        let message = format!("There is no provider `{name}` (configured: {known}).");
        let general = format!(r#"<p class="error" role="alert">{}</p>"#, crate::web::escape(&message));
        return render(&op, None, &general);
    }
    let (rt, svc, actor, tenant) = (op.0.rt.clone(), op.0.s.services.clone(), op.0.actor(), op.0.user.tenant.clone());
    let (n, t) = (name.clone(), to.clone());
    let out = blocking(move || platform::test_provider(&rt, &svc, &actor, &tenant, &n, &t, now_secs())).await;
    let answer = match out {
        Ok(Tested::Delivered) => TestAnswer::Delivered { to },
        Ok(Tested::Failed(e)) => {
            TestAnswer::Failed { to, message: format!("The provider did not take the message: {e}") }
        }
        Err(e) => TestAnswer::Failed { to, message: message(&e) },
    };
    render(&op, Some((&name, &answer)), "")
}
