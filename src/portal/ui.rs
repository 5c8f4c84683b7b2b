//! What a portal page is shown in: the visitor's language (from `Accept-Language`) and the
//! tenant's look. Every page takes its texts from the catalogue through a [`Ui`].

use super::messages::{Lang, M};
use crate::config::branding::Branding;
use crate::runtime::Runtime;
use crate::web::{escape, Look};
use axum::http::{header, HeaderMap};
use std::sync::Arc;

/// The language of one request's pages.
#[derive(Clone, Debug)]
pub(crate) struct Ui {
    pub lang: Lang,
    /// Whether the tenant lets visitors create an account (the sign-in page links to it).
    pub registration: bool,
    /// The tenant's look (`tenants[].branding`).
    pub brand: Option<Arc<Branding>>,
}

impl Ui {
    /// The visitor's language for a page of `tenant`.
    pub(crate) fn new(rt: &Runtime, tenant: &str, headers: &HeaderMap) -> Ui {
        let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
        // Only where a code can confirm an address: registration needs a delivery channel.
        let n = &rt.config.notifiers;
        let channel = n.email.is_some() || !n.sms.is_empty() || n.log;
        let t = rt.config.tenant(tenant);
        let registration = channel && t.is_some_and(|t| t.self_registration);
        Ui { lang: Lang::from_accept(accept), registration, brand: t.and_then(|t| t.branding.clone()) }
    }

    /// A page in one language, with the default look (tests).
    #[cfg(test)]
    pub(crate) fn of(lang: Lang) -> Ui {
        Ui { lang, registration: false, brand: None }
    }

    /// A text, as it is (a plain sentence: escape it before it goes into HTML).
    pub(crate) fn t(&self, m: M) -> &'static str {
        m.text(self.lang)
    }

    /// A text, escaped for HTML.
    pub(crate) fn h(&self, m: M) -> String {
        escape(m.text(self.lang))
    }

    /// A text with `{name}` filled in, both escaped; the value wrapped in `<strong>`.
    pub(crate) fn strong(&self, m: M, name: &str, value: &str) -> String {
        let marker = "\u{1}";
        escape(&m.with(self.lang, name, marker)).replace(marker, &format!("<strong>{}</strong>", escape(value)))
    }

    /// The page shell: `<html lang>`, the product's name in the title, the tenant's logo,
    /// colours and support link.
    pub(crate) fn page(&self, title: M, body: &str) -> String {
        let b = self.brand.as_deref();
        let product = b.and_then(|b| b.product_name.as_deref()).unwrap_or(self.t(M::Product));
        let header = match b.and_then(|b| b.logo.as_deref()) {
            Some(logo) => {
                format!("<header class=\"brand\"><img src=\"{}\" alt=\"{}\"></header>\n", escape(logo), escape(product))
            }
            None => String::new(),
        };
        let support = match b.and_then(|b| b.support_url.as_deref()) {
            Some(url) => format!("\n<p class=\"support\"><a href=\"{}\">{}</a></p>", escape(url), self.h(M::Support)),
            None => String::new(),
        };
        let look = Look { lang: self.lang.tag(), product, style: &b.map(style).unwrap_or_default(), header: &header };
        crate::web::page_with(&look, self.t(title), &format!("{body}{support}"))
    }
}

/// The CSS of a tenant's colours (each checked at load as `#rgb`/`#rrggbb`).
fn style(b: &Branding) -> String {
    let mut css =
        String::from("  .brand img { display: block; max-height: 3rem; max-width: 100%; margin: 0 0 1rem; }\n");
    if let Some(c) = &b.primary_color {
        css += &format!(
            "  button {{ background: {c}; }} a {{ color: {c}; }} input:focus, button:focus {{ outline-color: {c}; }}\n"
        );
    }
    if let Some(c) = &b.background_color {
        css += &format!("  body {{ background: {c}; }}\n");
    }
    if let Some(c) = &b.text_color {
        css += &format!("  body, main {{ color: {c}; }}\n");
    }
    css
}
