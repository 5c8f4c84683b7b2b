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

    async fn write(self, session: &mut Session, keepalive: Option<u64>) -> Result<()> {
        let mut h = ResponseHeader::build_no_case(self.status, Some(4 + self.headers.len()))?;
        if !self.content_type.is_empty() {
            h.insert_header("content-type", self.content_type)?;
        }
        h.insert_header("content-length", self.body.len())?;
        h.insert_header("cache-control", "no-store")?;
        for (k, v) in self.headers {
            h.append_header(k, v)?;
        }
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

    #[test]
    fn failures_to_proxy_use_the_error_shape() {
        for code in [400, 500, 502, 504, 503] {
            let v: serde_json::Value = serde_json::from_slice(&fail_to_proxy_body(code)).unwrap();
            assert!(v["error"].is_string() && v["message"].is_string(), "{code}: {v}");
        }
    }
}
