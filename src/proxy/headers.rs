//! Headers between the client and an app: what Gatehouse removes (client-sent identity and
//! forwarding headers it cannot vouch for, hop-by-hop tricks) and what it adds (identity).

use crate::identity::Identity;
use http::header::{self, HeaderName};
use http::HeaderValue;
use pingora::http::RequestHeader;
use std::net::IpAddr;

/// Identity headers, in the order they are written.
pub const IDENTITY_HEADERS: [&str; 7] =
    ["remote-user", "remote-email", "remote-name", "remote-groups", "remote-scopes", "remote-user-id", "remote-tenant"];

/// A header Gatehouse sets: its `http` name, built at compile time, and how it is written on
/// the wire (as spelt: lowercase, what `insert_header` with the same `&'static str` writes).
type Named = (HeaderName, &'static str);

const fn named(name: &'static str) -> Named {
    (HeaderName::from_static(name), name)
}

/// `X-Forwarded-For`, built at compile time (looking a `&str` name up parses it first).
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// [`IDENTITY_HEADERS`], [`Named`].
const IDENTITY_NAMES: [Named; 7] = [
    named(IDENTITY_HEADERS[0]),
    named(IDENTITY_HEADERS[1]),
    named(IDENTITY_HEADERS[2]),
    named(IDENTITY_HEADERS[3]),
    named(IDENTITY_HEADERS[4]),
    named(IDENTITY_HEADERS[5]),
    named(IDENTITY_HEADERS[6]),
];
const CONNECTION: Named = named("connection");
const AUTHORIZATION: Named = named("authorization");
const SET_X_FORWARDED_FOR: Named = named("x-forwarded-for");
const X_REAL_IP: Named = named("x-real-ip");
const X_FORWARDED_PROTO: Named = named("x-forwarded-proto");
const X_FORWARDED_HOST: Named = named("x-forwarded-host");

/// Sets header `name` to `value`, replacing any other value. Unlike `insert_header`, the name is
/// neither parsed nor copied (a vendored pingora-http patch: vendor/README.md).
fn set(req: &mut RequestHeader, (name, case): Named, value: HeaderValue) -> pingora::Result<()> {
    req.insert_header_parsed(name, case, value)
}

/// How many headers [`prepare_upstream`] adds at most (the identity, `Authorization`, four
/// forwarding headers and `Connection`): the header maps grow once for them.
const ADDED: usize = IDENTITY_HEADERS.len() + 6;

/// The values of [`IDENTITY_HEADERS`] for `id` (all empty when unknown). Cheap: the values
/// were built when the identity was.
pub fn identity_values(id: Option<&Identity>) -> [HeaderValue; 7] {
    match id {
        Some(i) => i.header_values.clone(),
        None => std::array::from_fn(|_| HeaderValue::from_static("")),
    }
}

/// Request headers some app frameworks read as the "real" path or method of a request: never
/// passed on, since Gatehouse judged the request line.
pub const OVERRIDE_HEADERS: [&str; 6] = [
    "x-original-url",
    "x-rewrite-url",
    "x-original-uri",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// `Remote-*` in any case, and the `Remote_*` spelling some servers fold into it.
pub fn is_identity_header(name: &HeaderName) -> bool {
    let n = name.as_str().as_bytes();
    n.len() > 7 && n[..6].eq_ignore_ascii_case(b"remote") && (n[6] == b'-' || n[6] == b'_')
}

/// Removes the credentials an app must not receive, before the identity headers (and a
/// `pass_access_token` token) are added:
/// * every `Authorization` header, unless the request carries exactly one and it is the bearer
///   token Gatehouse verified for this request (`verified_bearer`): a Basic header, an expired or
///   foreign token, or a second header beside the verified one never reaches the app;
/// * Gatehouse's own cookies (`cookie_names`: the session cookie and the portal's CSRF cookie),
///   every occurrence in every `Cookie` header; the app's other cookies stay as sent.
pub fn strip_credentials(req: &mut RequestHeader, verified_bearer: Option<&str>, cookie_names: &[&str]) {
    let keep_authorization = verified_bearer.is_some_and(|t| {
        let mut all = req.headers.get_all(header::AUTHORIZATION).iter();
        match (all.next(), all.next()) {
            (Some(v), None) => crate::identity::is_bearer(v.as_bytes(), t),
            _ => false,
        }
    });
    if !keep_authorization {
        req.remove_header(&header::AUTHORIZATION);
    }

    if !req.headers.get_all(header::COOKIE).iter().any(|v| has_cookie(v.as_bytes(), cookie_names)) {
        return;
    }
    let kept: Vec<HeaderValue> = req
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| {
            let text = std::str::from_utf8(v.as_bytes()).ok()?;
            let rest: Vec<&str> = text
                .split(';')
                .map(str::trim)
                .filter(|pair| !pair.is_empty() && !cookie_names.contains(&cookie_name(pair)))
                .collect();
            HeaderValue::from_str(&rest.join("; ")).ok().filter(|v| !v.is_empty())
        })
        .collect();
    req.remove_header(&header::COOKIE);
    for v in kept {
        // Cannot fail: the name is valid and the value came from a header.
        let _ = req.append_header("cookie", v);
    }
}

/// The name of one `name=value` pair of a `Cookie` header (the whole pair when it has no `=`).
fn cookie_name(pair: &str) -> &str {
    pair.split_once('=').map_or(pair, |(k, _)| k).trim()
}

fn has_cookie(header: &[u8], names: &[&str]) -> bool {
    // Not text: cannot be read, so it cannot be shown to hold none of ours; rebuilt (dropped).
    let Ok(text) = std::str::from_utf8(header) else { return true };
    text.split(';').any(|pair| names.contains(&cookie_name(pair)))
}

/// Whether the request asks for a WebSocket and nothing else: exactly one `Upgrade` header,
/// naming only `websocket`, and `upgrade` among the `Connection` options.
fn websocket_upgrade(h: &http::HeaderMap) -> bool {
    let mut up = h.get_all(header::UPGRADE).iter();
    let only_websocket = match (up.next(), up.next()) {
        (Some(v), None) => v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"websocket"),
        _ => false,
    };
    only_websocket
        && h.get_all(header::CONNECTION)
            .iter()
            .any(|v| v.to_str().is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade"))))
}

/// Hop-by-hop headers an app never receives from the client (`Connection` is re-added for a
/// WebSocket upgrade, `Upgrade` kept for one).
const HOP_BY_HOP: [&str; 5] = ["connection", "keep-alive", "proxy-connection", "proxy-authorization", "http2-settings"];

/// Forwarding headers only a trusted proxy may send (from anyone else they are removed, and
/// `X-Forwarded-Proto`/`-Host` are set by Gatehouse).
const FORWARDING_HEADERS: [&str; 5] =
    ["x-forwarded-proto", "x-forwarded-host", "x-forwarded-port", "x-forwarded-prefix", "forwarded"];

/// Whether a client-sent header is removed before the request goes upstream.
fn is_dropped(name: &HeaderName, upgrade: bool, peer_trusted: bool) -> bool {
    let n = name.as_str();
    HOP_BY_HOP.contains(&n)
        || (n == "upgrade" && !upgrade)
        || OVERRIDE_HEADERS.contains(&n)
        || is_identity_header(name)
        || (!peer_trusted && FORWARDING_HEADERS.contains(&n))
}

/// What the gateway knows about the client when it forwards.
pub struct Forwarding {
    pub client_ip: IpAddr,
    pub peer_trusted: bool,
    pub peer: IpAddr,
}

/// Prepares a request for the upstream: path as judged, identity headers set, spoofable
/// headers replaced, hop-by-hop tricks disarmed.
///
/// `judged_path` is the normalised path when normalisation changed it; `None` when the URI's
/// own path was judged unchanged. Unless the raw target already is exactly that, the target is
/// rebuilt from it and the URI's query, so no other raw target bytes are written upstream; a target that cannot be built
/// is an error (500), never a fallback to the raw one.
pub fn prepare_upstream(
    req: &mut RequestHeader,
    judged_path: Option<&str>,
    identity: Option<&Identity>,
    access_token: Option<&str>,
    fwd: &Forwarding,
) -> pingora::Result<()> {
    // The common case costs nothing: the path was judged unchanged and the bytes Pingora will
    // write are exactly the parsed target. Otherwise the target is rebuilt from what was judged.
    let unchanged =
        judged_path.is_none() && req.uri.path_and_query().is_some_and(|pq| pq.as_str().as_bytes() == req.raw_path());
    if !unchanged {
        let path = judged_path.unwrap_or(req.uri.path());
        let pq = match req.uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        };
        let uri = http::Uri::builder().path_and_query(pq).build().map_err(|e| {
            pingora::Error::because(pingora::ErrorType::HTTPStatus(500), "the judged request target cannot be built", e)
        })?;
        req.set_uri(uri);
    }

    // A client's `Connection: X` must not make anyone drop header X; keep only a WebSocket
    // upgrade. Any other protocol (`h2c` above all) would turn the connection into a tunnel to
    // the app in which every later request reaches it unjudged.
    let upgrade = websocket_upgrade(&req.headers);
    // What is removed, found in one pass over the names the client sent (usually none of them):
    // hop-by-hop headers, path and method overrides, client-sent identity, and forwarding
    // headers from anyone but a trusted proxy.
    let dropped: Vec<HeaderName> =
        req.headers.keys().filter(|n| is_dropped(n, upgrade, fwd.peer_trusted)).cloned().collect();
    for name in &dropped {
        req.remove_header(name);
    }
    req.reserve_headers(ADDED)?;
    if upgrade {
        set(req, CONNECTION, HeaderValue::from_static("upgrade"))?;
    }

    for (name, value) in IDENTITY_NAMES.into_iter().zip(identity_values(identity)) {
        set(req, name, value)?;
    }
    if let Some(token) = access_token {
        set(req, AUTHORIZATION, header_value(format!("Bearer {token}"))?)?;
    }

    // Forwarding headers: extended from a trusted proxy, replaced for anyone else. The peer's
    // address is formatted once (usually it is the client's too).
    let peer = header_value(fwd.peer.to_string())?;
    let prior: Vec<&str> = if fwd.peer_trusted {
        req.headers.get_all(&X_FORWARDED_FOR).iter().filter_map(|v| v.to_str().ok()).collect()
    } else {
        Vec::new()
    };
    let xff =
        if prior.is_empty() { peer.clone() } else { header_value(format!("{}, {}", prior.join(", "), fwd.peer))? };
    let real_ip = if fwd.client_ip == fwd.peer { peer } else { header_value(fwd.client_ip.to_string())? };
    set(req, SET_X_FORWARDED_FOR, xff)?;
    set(req, X_REAL_IP, real_ip)?;
    if !req.headers.contains_key(&X_FORWARDED_PROTO.0) {
        set(req, X_FORWARDED_PROTO, HeaderValue::from_static("http"))?;
    }
    if !req.headers.contains_key(&X_FORWARDED_HOST.0) {
        if let Some(host) = req.headers.get(header::HOST).cloned() {
            set(req, X_FORWARDED_HOST, host)?;
        }
    }
    Ok(())
}

