//! What the Authentication, Webhooks, Audit and Platform tabs add to the console's kit: [`Op`]
//! (the signed-in administrator, [`Console`]), the CSRF field of their forms, the form body,
//! and the page around a body their views built (every value escaped there).

use super::{Chrome, Console, Tab};
use crate::web::escape;
use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Response;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Where the console lives.
pub const BASE: &str = "/auth/admin";

/// The administrator behind a request to one of these tabs.
pub struct Op(pub Console);

impl FromRequestParts<Arc<crate::state::Shared>> for Op {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &Arc<crate::state::Shared>) -> Result<Self, Response> {
        Console::from_request_parts(parts, s).await.map(Op)
    }
}

#[derive(Template)]
#[template(path = "console/ops/page.html")]
struct OpsPage<'a> {
    chrome: Chrome,
    body: &'a str,
}

fn tab_of(tab: &str) -> Tab {
    match tab {
        "webhooks" => Tab::Webhooks,
        "audit" => Tab::Audit,
        "platform" => Tab::Platform,
        _ => Tab::Authentication,
    }
}

impl Op {
    /// The hidden CSRF field every form carries.
    pub fn csrf_field(&self) -> String {
        format!(r#"<input type="hidden" name="csrf" value="{}">"#, escape(&self.0.csrf))
    }

    /// The refusal of a form whose `csrf` field is not this session's token (the console's CSRF layer checked
    /// it already; checked again here, in constant time, so a handler never runs on a form
    /// without it).
    pub fn check_csrf(&self, form: &Form) -> Option<Response> {
        if bool::from(form.get("csrf").as_bytes().ct_eq(self.0.csrf.as_bytes())) {
            return None;
        }
        Some(super::refused_form(
            axum::http::StatusCode::FORBIDDEN,
            "This form expired or did not come from this console: reload the page and try again.",
        ))
    }

    /// Whether the administrator administers the platform (tenant `default`): the providers,
    /// the configuration and the reload act on the whole server.
    pub fn platform(&self) -> bool {
        self.0.user.tenant == crate::api::admin::platform::PLATFORM_TENANT
    }

    /// A page of tab `tab` titled `title` around `body` (HTML its view escaped).
    pub fn page(&self, tab: &str, title: &str, body: &str) -> Response {
        super::page(&OpsPage { chrome: self.0.chrome(tab_of(tab), title), body })
    }
}

/// An `application/x-www-form-urlencoded` body.
pub struct Form(super::Fields);

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        Form(super::Fields::parse(body))
    }

    pub fn get(&self, name: &str) -> &str {
        self.0.get(name)
    }
}

/// `303 See Other` to `to` (after a change: a reload does not post again).
pub fn see_other(to: &str) -> Response {
    super::see_other(to)
}

/// A flow's refusal as a sentence for the page (an internal failure is logged, not shown).
pub fn message(e: &crate::flows::error::FlowError) -> String {
    use crate::flows::error::FlowError;
    e.log_internal();
    match e {
        FlowError::Invalid(m) => m.clone(),
        FlowError::NotFound => "Not found: it may have been deleted meanwhile.".into(),
        other => other.code().message().to_string(),
    }
}
