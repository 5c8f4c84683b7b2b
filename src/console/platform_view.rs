//! What the Platform tab shows, without the request around it: the dashboard (the last hour
//! from the metrics' minute rings), the public URL, the policy files, the "test a request"
//! form answered by the `policy explain` engine, the reload's outcome, and the effective
//! configuration (secrets redacted).

use super::chart::{self, Series};
use super::values;
use crate::cli::policy_probe::{self, Explained, Probe};
use crate::config::ConfigErrors;
use crate::metrics::recent::{LastHour, MINUTES};
use crate::runtime::Runtime;
use crate::web::escape;
use serde::Deserialize;
use std::path::Path;

/// The "test a request" form as submitted.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct ExplainForm {
    pub url: String,
    pub method: String,
    pub ip: String,
    pub user: String,
    /// Comma- or space-separated.
    pub groups: String,
    /// `on` when the caller signed in with a second factor.
    pub two_factor: Option<String>,
}

/// The form's answer: the decision line, or the field that is wrong and why.
#[derive(Debug, PartialEq)]
pub enum ExplainAnswer {
    Decided { verdict: String, level: String, origin: String, host: String, path: String, ip: String },
    BadPath(String),
    Invalid { field: &'static str, message: String },
}

/// Judges the form's request as `gatehouse policy explain` would, against the policy in effect.
pub fn explain(rt: &Runtime, f: &ExplainForm) -> ExplainAnswer {
    let invalid = |field, message: String| ExplainAnswer::Invalid { field, message };
    let url = f.url.trim();
    if let Err(e) = policy_probe::target(url) {
        return invalid("url", e);
    }
    let method = if f.method.trim().is_empty() { "GET" } else { f.method.trim() };
    if http::Method::from_bytes(method.as_bytes()).is_err() {
        return invalid("method", format!("`{method}` is not an HTTP method."));
    }
    let ip = f.ip.trim();
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return invalid("ip", format!("`{ip}` is not an IP address."));
    }
    let user = f.user.trim();
    let probe = Probe {
        url: url.to_string(),
        method: method.to_string(),
        user: (!user.is_empty()).then(|| user.to_string()),
        groups: f.groups.split([',', ' ']).map(str::trim).filter(|g| !g.is_empty()).map(str::to_string).collect(),
        ip: (!ip.is_empty()).then(|| ip.to_string()),
        level: f.two_factor.as_ref().map(|_| "two_factor".to_string()),
        ..Default::default()
    };
    match policy_probe::explain_probe(&rt.policy, &probe, &rt.config.access_groups) {
        Ok(Explained::BadPath(e)) => ExplainAnswer::BadPath(e.to_string()),
        Ok(Explained::Judged(j)) => ExplainAnswer::Decided {
            verdict: j.decision.verdict.as_str().to_string(),
            level: j.decision.level.as_str().to_string(),
            origin: j.origin,
            host: j.host,
            path: j.path,
            ip: j.ip.to_string(),
        },
        Err(e) => invalid("url", e),
    }
}

/// The policy files of `dir` (`*.yaml`, `*.yml`, test files included), by name, with their text.
pub fn policy_files(dir: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return vec![] };
    let mut v: Vec<(String, String)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().into_owned();
            Some((name, std::fs::read_to_string(&p).ok()?))
        })
        .collect();
    v.sort();
    v
}

/// The dashboard: totals of the last hour and two charts, allowed/denied requests and sign-ins.
pub fn dashboard(h: &LastHour, now: u64) -> String {
    let (allowed, denied) = (h.allowed(), h.denied());
    let sum = |a: &[u64; MINUTES]| a.iter().sum::<u64>();
    let requests = chart::bars(
        "chart-requests",
        &format!("Requests per minute, last hour: {} allowed, {} denied", sum(&allowed), sum(&denied)),
        &[
            Series { label: "allowed", fill: "#1b6e3a", counts: allowed },
            Series { label: "denied", fill: "#b3261e", counts: denied },
        ],
        now,
    );
    let sign_ins = chart::bars(
        "chart-sign-ins",
        &format!("Sign-ins per minute, last hour: {}", sum(&h.sign_ins)),
        &[Series { label: "sign-ins", fill: "#1d4ed8", counts: h.sign_ins }],
        now,
    );
    format!(
        r#"<section aria-labelledby="dash-h"><h2 id="dash-h">Last hour</h2>
<dl class="totals"><div><dt>Allowed</dt><dd id="total-allowed">{}</dd></div><div><dt>Denied</dt><dd id="total-denied">{}</dd></div><div><dt>Sign-ins</dt><dd id="total-sign-ins">{}</dd></div></dl>
<figure><figcaption>Requests per minute: <span class="key key-allowed">allowed</span> <span class="key key-denied">denied</span> (refused by policy or network, sent to sign in, rate-limited, malformed)</figcaption>{requests}</figure>
<figure><figcaption>Sign-ins per minute</figcaption>{sign_ins}</figure>
</section>"#,
        sum(&allowed),
        sum(&denied),
        sum(&h.sign_ins)
    )
}

