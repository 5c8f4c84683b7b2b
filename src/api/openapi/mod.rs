//! The OpenAPI 3.1 document of the `/auth` JSON API (issue 12 item 8), derived from the handlers'
//! `#[utoipa::path]` annotations and the request/response types, served at
//! `GET /auth/openapi.json` and rendered into docs/openapi.md and docs/openapi.json.
//!
//! Adding an endpoint: annotate its handler with `#[utoipa::path(...)]` (method, path, body,
//! responses; the error responses are the [`errors`] types, named by status) and add the
//! handler to `paths(...)` below, one line. The tests fail for a route of `routes()` that the
//! document lacks, and for a document that no longer matches docs/openapi.*.

pub mod admin;
pub mod errors;
pub mod render;
pub mod schemas;

use super::Snapshot;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::OnceLock;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;

use super::{account, addresses, app_users, auth, discovery, links, mfa, otp, verify};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse /auth API",
        description = "The JSON API of Gatehouse's `/auth` router (docs/http-api.md). Errors are \
            `{\"error\": \"<code>\", \"message\": \"<what to do>\"}` with the codes of docs/http-api.md §12."
    ),
    paths(
        discovery::jwks,
        discovery::openid_configuration,
        openapi_json,
        auth::login,
        auth::session,
        auth::refresh,
        auth::logout,
        auth::mfa_verify,
        otp::mfa_send,
        otp::request,
        otp::verify,
        otp::register,
        otp::register_confirm,
        links::request_reset,
        links::reset,
        links::request_link,
        links::confirm_link,
        verify::providers,
        app_users::check,
        app_users::sync,
        verify::create,
        verify::status,
        verify::check,
        verify::page,
        verify::page_address,
        verify::page_check,
        verify::verify_js,
        verify::page_js,
        mfa::setup,
        mfa::confirm,
        mfa::remove,
        mfa::regenerate,
        account::overview,
        account::password,
        account::code_factor,
        account::sessions,
        account::end_other_sessions,
        account::end_session,
        account::tokens,
        account::create_token,
        account::revoke_token,
        addresses::change_email,
        addresses::change_mobile,
        addresses::verify_email,
        addresses::confirm_email,
        addresses::verify_mobile,
        addresses::confirm_mobile,
        super::admin::session::login,
        super::admin::session::otp_verify,
        super::admin::session::mfa_verify,
        super::admin::session::session,
        super::admin::session::logout,
        super::admin::platform::test_provider,
        super::admin::platform::config,
        super::admin::platform::reload,
        super::admin::users::list,
        super::admin::users::create,
        super::admin::users::show,
        super::admin::users::update,
        super::admin::users::remove,
        super::admin::users::disable,
        super::admin::users::enable,
        super::admin::users::reset_mfa,
        super::admin::users::sessions,
        super::admin::users::end_sessions,
        super::admin::users::end_session,
        super::admin::users::devices,
        super::admin::users::import,
        super::admin::apps::list,
        super::admin::apps::create,
        super::admin::apps::show,
        super::admin::apps::update,
        super::admin::apps::keys,
        super::admin::apps::key_create,
        super::admin::apps::key_delete,
        super::admin::apps::users,
        super::admin::apps::assign,
        super::admin::apps::unassign,
        super::admin::audit::list,
        super::admin::audit::purge,
        super::admin::webhooks::list,
        super::admin::webhooks::create,
        super::admin::webhooks::show,
        super::admin::webhooks::update,
        super::admin::webhooks::remove,
        super::admin::webhooks::deliveries,
        super::admin::webhooks::redeliver,
    ),
    components(schemas(admin::AuditFormat), responses(
        errors::BadRequest,
        errors::Unauthorized,
        errors::Forbidden,
        errors::NotFound,
        errors::Conflict,
        errors::PayloadTooLarge,
        errors::UnsupportedMediaType,
        errors::Unprocessable,
        errors::TooManyRequests,
        errors::BadGateway,
        errors::Unavailable,
    )),
    modifiers(&Common)
)]
pub struct ApiDoc;

/// What every operation shares, added to each rather than written on each: the security
/// schemes, and the answers of the layers every /auth request passes (`api::serve` and the
/// gateway's bridge): 400 (a malformed body or `X-Forwarded-For`), 403 (a cross-site request
/// with Gatehouse's cookies), 413 (a body over `server.max_body_bytes`), 415 (a body that is
/// not JSON), 429 (`rate_limits.auth` per IP), 503 (the store unavailable); and a JSON 404 on
/// every path with parameters (a parameter with an encoded `/`, `\` or NUL does not reach /auth:
/// the gateway answers it, README "How a request is decided").
struct Common;

impl utoipa::Modify for Common {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some("An access token from a sign-in (docs/http-api.md §11)."))
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        let cookie = ApiKeyValue::with_description("gatehouse_session", "The session cookie (`session.cookie_name`).");
        components.add_security_scheme("session_cookie", SecurityScheme::ApiKey(ApiKey::Cookie(cookie)));
        let admin = ApiKeyValue::with_description(
            "gatehouse_admin",
            "An admin session's cookie (docs/http-api.md §16); unsafe methods also send X-CSRF-Token.",
        );
        components.add_security_scheme("admin_cookie", SecurityScheme::ApiKey(ApiKey::Cookie(admin)));
        let key =
            ApiKeyValue::with_description("X-Auth-Service-Key", "An application's key (`gatehouse app key create`).");
        components.add_security_scheme("app_key", SecurityScheme::ApiKey(ApiKey::Header(key)));
        for (path, item) in doc.paths.paths.iter_mut() {
            let has_params = path.contains('{');
            let ops = [&mut item.get, &mut item.post, &mut item.put, &mut item.delete, &mut item.patch];
            for (unsafe_method, op) in ops.into_iter().enumerate().filter_map(|(i, o)| Some((i > 0, o.as_mut()?))) {
                let mut add = vec![("400", errors::BadRequest::NAME), ("429", errors::TooManyRequests::NAME)];
                add.push(("503", errors::Unavailable::NAME));
                if unsafe_method {
                    add.push(("403", errors::Forbidden::NAME));
                }
                if op.request_body.is_some() {
                    add.push(("413", errors::PayloadTooLarge::NAME));
                    add.push(("415", errors::UnsupportedMediaType::NAME));
                }
                for (status, name) in add {
                    let r = utoipa::openapi::Ref::from_response_name(name);
                    op.responses.responses.entry(status.to_string()).or_insert(r.into());
                }
                if has_params {
                    errors::json_404(&mut op.responses);
                }
            }
        }
    }
}

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(ApiDoc::openapi)
}

/// `GET /auth/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/auth/openapi.json",
    tag = "discovery",
    responses((status = 200, description = "The OpenAPI 3.1 document of the /auth API.", body = Object))
)]
pub async fn openapi_json(Snapshot(_rt): Snapshot) -> Response {
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(document())).into_response()
}

#[cfg(test)]
mod tests;
