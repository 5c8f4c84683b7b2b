//! What a portal page is shown in: the visitor's language (from `Accept-Language`) and the
//! tenant's look. Every page takes its texts from the catalogue through a [`Ui`].

use super::messages::{Lang, M};
use crate::runtime::Runtime;
use crate::web::{escape, Look};
use axum::http::{header, HeaderMap};

/// The language of one request's pages.
#[derive(Clone, Debug)]
pub(crate) struct Ui {
    pub lang: Lang,
    /// Whether the tenant lets visitors create an account (the sign-in page links to it).
    pub registration: bool,
}

impl Ui {
    /// The visitor's language for a page of `tenant`.
    pub(crate) fn new(rt: &Runtime, tenant: &str, headers: &HeaderMap) -> Ui {
        let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
        // Only where a code can confirm an address: registration needs a delivery channel.
        let n = &rt.config.notifiers;
        let channel = n.email.is_some() || !n.sms.is_empty() || n.log;
        let registration = channel && rt.config.tenant(tenant).is_some_and(|t| t.self_registration);
        Ui { lang: Lang::from_accept(accept), registration }
    }

    /// A page in one language, with the default look (tests).
    #[cfg(test)]
    pub(crate) fn of(lang: Lang) -> Ui {
        Ui { lang, registration: false }
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

    /// The page shell: `<html lang>`, the product's name in the title.
    pub(crate) fn page(&self, title: M, body: &str) -> String {
        let look = Look { lang: self.lang.tag(), product: self.t(M::Product), style: "", header: "" };
        crate::web::page_with(&look, self.t(title), body)
    }
}
