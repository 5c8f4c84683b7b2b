//! Answers Gatehouse writes itself. Header and body are written separately (not
//! `respond_error_with_body`, which closes the connection) so keep-alive survives.

use crate::catalogue::Code;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::Result;

/// An answer: status, extra headers, body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, http::HeaderValue)>,
    pub content_type: &'static str,
    pub body: Bytes,
}

impl Reply {
    pub fn new(status: u16) -> Reply {
        Reply { status, headers: vec![], content_type: "", body: Bytes::new() }
    }

    /// `{"error": code, "message": message}`, the error shape of docs/http-api.md §1, with the
    /// catalogue's status for `code`.
    pub fn error(code: Code, message: &str) -> Reply {
        Reply::json(code.status().as_u16(), &code.body(message))
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply { status, headers: vec![], content_type: "application/json", body: Bytes::from(value.to_string()) }
    }

    /// Adds a header; a value that is not a valid header value is dropped.
    pub fn header(mut self, name: &'static str, value: impl TryInto<http::HeaderValue>) -> Reply {
        if let Ok(v) = value.try_into() {
            self.headers.push((name, v));
        }
        self
    }

    pub async fn send(self, session: &mut Session) -> Result<()> {
        self.write(session, Some(60)).await
    }

    /// Sends the answer and closes the connection after it (`Connection: close`): for requests
    /// whose framing cannot be trusted, so nothing after them is read as another request.
    pub async fn send_and_close(self, session: &mut Session) -> Result<()> {
        self.write(session, None).await
    }

    /// The response head: built as `http` parts with names known in advance, so no name is
    /// parsed or copied per answer (Pingora's `insert_header` parses each one), then handed to
    /// Pingora as a head without header case, the same as `build_no_case`.
    fn head(&self) -> Result<ResponseHeader> {
        let status = http::StatusCode::from_u16(self.status)
            .map_err(|e| pingora::Error::because(pingora::ErrorType::InternalError, "invalid status", e))?;
        let mut headers = http::HeaderMap::with_capacity(3 + self.headers.len());
        if !self.content_type.is_empty() {
            headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(self.content_type));
        }
        headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(self.body.len()));
        headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
        for (k, v) in &self.headers {
            headers.append(header_name(k)?, v.clone());
        }
        let (mut parts, ()) = http::Response::new(()).into_parts();
        parts.status = status;
        parts.headers = headers;
        Ok(ResponseHeader::from(parts))
    }

    async fn write(self, session: &mut Session, keepalive: Option<u64>) -> Result<()> {
        let h = self.head()?;
        let head_only = session.req_header().method == http::Method::HEAD;
        session.set_keepalive(keepalive);
        if self.body.is_empty() || head_only {
            session.write_response_header(Box::new(h), true).await
        } else {
            session.write_response_header(Box::new(h), false).await?;
            session.write_response_body(Some(self.body), true).await
        }
    }
}

/// A header name written in the code: lower case names (all of Gatehouse's) cost nothing,
/// anything else is parsed.
fn header_name(name: &'static str) -> Result<http::HeaderName> {
    if name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') && !name.is_empty() {
        return Ok(http::HeaderName::from_static(name));
    }
    http::HeaderName::from_bytes(name.as_bytes())
        .map_err(|e| pingora::Error::because(pingora::ErrorType::InternalError, "invalid header name", e))
}

/// The code of an error answered when a request could not be proxied with status `status`.
pub fn fail_to_proxy_code(status: u16) -> Code {
    match status {
        502 => Code::BadGateway,
        504 => Code::GatewayTimeout,
        c if c >= 500 => Code::Internal,
        _ => Code::BadRequest,
    }
}

/// The body of an error answered when a request could not be proxied.
pub fn fail_to_proxy_body(status: u16) -> Bytes {
    let code = fail_to_proxy_code(status);
    let message = match code {
        Code::Internal => "The request could not be forwarded to the application: retry shortly.",
        Code::BadRequest if status != 400 => "The request could not be served.",
        c => c.message(),
    };
    Bytes::from(code.body(message).to_string())
}

/// Writes [`fail_to_proxy_body`] with `code` (nothing when an answer was already started) and
/// closes the connection after it.
pub async fn fail_to_proxy_answer(session: &mut Session, code: u16) -> Result<()> {
    let body = fail_to_proxy_body(code);
    let mut h = ResponseHeader::build(code, Some(4))?;
    h.insert_header("content-type", "application/json")?;
    h.insert_header("content-length", body.len())?;
    h.insert_header("cache-control", "no-store")?;
    session.as_downstream_mut().write_error_response(h, body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head is what `build_no_case` and `insert_header` made: same status, headers and
    /// order on the wire.
    #[test]
    fn the_head_is_written_as_before() {
        let r = Reply::error(Code::RateLimited, "Too many requests: retry later.")
            .header("retry-after", "3")
            .header("www-authenticate", "Bearer")
            .header("X-Mixed-Case", "1");
        let mut wire = bytes::BytesMut::new();
        let h = r.head().unwrap();
        assert_eq!(h.status, 429);
        h.header_to_h1_wire(&mut wire);
        let mut old = ResponseHeader::build_no_case(429, None).unwrap();
        old.insert_header("content-type", "application/json").unwrap();
        old.insert_header("content-length", r.body.len()).unwrap();
        old.insert_header("cache-control", "no-store").unwrap();
        for (k, v) in &r.headers {
            old.append_header(*k, v.clone()).unwrap();
        }
        let mut want = bytes::BytesMut::new();
        old.header_to_h1_wire(&mut want);
        assert_eq!(String::from_utf8_lossy(&wire), String::from_utf8_lossy(&want));
        assert!(String::from_utf8_lossy(&wire).contains("x-mixed-case: 1\r\n"));
    }

    #[test]
    fn failures_to_proxy_use_the_error_shape() {
        for code in [400, 500, 502, 504, 503] {
            let v: serde_json::Value = serde_json::from_slice(&fail_to_proxy_body(code)).unwrap();
            assert!(v["error"].is_string() && v["message"].is_string(), "{code}: {v}");
        }
    }
}
