//! The Integration tab, `/auth/admin/integration[?app=ID]`: for a chosen app, the endpoints it
//! calls (docs/http-api.md §5 and §8) as ready-to-copy curl lines with the public URL filled in,
//! and the reverse proxy snippets: the repository's own examples (examples/nginx, caddy,
//! traefik), compiled in, so they cannot drift from what the README describes.

use super::{error_page, page, Chrome, Console, Tab};
use crate::flows::apps;
use crate::state::Shared;
use askama::Template;
use axum::extract::Query;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use std::sync::Arc;

const NGINX: &str = include_str!("../../examples/nginx/gatehouse.conf");
const CADDY: &str = include_str!("../../examples/caddy/Caddyfile");
const TRAEFIK: &str = include_str!("../../examples/traefik/docker-compose.yml");

pub fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/auth/admin/integration", get(index))
}

/// One endpoint an app calls, and the curl line that calls it.
pub struct Endpoint {
    pub id: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    pub what: &'static str,
    pub curl: String,
}

/// The endpoints of an app, against `base` (the public URL, no trailing slash).
pub fn endpoints(base: &str) -> Vec<Endpoint> {
    let key = "-H \"X-Auth-Service-Key: $GATEHOUSE_KEY\"";
    let json = "-H 'Content-Type: application/json'";
    let post = |path: &str, body: &str| format!("curl -sS -X POST {base}{path} \\\n  {key} {json} \\\n  -d '{body}'");
    let e = |id, method, path, what, curl| Endpoint { id, method, path, what, curl };
    vec![
        e("check", "POST", "/auth/users/check", "Whether a user is in the directory and assigned to this application (before onboarding or sign-in).",
          post("/auth/users/check", r#"{"identifier": "alice@example.com"}"#)),
        e("sync", "GET", "/auth/users/sync", "One-way sync of the users assigned to this application: keep next_cursor, update a user when sync_hash changes.",
          format!("curl -sS \"{base}/auth/users/sync?limit=100\" \\\n  {key}")),
        e("otp-request", "POST", "/auth/otp/request", "Send a sign-in code to a user's e-mail address or mobile number.",
          post("/auth/otp/request", r#"{"identifier": "alice@example.com"}"#)),
        e("otp-verify", "POST", "/auth/otp/verify", "Check the code: the access and refresh tokens.",
          post("/auth/otp/verify", r#"{"identifier": "alice@example.com", "otp": "123456"}"#)),
        e("login", "POST", "/auth/login", "Sign in with an identifier and a password: the user, the session and the tokens (or the second-factor step).",
          post("/auth/login", r#"{"identifier": "alice@example.com", "password": "…"}"#)),
        e("session", "GET", "/auth/session", "Check an access token and load the signed-in user.",
          format!("curl -sS {base}/auth/session \\\n  {key} \\\n  -H \"Authorization: Bearer $ACCESS_TOKEN\"")),
        e("refresh", "POST", "/auth/token/refresh", "A new token set for a refresh token (the old one stops working).",
          post("/auth/token/refresh", r#"{"refresh_token": "…"}"#)),
        e("logout", "POST", "/auth/logout", "End the session of a refresh token (or of a bearer token).",
          post("/auth/logout", r#"{"refresh_token": "…"}"#)),
        e("verifications", "POST", "/auth/verifications", "Verify an address with a code Gatehouse sends (then POST /auth/verifications/{id}/check with {\"otp\"}).",
          post("/auth/verifications", r#"{"to": "alice@example.com", "channel": "email"}"#)),
    ]
}

#[derive(Template)]
#[template(path = "console/integration.html")]
struct Index {
    chrome: Chrome,
    base: String,
    apps: Vec<(String, String)>,
    chosen: Option<(String, String)>,
    endpoints: Vec<Endpoint>,
    nginx: &'static str,
    caddy: &'static str,
    traefik: &'static str,
}

#[derive(Deserialize, Default)]
struct AppQuery {
    #[serde(default)]
    app: Option<String>,
}

/// `GET /auth/admin/integration[?app=ID]`.
async fn index(c: Console, q: Result<Query<AppQuery>, axum::extract::rejection::QueryRejection>) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let listed = c.run(|w| apps::list(&w.rt.config, &w.s.services.store, &w.tenant, None, 500)).await;
    let apps: Vec<(String, String)> = match listed {
        Ok((apps, _)) => apps
            .iter()
            .map(|a| {
                (a["id"].as_str().unwrap_or_default().to_string(), a["name"].as_str().unwrap_or_default().to_string())
            })
            .collect(),
        Err(e) => return error_page(e),
    };
    let chosen = q.app.as_deref().and_then(|id| apps.iter().find(|(a, _)| a == id)).or(apps.first()).cloned();
    let base = c.rt.config.server.public_url.as_str().trim_end_matches('/').to_string();
    page(&Index {
        chrome: c.chrome(Tab::Integration, "Integration"),
        endpoints: endpoints(&base),
        base,
        apps,
        chosen,
        nginx: NGINX,
        caddy: CADDY,
        traefik: TRAEFIK,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_is_one_the_api_documents() {
        let doc = include_str!("../../docs/http-api.md");
        for e in endpoints("https://auth.example.com") {
            assert!(
                doc.contains(&format!("`{} {}", e.method, e.path)),
                "{} {} is not in http-api.md",
                e.method,
                e.path
            );
            assert!(e.curl.contains(&format!("https://auth.example.com{}", e.path)), "{}", e.curl);
        }
    }
}
