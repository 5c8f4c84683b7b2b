//! What the Audit tab shows, without the request around it: the filter form, the events
//! (event, user, app, IP as effective / forwarded / remote, date, time), paging, the CSV
//! export link (the admin API's export) and the purge form with its confirmation.

use super::values;
use crate::domain::EventKind;
use crate::flows::audit::Filters;
use crate::store::AuditEvent;
use crate::web::escape;
use serde::Deserialize;
use std::collections::HashMap;

/// The filters of the page's query string, and where the page starts.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct AuditForm {
    pub event: String,
    pub user: String,
    pub app: String,
    pub ip: String,
    pub since: String,
    pub until: String,
    /// The sequence number the page stays below (the previous page's next).
    pub before: Option<u64>,
}

/// The fields of the filter form, in order, with their labels and hints.
const FIELDS: [(&str, &str, &str); 5] = [
    ("user", "User", "an e-mail, mobile, username or user id"),
    ("app", "App", "an app id"),
    ("ip", "IP address", "effective client IP"),
    ("since", "From", "2026-12-04 or 2026-12-04T10:20:30Z (UTC)"),
    ("until", "Until", "2026-12-04 or 2026-12-04T10:20:30Z (UTC)"),
];

impl AuditForm {
    fn get(&self, field: &str) -> &str {
        match field {
            "event" => &self.event,
            "user" => &self.user,
            "app" => &self.app,
            "ip" => &self.ip,
            "since" => &self.since,
            "until" => &self.until,
            _ => "",
        }
    }

    /// The flow's filters (empty fields are no filter).
    pub fn filters(&self) -> Filters {
        let f = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        Filters {
            event: f(&self.event),
            user: f(&self.user),
            app: f(&self.app),
            ip: f(&self.ip),
            since: f(&self.since),
            until: f(&self.until),
        }
    }

    /// The filters as a query string (the next page's link, the CSV export's).
    pub fn query(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for k in ["event", "user", "app", "ip", "since", "until"] {
            let v = self.get(k).trim();
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }
}

/// The field of this form a flow's message names, if any.
pub fn field_of(message: &str) -> Option<&'static str> {
    values::field_in(message, &["event", "user", "app", "ip", "since", "until"])
}

