use super::*;

/// Pingora's own error lines ("Fail to proxy: …") name the request with this summary; its
/// default is the raw target, query and all, where apps carry tokens (`?access_token=…`).
#[test]
fn the_request_summary_in_error_logs_holds_no_query() {
    let mut req = RequestHeader::build("GET", b"/reset?token=SECRET-TOKEN&x=1", None).unwrap();
    req.insert_header("host", "app.test").unwrap();
    let s = summary(&req);
    assert_eq!(s, "GET /reset, Host: app.test");
    let long = format!("/{}", "a".repeat(5000));
    let req = RequestHeader::build("GET", long.as_bytes(), None).unwrap();
    assert!(summary(&req).chars().count() < 600, "{}", summary(&req));
}

#[test]
fn only_origin_form_targets_are_accepted() {
    let form = |t: &[u8]| origin_form(&RequestHeader::build("GET", t, None).unwrap());
    for ok in [&b"/"[..], b"/a/b?c=d", b"//x", b"/a/../b", b"/?q"] {
        assert!(form(ok), "{}", String::from_utf8_lossy(ok));
    }
    for refused in [
        &b"x:/admin"[..],
        b"admin",
        b"foo/bar",
        b"*",
        b"?x=1",
        b"http://app.test/admin",
        b"http://app.test",
        b"//evil.test:80/x\xff",
        b"/caf\xc3",
    ] {
        assert!(!form(refused), "{}", String::from_utf8_lossy(refused));
    }
}
