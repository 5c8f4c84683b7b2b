//! Runs the `/auth` API (an axum `Router`) in-process for a Pingora session: the request body is
//! read with a size limit (413 beyond it) and a deadline (408 past it), the router is called with
//! `oneshot`, the answer is written back with keep-alive.

use super::respond::Reply;
use crate::catalogue::Code;
use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;
use std::net::IpAddr;
use std::time::Duration;
use tokio::time::{timeout_at, Instant};
use tower::ServiceExt;

/// Largest answer the API may produce.
const MAX_RESPONSE: usize = 4 * 1024 * 1024;

/// The whole body must have arrived within this time of the head.
const BODY_DEADLINE: Duration = Duration::from_secs(60);

/// The body limit of a request for `path`: `server.max_body_bytes`, except on the CSV imports
/// (docs/http-api.md §17, and the console's), whose larger limit holds only for a caller whose admin credentials
/// (admin bearer token or admin cookie) resolve, so that anonymous callers cannot make Gatehouse
/// buffer megabytes before any sign-in check.
pub fn body_limit(rt: &crate::runtime::Runtime, path: &str, headers: &http::HeaderMap) -> usize {
    use crate::identity::{bearer, cookie_in, Caller};
    let small = rt.config.server.max_body_bytes;
    // The admin API's CSV upload, and the console's (its Directory tab's import).
    if path != "/auth/admin/api/users/import" && path != "/auth/admin/directory/import" {
        return small;
    }
    let host = headers.get(http::header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(tenant) = crate::net::normalize_host(host).and_then(|h| rt.config.tenant_for_host(&h)) else {
        return small;
    };
    let token = headers.get(http::header::AUTHORIZATION).and_then(|v| bearer(v.as_bytes()));
    let cookie =
        cookie_in(headers.get_all(http::header::COOKIE).iter().map(|v| v.as_bytes()), crate::config::ADMIN_COOKIE);
    if token.is_none() && cookie.is_none() {
        return small;
    }
    match rt.identity.resolve_admin(token, cookie, &tenant.id) {
        Caller::Known(_) => crate::api::admin::users::MAX_IMPORT_BYTES,
        _ => small,
    }
}

/// Answers the `/auth` request of `session` with `router`. Its body may be at most `max_body`
/// bytes; each read of it must make progress within `idle`, and the whole of it arrive within
/// [`BODY_DEADLINE`] (408 `body_timeout` otherwise).
pub async fn serve(
    session: &mut Session,
    router: &axum::Router,
    path: &str,
    peer: IpAddr,
    max_body: usize,
    idle: Duration,
) -> Result<()> {
    let declared = session
        .req_header()
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max_body) {
        session.set_keepalive(None);
        return Reply::error(Code::BodyTooLarge, &format!("The request body is larger than {max_body} bytes."))
            .send(session)
            .await;
    }
    let mut body = BytesMut::new();
    let whole = Instant::now() + BODY_DEADLINE;
    loop {
        let deadline = whole.min(Instant::now() + idle);
        let Ok(read) = timeout_at(deadline, session.read_request_body()).await else {
            session.set_keepalive(None);
            return Reply::error(Code::BodyTimeout, Code::BodyTimeout.message()).send(session).await;
        };
        let Some(chunk) = read? else { break };
        if body.len() + chunk.len() > max_body {
            session.set_keepalive(None);
            return Reply::error(Code::BodyTooLarge, &format!("The request body is larger than {max_body} bytes."))
                .send(session)
                .await;
        }
        body.extend_from_slice(&chunk);
    }

    let req = session.req_header();
    let mut builder = http::Request::builder().method(req.method.clone());
    let pq = match req.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    builder = builder.uri(pq);
    for (k, v) in req.headers.iter() {
        builder = builder.header(k, v);
    }
    let Ok(request) = builder.extension(crate::api::PeerAddr(peer)).body(Body::from(body.freeze())) else {
        return Reply::error(Code::BadRequest, "The request could not be read.").send(session).await;
    };
    let response = match router.clone().oneshot(request).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let (parts, body) = response.into_parts();
    let bytes: Bytes = match http_body_util::Limited::new(body, MAX_RESPONSE).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => return Reply::error(Code::Internal, "The answer could not be produced.").send(session).await,
    };
    let mut h = ResponseHeader::build(parts.status, Some(parts.headers.len() + 2))?;
    for (k, v) in parts.headers.iter() {
        h.append_header(k.clone(), v.clone())?;
    }
    h.insert_header("content-length", bytes.len().to_string())?;
    let head_only = session.req_header().method == http::Method::HEAD;
    if bytes.is_empty() || head_only {
        session.write_response_header(Box::new(h), true).await
    } else {
        session.write_response_header(Box::new(h), false).await?;
        session.write_response_body(Some(bytes), true).await
    }
}