fn input(field: &str, label: &str, hint: &str, value: &str, error: Option<&str>) -> String {
    let (invalid, err) = match error {
        Some(e) => (
            format!(r#" aria-invalid="true" aria-describedby="{field}-error""#),
            format!(r#"<span class="field-error" id="{field}-error">{}</span>"#, escape(e)),
        ),
        None => (format!(r#" aria-describedby="{field}-hint""#), String::new()),
    };
    format!(
        r#"<div class="field"><label for="f-{field}">{label}</label><input id="f-{field}" name="{field}" value="{}"{invalid}><span class="hint" id="{field}-hint">{hint}</span>{err}</div>"#,
        escape(value)
    )
}

/// The filter form (GET), with `error` (field, message) next to its field.
pub fn filter_form(action: &str, f: &AuditForm, error: Option<(&str, &str)>) -> String {
    let err = |field: &str| error.filter(|(x, _)| *x == field).map(|(_, m)| m);
    let options: String = EventKind::ALL
        .iter()
        .map(|k| {
            let sel = if f.event == k.as_str() { " selected" } else { "" };
            format!(r#"<option value="{0}"{sel}>{0}</option>"#, k.as_str())
        })
        .collect();
    let event_err = match err("event") {
        Some(e) => format!(r#"<span class="field-error" id="event-error">{}</span>"#, escape(e)),
        None => String::new(),
    };
    let fields: String = FIELDS.iter().map(|(k, label, hint)| input(k, label, hint, f.get(k), err(k))).collect();
    format!(
        r#"<form method="get" action="{action}" class="filters" aria-label="Filter events">
<div class="field"><label for="f-event">Event</label><select id="f-event" name="event"><option value="">any event</option>{options}</select>{event_err}</div>
{fields}
<div class="actions"><button type="submit">Filter</button> <a href="{action}">Clear</a></div>
</form>"#,
        action = escape(action)
    )
}

/// The events table; `names` gives a user id's display name where known.
pub fn table(events: &[AuditEvent], names: &HashMap<String, String>) -> String {
    if events.is_empty() {
        return r#"<p id="no-events">No event matches.</p>"#.into();
    }
    let o = |v: &Option<String>| escape(v.as_deref().unwrap_or(""));
    let rows: String = events
        .iter()
        .map(|e| {
            let user = match e.user.as_deref() {
                Some(id) => match names.get(id) {
                    Some(n) => format!("{} <small>{}</small>", escape(n), escape(id)),
                    None => escape(id),
                },
                None => String::new(),
            };
            let ip = format!(
                r#"<span title="effective">{}</span><br><small>forwarded: {}</small><br><small>remote: {}</small>"#,
                o(&e.ip),
                o(&e.forwarded),
                o(&e.remote)
            );
            format!(
                r#"<tr data-seq="{}"><td><code>{}</code></td><td>{user}</td><td>{}</td><td>{ip}</td><td>{}</td><td>{}</td></tr>"#,
                e.seq,
                escape(&e.event),
                o(&e.app),
                values::date(e.time),
                values::clock(e.time)
            )
        })
        .collect();
    format!(
        r#"<div class="table-wrap" tabindex="0"><table id="events"><caption>Security events, newest first (times in UTC)</caption><thead><tr><th scope="col">Event</th><th scope="col">User</th><th scope="col">App</th><th scope="col">IP (effective / forwarded / remote)</th><th scope="col">Date</th><th scope="col">Time</th></tr></thead><tbody>{rows}</tbody></table></div>"#
    )
}

/// Paging and export: the next (older) page when there is one, the newest page, and the CSV
/// export of these filters through the admin API.
pub fn paging(action: &str, f: &AuditForm, next: Option<u64>) -> String {
    let q = f.query();
    let join = |extra: String| {
        let all: Vec<String> = [q.clone(), extra].into_iter().filter(|s| !s.is_empty()).collect();
        if all.is_empty() {
            String::new()
        } else {
            format!("?{}", all.join("&"))
        }
    };
    let mut links = vec![];
    if f.before.is_some() {
        links.push(format!(r#"<a href="{}{}">Newest events</a>"#, escape(action), escape(&join(String::new()))));
    }
    if let Some(n) = next {
        links.push(format!(
            r#"<a href="{}{}" rel="next">Older events</a>"#,
            escape(action),
            escape(&join(format!("before={n}")))
        ));
    }
    let csv = format!("/auth/admin/api/audit{}", join("format=csv".into()));
    links.push(format!(r#"<a href="{}" download>Export CSV</a>"#, escape(&csv)));
    format!(r#"<nav class="paging" aria-label="Pages">{}</nav>"#, links.join(" · "))
}

/// The purge form: events older than N days go (0: all of them, leaving the purge's event).
pub fn purge_form(action: &str, csrf_field: &str, days: &str, error: Option<&str>) -> String {
    let (invalid, err) = match error {
        Some(e) => (
            r#" aria-invalid="true" aria-describedby="days-error""#.to_string(),
            format!(r#"<span class="field-error" id="days-error">{}</span>"#, escape(e)),
        ),
        None => (r#" aria-describedby="days-hint""#.to_string(), String::new()),
    };
    format!(
        r#"<form method="post" action="{action}" class="purge" aria-labelledby="purge-h"><h2 id="purge-h">Purge</h2>{csrf_field}
<div class="field"><label for="f-days">Delete events older than (days)</label><input id="f-days" name="days" type="number" min="0" max="36500" required value="{days}"{invalid}><span class="hint" id="days-hint">0 deletes all of them; one event recording the purge stays.</span>{err}</div>
<div class="actions"><button type="submit" class="danger">Purge…</button></div></form>"#,
        action = escape(action),
        days = escape(days)
    )
}

/// The confirmation of a purge: says what goes, and posts again with `confirm`.
pub fn purge_confirm(action: &str, csrf_field: &str, days: u64) -> String {
    let what = if days == 0 {
        "every event of your tenant".to_string()
    } else {
        format!("every event of your tenant older than {days} day{}", if days == 1 { "" } else { "s" })
    };
    format!(
        r#"<form method="post" action="{action}" class="confirm" role="alertdialog" aria-labelledby="confirm-h" aria-describedby="confirm-d"><h2 id="confirm-h">Purge the audit log?</h2><p id="confirm-d">This deletes {what}. It cannot be undone; one <code>audit_purged</code> event naming you stays.</p>{csrf_field}<input type="hidden" name="days" value="{days}"><input type="hidden" name="confirm" value="yes"><div class="actions"><button type="submit" class="danger" autofocus>Purge</button> <a href="{action_back}">Cancel</a></div></form>"#,
        action = escape(action),
        action_back = escape(action.trim_end_matches("/purge"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_round_trip_through_the_query_and_errors_find_their_field() {
        let f = AuditForm { event: "login_ok".into(), ip: " 10.0.0.1 ".into(), before: Some(9), ..Default::default() };
        assert_eq!(f.query(), "event=login_ok&ip=10.0.0.1");
        assert_eq!(f.filters().ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(f.filters().user, None);
        let p = paging("/auth/admin/audit", &f, Some(4));
        assert!(p.contains(r#"href="/auth/admin/audit?event=login_ok&amp;ip=10.0.0.1&amp;before=4""#), "{p}");
        assert!(p.contains(r#"href="/auth/admin/api/audit?event=login_ok&amp;ip=10.0.0.1&amp;format=csv""#), "{p}");
        assert_eq!(field_of("`since` is after `until`."), Some("since"));
        assert_eq!(field_of("something else"), None);
        let form = filter_form("/a", &f, Some(("ip", "`ip` is not an IP address.")));
        assert!(form.contains(r#"aria-invalid="true" aria-describedby="ip-error""#), "{form}");
        assert!(form.contains(r#"<option value="login_ok" selected>"#));
    }

    #[test]
    fn the_table_shows_the_three_addresses_date_and_time() {
        let e = AuditEvent {
            seq: 7,
            time: 1_733_311_230, // 2024-12-04T11:20:30Z
            event: "login_ok".into(),
            user: Some("u1".into()),
            ip: Some("203.0.113.9".into()),
            forwarded: Some("203.0.113.9, 10.0.0.2".into()),
            remote: Some("127.0.0.1".into()),
            ..Default::default()
        };
        let names = HashMap::from([("u1".to_string(), "ann@example.com".to_string())]);
        let t = table(&[e], &names);
        for part in [
            "ann@example.com",
            "203.0.113.9",
            "forwarded: 203.0.113.9, 10.0.0.2",
            "remote: 127.0.0.1",
            "2024-12-04",
            "11:20:30",
        ] {
            assert!(t.contains(part), "{part} in {t}");
        }
    }
}
