//! A typed client for a running Gatehouse: `gh.get("/page").host("app.test").bearer(&t).send()`
//! answers a [`Resp`] with `status()`, `header()`, `json()` and `text()`, read once, so a test
//! can look at a response as often as it likes.

use super::Gatehouse;
use reqwest::blocking::RequestBuilder;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::Value;

/// A request on its way to Gatehouse's gateway listener.
pub struct Req(RequestBuilder);

/// A whole response.
#[derive(Debug)]
pub struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Gatehouse {
    pub fn get(&self, path: &str) -> Req {
        Req(super::client().get(self.url(path)))
    }

    pub fn post(&self, path: &str) -> Req {
        Req(super::client().post(self.url(path)))
    }

    /// A request with any method (`"PUT"`, `"DELETE"`, …).
    pub fn request(&self, method: &str, path: &str) -> Req {
        let method = method.parse().unwrap_or_else(|_| panic!("`{method}` is not an HTTP method"));
        Req(super::client().request(method, self.url(path)))
    }

    /// A forward-auth request, as a proxy sends it, for `GET http://{host}{uri}`.
    pub fn forward_auth(&self, host: &str, uri: &str) -> Req {
        self.get("/auth/authz/forward-auth")
            .header("X-Forwarded-Method", "GET")
            .header("X-Forwarded-Host", host)
            .header("X-Forwarded-Uri", uri)
    }

    /// A POST of `body` as JSON.
    pub fn post_json(&self, path: &str, body: Value) -> Req {
        self.post(path).json(&body)
    }
}

impl Req {
    /// A request built elsewhere (to a peer in front of Gatehouse, such as nginx).
    pub fn to(builder: RequestBuilder) -> Req {
        Req(builder)
    }

    /// The `Host` header (which app or portal the request is for).
    pub fn host(self, host: &str) -> Req {
        self.header("Host", host)
    }

    pub fn header(self, name: &str, value: impl AsRef<str>) -> Req {
        Req(self.0.header(name, value.as_ref()))
    }

    pub fn bearer(self, token: impl std::fmt::Display) -> Req {
        Req(self.0.bearer_auth(token))
    }

    pub fn json(self, body: &Value) -> Req {
        Req(self.0.json(body))
    }

    pub fn body(self, body: impl Into<reqwest::blocking::Body>) -> Req {
        Req(self.0.body(body))
    }

    /// Sends, and reads the whole answer (a transport error fails the test).
    pub fn send(self) -> Resp {
        let r = self.0.send().unwrap_or_else(|e| panic!("request failed: {e}"));
        let (status, headers) = (r.status(), r.headers().clone());
        let body = r.bytes().unwrap_or_else(|e| panic!("reading the answer failed: {e}")).to_vec();
        Resp { status, headers, body }
    }
}

impl Resp {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The header's value (None when absent or not text).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; fails the test, showing status and body, when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("status {}, not JSON: {}", self.status, self.text()))
    }
}

/// What [`super::json`] reads: a typed [`Resp`] or a raw reqwest response.
pub trait IntoJson {
    fn into_json(self) -> Value;
}

impl IntoJson for Resp {
    fn into_json(self) -> Value {
        self.json()
    }
}

impl IntoJson for &Resp {
    fn into_json(self) -> Value {
        self.json()
    }
}

impl IntoJson for reqwest::blocking::Response {
    fn into_json(self) -> Value {
        let status = self.status();
        let text = self.text().unwrap();
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("status {status}, not JSON: {text}"))
    }
}

/// The CSRF token the portal page at `path` sets in its `gatehouse_csrf` cookie (the page must
/// answer 200).
pub fn portal_csrf(gh: &Gatehouse, path: &str) -> String {
    let r = gh.get(path).host("app.test").send();
    assert_eq!(r.status(), 200, "{path}: {}", r.text());
    let cookie = r.header("set-cookie").expect("a CSRF cookie").to_string();
    cookie.split(';').next().unwrap().trim_start_matches("gatehouse_csrf=").to_string()
}

/// A portal form posted as a browser would: `csrf` in the body and in its cookie, `fields`
/// URL-encoded; `extend` adds headers (e.g. `Accept-Language`).
pub fn portal_form_with(
    gh: &Gatehouse,
    path: &str,
    csrf: &str,
    fields: &[(&str, &str)],
    extend: impl FnOnce(Req) -> Req,
) -> Resp {
    let mut body = format!("csrf={csrf}");
    for (k, v) in fields {
        body.push_str(&format!("&{k}="));
        body.extend(url::form_urlencoded::byte_serialize(v.as_bytes()));
    }
    let req = gh
        .post(path)
        .host("app.test")
        .header("Cookie", format!("gatehouse_csrf={csrf}"))
        .header("Content-Type", "application/x-www-form-urlencoded");
    extend(req).body(body).send()
}

/// [`portal_form_with`] with no further headers.
pub fn portal_form(gh: &Gatehouse, path: &str, csrf: &str, fields: &[(&str, &str)]) -> Resp {
    portal_form_with(gh, path, csrf, fields, |r| r)
}