/// The answer of the "test a request" form, for the page.
pub fn explain_answer(a: &ExplainAnswer) -> String {
    match a {
        ExplainAnswer::Decided { verdict, level, origin, host, path, ip } => format!(
            r#"<div class="answer" role="status" id="explain-answer"><p><strong class="verdict verdict-{v}">{v}</strong> (policy {l}) by <code>{o}</code></p><p>host <code>{h}</code>, path <code>{p}</code>, client IP <code>{i}</code></p></div>"#,
            v = escape(verdict),
            l = escape(level),
            o = escape(origin),
            h = escape(host),
            p = escape(path),
            i = escape(ip)
        ),
        ExplainAnswer::BadPath(e) => format!(
            r#"<div class="answer" role="status" id="explain-answer"><p><strong class="verdict verdict-deny">bad_path</strong> (400, before any rule): {}</p></div>"#,
            escape(e)
        ),
        ExplainAnswer::Invalid { .. } => String::new(),
    }
}

/// The reload's outcome, for the page: done, or every error with its file and line.
pub fn reload_answer(r: &Result<(), ConfigErrors>) -> String {
    match r {
        Ok(()) => r#"<p class="notice" role="status" id="reload-answer">Reloaded: the configuration and the policies on disk are in effect.</p>"#.into(),
        Err(e) => {
            let items: String = e
                .0
                .iter()
                .map(|x| {
                    let at = match x.line {
                        Some(l) => format!("{}:{l}", x.file.display()),
                        None => x.file.display().to_string(),
                    };
                    format!("<li><code>{}</code>: {}</li>", escape(&at), escape(&x.message))
                })
                .collect();
            format!(
                r#"<div class="error" role="alert" id="reload-answer"><p>The reload was refused; the running configuration stays. Fix these and reload again:</p><ul>{items}</ul></div>"#
            )
        }
    }
}

/// The effective configuration as YAML, every secret `[redacted]`.
pub fn effective(rt: &Runtime) -> String {
    format!(
        "<pre class=\"config\" tabindex=\"0\" aria-label=\"The configuration in effect\">{}</pre>",
        values::yaml(&rt.config.effective)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dashboard_totals_the_hour() {
        let mut outcomes = vec![[0; MINUTES]; crate::metrics::Outcome::ALL.len()];
        outcomes[crate::metrics::Outcome::Allow as usize][59] = 5;
        outcomes[crate::metrics::Outcome::Deny as usize][10] = 2;
        outcomes[crate::metrics::Outcome::SignIn as usize][11] = 1;
        let mut sign_ins = [0; MINUTES];
        sign_ins[3] = 4;
        let html = dashboard(&LastHour { outcomes, sign_ins }, 7200);
        assert!(html.contains(r#"<dd id="total-allowed">5</dd>"#), "{html}");
        assert!(html.contains(r#"<dd id="total-denied">3</dd>"#), "{html}");
        assert!(html.contains(r#"<dd id="total-sign-ins">4</dd>"#), "{html}");
        assert_eq!(html.matches("<svg").count(), 2);
    }

    #[test]
    fn reload_errors_name_file_and_line() {
        let e = ConfigErrors(vec![crate::config::ConfigError {
            file: "policies/10.yaml".into(),
            line: Some(3),
            message: "unknown <policy>".into(),
        }]);
        let html = reload_answer(&Err(e));
        assert!(html.contains("<code>policies/10.yaml:3</code>: unknown &lt;policy&gt;"), "{html}");
    }
}
