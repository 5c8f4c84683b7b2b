//! A tenant's `branding`: how its portal pages look (product name, logo, colours, a support
//! link). Checked at load so that nothing in it can break the page or its CSP: colours are
//! `#rgb`/`#rrggbb`, links are `https://` or relative to this host, the logo is such a link or
//! an inline `data:image/…;base64,` picture, every value bounded.

use super::Reporter;
use serde::Deserialize;

/// `tenants[].branding` as written.
#[derive(Debug, Clone, Default, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandingFile {
    #[serde(default)]
    pub product_name: Option<String>,
    #[serde(default)]
    pub logo: Option<String>,
    #[serde(default)]
    pub primary_color: Option<String>,
    #[serde(default)]
    pub background_color: Option<String>,
    #[serde(default)]
    pub text_color: Option<String>,
    #[serde(default)]
    pub support_url: Option<String>,
}

/// A tenant's checked branding.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Branding {
    pub product_name: Option<String>,
    pub logo: Option<String>,
    /// What the portal's CSP must allow for the logo (`img-src`): the logo's `https://` origin,
    /// `'self'` for a relative path, `data:` for an inline picture.
    pub img_src: Option<String>,
    pub primary_color: Option<String>,
    pub background_color: Option<String>,
    pub text_color: Option<String>,
    pub support_url: Option<String>,
}

/// The longest product name, link, and inline logo.
pub const MAX_NAME: usize = 64;
pub const MAX_URL: usize = 2048;
pub const MAX_DATA_LOGO: usize = 64 * 1024;

const PICTURES: [&str; 5] = ["png", "jpeg", "gif", "webp", "svg+xml"];

fn colour(r: &mut Reporter, at: &str, v: &Option<String>) -> Option<String> {
    let v = v.as_ref()?;
    let hex = v.strip_prefix('#').unwrap_or("");
    if (hex.len() == 3 || hex.len() == 6) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(v.to_ascii_lowercase());
    }
    r.error(at, format!("`{v}` is no colour: write #rgb or #rrggbb, e.g. #1d4ed8"));
    None
}

/// A link: `https://…` (returned with its origin) or a path on this host (`/…`, origin `'self'`).
fn link(v: &str) -> Result<(String, String), String> {
    if v.len() > MAX_URL {
        return Err(format!("longer than {MAX_URL} characters"));
    }
    if v.starts_with('/') && !v.starts_with("//") {
        if v.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'<' | b'>' | b'\\')) {
            return Ok((v.to_string(), "'self'".into()));
        }
        return Err("a path may hold no spaces, quotes, `<`, `>` or `\\`".into());
    }
    let u = url::Url::parse(v).map_err(|e| format!("not a URL ({e}): use https://… or a path /…"))?;
    if u.scheme() != "https" || u.host_str().is_none() || !u.username().is_empty() || u.password().is_some() {
        return Err("use an https:// URL (without user or password) or a path /…".into());
    }
    Ok((u.as_str().to_string(), u.origin().ascii_serialization()))
}

/// The logo: a link, or `data:image/<png|jpeg|gif|webp|svg+xml>;base64,…`.
fn logo(v: &str) -> Result<(String, String), String> {
    let Some(rest) = v.strip_prefix("data:") else { return link(v) };
    if v.len() > MAX_DATA_LOGO {
        return Err(format!("an inline logo is at most {MAX_DATA_LOGO} bytes"));
    }
    let kind = rest.strip_prefix("image/").and_then(|r| r.split_once(";base64,"));
    match kind {
        Some((kind, data))
            if PICTURES.contains(&kind)
                && !data.is_empty()
                && data.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')) =>
        {
            Ok((v.to_string(), "data:".into()))
        }
        _ => Err("an inline logo is data:image/<png|jpeg|gif|webp|svg+xml>;base64,<base64>".into()),
    }
}

