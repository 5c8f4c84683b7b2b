//! Each tenant's users see their own sign-in page: its product name, logo, colours and support
//! link, and a CSP that allows that logo and nothing more (README's portal section).
use axum::body::Body;
use tower::ServiceExt;

async fn get(s: &std::sync::Arc<crate::state::Shared>, host: &str, path: &str) -> (String, String) {
    let req = axum::http::Request::builder().uri(path).header("host", host).body(Body::empty()).unwrap();
    let resp = super::router(s.clone()).oneshot(req).await.unwrap();
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_string();
    (csp, String::from_utf8_lossy(&axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap()).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branding_shows_for_its_tenant_only() {
    let dir = tempfile::tempdir().unwrap();
    let tenants = "tenants:\n  - {id: acme, hosts: ['acme.test'], branding: {product_name: Acme ID, logo: 'https://cdn.acme.test/logo.svg', primary_color: '#0a7f3f', support_url: 'https://acme.test/help'}}\n  - {id: inline, hosts: ['inline.test'], branding: {logo: 'data:image/png;base64,iVBORw0KGgo='}}\n  - {id: plain, hosts: ['plain.test']}\n";
    let s = crate::api::csrf::tests::shared(dir.path(), tenants);
    let base = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";
    for path in ["/auth/login", "/auth/password/forgot", "/auth/magic-link"] {
        let (csp, acme) = get(&s, "acme.test", path).await;
        assert_eq!(csp, format!("{base}; img-src https://cdn.acme.test"), "{path}");
        assert!(acme.contains("· Acme ID</title>"), "{acme}");
        assert!(acme.contains(r#"<img src="https://cdn.acme.test/logo.svg" alt="Acme ID">"#), "{acme}");
        assert!(acme.contains("button { background: #0a7f3f; }"), "{acme}");
        assert!(acme.contains(r#"<a href="https://acme.test/help">Help and support</a>"#), "{acme}");

        let (csp, plain) = get(&s, "plain.test", path).await;
        assert_eq!(csp, base, "no logo: no image allowed");
        assert!(plain.contains("· Gatehouse</title>") && !plain.contains("<img"), "{plain}");
        assert!(!plain.contains("Acme") && !plain.contains("#0a7f3f") && !plain.contains("acme.test/help"));

        let (csp, inline) = get(&s, "inline.test", path).await;
        assert_eq!(csp, format!("{base}; img-src data:"));
        assert!(inline.contains(r#"<img src="data:image/png;base64,iVBORw0KGgo=""#), "{inline}");
    }
}