/// A header value from text Gatehouse built (an address, a token already in a header): the
/// error `insert_header` gives for an invalid one.
fn header_value(text: String) -> pingora::Result<HeaderValue> {
    use pingora::OrErr;
    HeaderValue::try_from(text).explain_err(pingora::ErrorType::InvalidHTTPHeader, |_| "invalid value while insert")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/a/../b?x=1", None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    fn fwd(trusted: bool) -> Forwarding {
        Forwarding {
            client_ip: "203.0.113.9".parse().unwrap(),
            peer_trusted: trusted,
            peer: "127.0.0.1".parse().unwrap(),
        }
    }

    #[test]
    fn spoofed_identity_headers_are_removed_in_any_spelling() {
        let mut r = req(&[
            ("Remote-User", "admin"),
            ("REMOTE-GROUPS", "admins"),
            ("remote_user", "admin"),
            ("Remote_Email", "x"),
            ("remotely", "ok"),
        ]);
        prepare_upstream(&mut r, Some("/b"), None, None, &fwd(false)).unwrap();
        assert_eq!(r.headers.get("remote-user").unwrap(), "");
        assert_eq!(r.headers.get("remote-groups").unwrap(), "");
        assert!(r.headers.get("remote_user").is_none());
        assert!(r.headers.get("remote_email").is_none());
        assert_eq!(r.headers.get("remotely").unwrap(), "ok");
        assert_eq!(r.uri.to_string(), "/b?x=1");
    }

    /// Judged as `POST /public/x`, served as `DELETE /admin` by an app that honours these.
    #[test]
    fn path_and_method_overrides_never_reach_the_app() {
        let mut r = req(&[
            ("X-Original-URL", "/admin"),
            ("X-Rewrite-URL", "/admin"),
            ("X-Original-URI", "/admin"),
            ("X-HTTP-Method-Override", "DELETE"),
            ("X-HTTP-Method", "DELETE"),
            ("X-Method-Override", "DELETE"),
        ]);
        prepare_upstream(&mut r, Some("/b"), None, None, &fwd(true)).unwrap();
        for h in OVERRIDE_HEADERS {
            assert!(r.headers.get(h).is_none(), "{h}");
        }
    }

    #[test]
    fn connection_cannot_remove_added_headers() {
        let mut r = req(&[("Connection", "close, Remote-User, X-Forwarded-For")]);
        prepare_upstream(&mut r, None, None, None, &fwd(false)).unwrap();
        assert!(r.headers.get("connection").is_none());
        assert!(r.headers.get("remote-user").is_some());
        assert_eq!(r.headers.get("x-forwarded-for").unwrap(), "127.0.0.1");
    }

    #[test]
    fn forwarding_headers_from_untrusted_peers_are_replaced() {
        let mut r = req(&[
            ("Host", "wiki.test"),
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Forwarded-Host", "evil"),
            ("Forwarded", "for=6.6.6.6"),
        ]);
        prepare_upstream(&mut r, None, None, None, &fwd(false)).unwrap();
        assert_eq!(r.headers.get("x-forwarded-for").unwrap(), "127.0.0.1");
        assert_eq!(r.headers.get("x-forwarded-host").unwrap(), "wiki.test");
        assert!(r.headers.get("forwarded").is_none());
        let mut r = req(&[("X-Forwarded-For", "203.0.113.9")]);
        prepare_upstream(&mut r, None, None, None, &fwd(true)).unwrap();
        assert_eq!(r.headers.get("x-forwarded-for").unwrap(), "203.0.113.9, 127.0.0.1");
        assert_eq!(r.headers.get("x-real-ip").unwrap(), "203.0.113.9");
    }

    /// The one-pass removal takes exactly the listed names: a trusted proxy's forwarding
    /// headers and the client's other headers (even ones whose names start alike) stay.
    #[test]
    fn only_the_listed_headers_are_removed() {
        let sent = [
            ("Host", "wiki.test"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "wiki.example"),
            ("Forwarded", "for=203.0.113.9"),
            ("Upgrade-Insecure-Requests", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Upgrade", "h2c"),
            ("Accept", "text/html"),
        ];
        let mut r = req(&sent);
        prepare_upstream(&mut r, None, None, None, &fwd(true)).unwrap();
        assert_eq!(r.headers.get("x-forwarded-proto").unwrap(), "https");
        assert_eq!(r.headers.get("x-forwarded-host").unwrap(), "wiki.example");
        assert_eq!(r.headers.get("forwarded").unwrap(), "for=203.0.113.9");
        assert_eq!(r.headers.get("upgrade-insecure-requests").unwrap(), "1");
        assert_eq!(r.headers.get("accept").unwrap(), "text/html");
        assert!(r.headers.get("keep-alive").is_none());
        assert!(r.headers.get("upgrade").is_none());
        // The same request from an untrusted peer loses the forwarding headers it sent.
        let mut r = req(&sent);
        prepare_upstream(&mut r, None, None, None, &fwd(false)).unwrap();
        assert_eq!(r.headers.get("x-forwarded-proto").unwrap(), "http");
        assert_eq!(r.headers.get("x-forwarded-host").unwrap(), "wiki.test");
        assert!(r.headers.get("forwarded").is_none());
        assert_eq!(r.headers.get("upgrade-insecure-requests").unwrap(), "1");
    }

    #[test]
    fn the_upstream_target_is_always_rebuilt_from_the_judged_path() {
        // Pingora keeps a non-origin-form target's raw bytes for the wire; they never go out.
        let mut r = RequestHeader::build("GET", b"http://evil.test/x?y=1", None).unwrap();
        prepare_upstream(&mut r, None, None, None, &fwd(false)).unwrap();
        assert_eq!(r.raw_path(), b"/x?y=1");
        let mut r = RequestHeader::build("GET", b"x:/admin", None).unwrap();
        prepare_upstream(&mut r, None, None, None, &fwd(false)).unwrap();
        assert_eq!(r.raw_path(), b"/");
        let mut r = req(&[]);
        prepare_upstream(&mut r, Some("/b"), None, None, &fwd(false)).unwrap();
        assert_eq!(r.raw_path(), b"/b?x=1");
        // An origin-form target judged unchanged goes out as it came (and is not rebuilt).
        let mut r = RequestHeader::build("GET", b"/a%20b/c?d=%2f", None).unwrap();
        prepare_upstream(&mut r, None, None, None, &fwd(false)).unwrap();
        assert_eq!(r.raw_path(), b"/a%20b/c?d=%2f");
        // A judged target that cannot be built is an error, not the raw target.
        let mut r = req(&[]);
        let e = prepare_upstream(&mut r, Some("/a b"), None, None, &fwd(false)).unwrap_err();
        assert_eq!(e.etype(), &pingora::ErrorType::HTTPStatus(500));
    }

    #[test]
    fn only_the_verified_bearer_reaches_the_app() {
        let names = ["gh_session", "gatehouse_csrf"];
        // The verified token, alone: kept.
        let mut r = req(&[("Authorization", "Bearer tok.en.one")]);
        strip_credentials(&mut r, Some("tok.en.one"), &names);
        assert_eq!(r.headers.get("authorization").unwrap(), "Bearer tok.en.one");
        // No verified token (cookie identity, anonymous bypass, expired token): removed.
        for (verified, headers) in [
            (None, vec![("Authorization", "Basic YWxpY2U6cHc=")]),
            (None, vec![("Authorization", "Bearer expired.or.foreign")]),
            (Some("tok.en.one"), vec![("Authorization", "Bearer other.to.ken")]),
            (Some("tok.en.one"), vec![("Authorization", "Bearer tok.en.one"), ("Authorization", "Basic eA==")]),
            (Some("tok.en.one"), vec![("Authorization", "Basic eA=="), ("Authorization", "Bearer tok.en.one")]),
        ] {
            let mut r = req(&headers);
            strip_credentials(&mut r, verified, &names);
            assert!(r.headers.get("authorization").is_none(), "{headers:?}");
        }
    }

    #[test]
    fn gatehouse_cookies_are_removed_and_the_apps_kept() {
        let names = ["gh_session", "gatehouse_csrf"];
        let mut r = req(&[
            ("Cookie", "app=1; gh_session=secret1; theme=dark; gh_session=secret2"),
            ("Cookie", "gatehouse_csrf=tok"),
            ("Cookie", " gh_session = x ;lang=en"),
        ]);
        strip_credentials(&mut r, None, &names);
        let all: Vec<&str> = r.headers.get_all("cookie").iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(all, ["app=1; theme=dark", "lang=en"]);
        // Nothing of ours: the header is left exactly as sent.
        let mut r = req(&[("Cookie", "a=1;b=2;gh_session_x=3")]);
        strip_credentials(&mut r, None, &names);
        assert_eq!(r.headers.get("cookie").unwrap(), "a=1;b=2;gh_session_x=3");
    }

    /// h2c smuggling: an app that accepts `Upgrade: h2c` answers 101 and then reads HTTP/2
    /// requests for any path through the tunnel, none of which Gatehouse judges.
    #[test]
    fn only_a_websocket_upgrade_reaches_the_app() {
        for (connection, upgrade) in [
            ("Upgrade, HTTP2-Settings", "h2c"),
            ("upgrade", "H2C"),
            ("Upgrade", "websocket, h2c"),
            ("Upgrade", "h2c, websocket"),
            ("Upgrade", "TLS/1.2"),
        ] {
            let mut r =
                req(&[("Connection", connection), ("Upgrade", upgrade), ("HTTP2-Settings", "AAMAAABkAAQAAP__")]);
            prepare_upstream(&mut r, None, None, None, &fwd(false)).unwrap();
            assert!(r.headers.get("upgrade").is_none(), "{upgrade}");
            assert!(r.headers.get("connection").is_none(), "{upgrade}");
            assert!(r.headers.get("http2-settings").is_none(), "{upgrade}");
        }
        // Two Upgrade headers, one of them h2c: neither is trusted.
        let mut r = req(&[("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Upgrade", "h2c")]);
        prepare_upstream(&mut r, None, None, None, &fwd(false)).unwrap();
        assert!(r.headers.get("upgrade").is_none());
    }

    /// The headers Gatehouse adds go out exactly as `insert_header` with the same names wrote
    /// them (name case, values, replacing what the client sent), and the map stays consistent.
    #[test]
    fn added_headers_are_written_as_insert_header_writes_them() {
        let id = Identity::new(
            "u-1".into(),
            "ann".into(),
            "ann@example.com".into(),
            "Ann".into(),
            vec!["staff".into(), "ops".into()],
            vec![],
            "default".into(),
            "s-1".into(),
            vec![],
            0,
            None,
        );
        let sent = [("Host", "wiki.test"), ("X-Real-IP", "6.6.6.6"), ("Accept", "*/*")];
        let mut ours = req(&sent);
        prepare_upstream(&mut ours, None, Some(&id), Some("tok.en"), &fwd(false)).unwrap();
        let mut before = req(&sent);
        for (name, value) in IDENTITY_HEADERS.iter().zip(identity_values(Some(&id))) {
            before.insert_header(*name, value).unwrap();
        }
        before.insert_header("authorization", "Bearer tok.en").unwrap();
        before.insert_header("x-forwarded-for", "127.0.0.1").unwrap();
        before.insert_header("x-real-ip", "203.0.113.9").unwrap();
        before.insert_header("x-forwarded-proto", "http").unwrap();
        before.insert_header("x-forwarded-host", "wiki.test").unwrap();
        let wire = |r: &RequestHeader| {
            let mut buf = bytes::BytesMut::new();
            r.header_to_h1_wire(&mut buf);
            buf
        };
        assert_eq!(wire(&ours), wire(&before));
        assert!(std::str::from_utf8(&wire(&ours)).unwrap().contains("\r\nremote-groups: staff,ops\r\n"));
        // A name and a wire case that differ are refused, never written.
        let e =
            ours.insert_header_parsed(HeaderName::from_static("remote-user"), "x-other", HeaderValue::from_static("x"));
        assert!(e.is_err());
        assert_eq!(ours.headers.get("remote-user").unwrap(), "ann");
    }

    #[test]
    fn websocket_upgrade_survives() {
        let mut r = req(&[("Connection", "Upgrade"), ("Upgrade", "websocket")]);
        prepare_upstream(&mut r, None, None, None, &fwd(false)).unwrap();
        assert_eq!(r.headers.get("connection").unwrap(), "upgrade");
        assert_eq!(r.headers.get("upgrade").unwrap(), "websocket");
    }
}