/// Checks `branding` (`at` is its key path); problems go to `r`.
pub fn validate(r: &mut Reporter, at: &str, b: &BrandingFile) -> Branding {
    let mut out = Branding::default();
    if let Some(n) = &b.product_name {
        if n.trim().is_empty() || n.chars().count() > MAX_NAME || n.chars().any(char::is_control) {
            r.error(&format!("{at}.product_name"), format!("1 to {MAX_NAME} characters, no control characters"));
        } else {
            out.product_name = Some(n.trim().to_string());
        }
    }
    if let Some(l) = &b.logo {
        match logo(l) {
            Ok((src, origin)) => (out.logo, out.img_src) = (Some(src), Some(origin)),
            Err(e) => r.error(&format!("{at}.logo"), e),
        }
    }
    if let Some(l) = &b.support_url {
        match link(l) {
            Ok((url, _)) => out.support_url = Some(url),
            Err(e) => r.error(&format!("{at}.support_url"), e),
        }
    }
    out.primary_color = colour(r, &format!("{at}.primary_color"), &b.primary_color);
    out.background_color = colour(r, &format!("{at}.background_color"), &b.background_color);
    out.text_color = colour(r, &format!("{at}.text_color"), &b.text_color);
    out
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    fn load(branding: &str) -> Result<Config, String> {
        let text = format!("tenants:\n  - {{id: acme, hosts: ['*'], branding: {branding}}}\n");
        Config::from_str(Path::new("test.yaml"), &text).map_err(|e| e.to_string())
    }

    /// Good values load, with the CSP source each logo needs.
    #[test]
    fn branding_loads_with_the_logos_csp_source() {
        let c = load("{product_name: ' Acme ID ', logo: 'https://cdn.acme.test:8443/l.svg', primary_color: '#0A7', background_color: '#ffffff', text_color: '#123456', support_url: 'https://acme.test/help'}").unwrap();
        let b = c.tenants[0].branding.as_deref().unwrap();
        assert_eq!(b.product_name.as_deref(), Some("Acme ID"));
        assert_eq!(b.img_src.as_deref(), Some("https://cdn.acme.test:8443"));
        assert_eq!(b.primary_color.as_deref(), Some("#0a7"));
        let c = load("{logo: '/static/logo.png', support_url: '/help'}").unwrap();
        assert_eq!(c.tenants[0].branding.as_deref().unwrap().img_src.as_deref(), Some("'self'"));
        let c = load("{logo: 'data:image/png;base64,iVBORw0KGgo='}").unwrap();
        assert_eq!(c.tenants[0].branding.as_deref().unwrap().img_src.as_deref(), Some("data:"));
        assert!(load("{}").unwrap().tenants[0].branding.as_deref().unwrap().img_src.is_none());
    }

    /// What could break the page or its CSP is refused at load, saying what to write instead.
    #[test]
    fn branding_refuses_what_could_break_the_page() {
        let long_name = "x".repeat(super::MAX_NAME + 1);
        let long_url = format!("https://acme.test/{}", "a".repeat(super::MAX_URL));
        let big_logo = format!("data:image/png;base64,{}", "A".repeat(super::MAX_DATA_LOGO));
        for (branding, key, says) in [
            ("{primary_color: red}", "primary_color", "no colour"),
            ("{background_color: '#12345'}", "background_color", "no colour"),
            ("{text_color: '#ggg'}", "text_color", "no colour"),
            ("{primary_color: '#fff;}body{x:y'}", "primary_color", "no colour"),
            ("{logo: 'http://cdn.acme.test/l.png'}", "logo", "https://"),
            ("{logo: 'javascript:alert(1)'}", "logo", "https://"),
            ("{logo: '//evil.test/l.png'}", "logo", "URL"),
            ("{logo: '/a\"b'}", "logo", "quotes"),
            ("{logo: 'data:text/html;base64,PGI+'}", "logo", "data:image/"),
            ("{logo: 'data:image/png;base64,<b>'}", "logo", "data:image/"),
            (&format!("{{logo: '{big_logo}'}}"), "logo", "at most"),
            ("{support_url: 'https://u:p@acme.test/'}", "support_url", "without user"),
            (&format!("{{support_url: '{long_url}'}}"), "support_url", "longer than"),
            (&format!("{{product_name: '{long_name}'}}"), "product_name", "characters"),
            ("{product_name: ''}", "product_name", "characters"),
            ("{colour: '#fff'}", "", "unknown field"),
        ] {
            let e = load(branding).expect_err(branding);
            assert!(e.contains(says), "{branding} ({key}): {e}");
        }
    }
}
