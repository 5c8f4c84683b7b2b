//! What the Webhooks tab shows, without the request around it: the tenant's webhooks with
//! their actions, the create/edit form, the secret shown once, the delete confirmation, and a
//! webhook's delivery log with redelivery.

use super::values;
use crate::store::webhooks::{event_names, DeliveryStatus};
use crate::store::{Delivery, Webhook};
use crate::web::escape;

/// The create/edit form as submitted (`events` repeated, one per ticked box).
#[derive(Debug, Default, Clone)]
pub struct HookForm {
    pub url: String,
    pub events: Vec<String>,
    pub secret: String,
    pub enabled: bool,
}

impl HookForm {
    /// From the form's `application/x-www-form-urlencoded` pairs.
    pub fn parse(body: &[u8]) -> HookForm {
        let mut f = HookForm::default();
        for (k, v) in url::form_urlencoded::parse(body) {
            match k.as_ref() {
                "url" => f.url = v.into_owned(),
                "events" => f.events.push(v.into_owned()),
                "secret" => f.secret = v.into_owned(),
                "enabled" => f.enabled = true,
                _ => {}
            }
        }
        f
    }

    /// The form of an existing webhook (the secret is never shown again).
    pub fn of(w: &Webhook) -> HookForm {
        HookForm { url: w.url.clone(), events: w.events.clone(), secret: String::new(), enabled: w.enabled }
    }
}

fn when(t: u64) -> String {
    values::utc(t)
}

/// The tenant's webhooks, each with its actions.
pub fn list(base: &str, hooks: &[Webhook], csrf_field: &str) -> String {
    if hooks.is_empty() {
        return r#"<p id="no-webhooks">No webhook yet.</p>"#.into();
    }
    let rows: String = hooks
        .iter()
        .map(|w| {
            let at = format!("{}/{}", escape(base), escape(&w.id));
            let (status, toggle, toggle_label) =
                if w.enabled { ("enabled", "disable", "Disable") } else { ("disabled", "enable", "Enable") };
            format!(
                r#"<tr id="{id}"><td><code>{url}</code></td><td>{events}</td><td><span class="status status-{status}">{status}</span></td><td>{created}</td><td>{updated}</td><td class="row-actions"><a href="{at}/edit">Edit</a> <a href="{at}/deliveries">Deliveries</a> <form method="post" action="{at}/{toggle}" class="inline">{csrf_field}<button type="submit" aria-label="{toggle_label} {url}">{toggle_label}</button></form> <a href="{at}/delete" class="danger">Delete</a></td></tr>"#,
                id = escape(&w.id),
                url = escape(&w.url),
                events = escape(&w.events.join(", ")),
                created = when(w.created_at),
                updated = when(w.updated_at),
            )
        })
        .collect();
    format!(
        r#"<div class="table-wrap" tabindex="0"><table id="webhooks"><caption>Webhooks of your tenant</caption><thead><tr><th scope="col">URL</th><th scope="col">Events</th><th scope="col">Status</th><th scope="col">Created</th><th scope="col">Changed</th><th scope="col">Actions</th></tr></thead><tbody>{rows}</tbody></table></div>"#
    )
}

fn field_error(field: &str, error: Option<(&str, &str)>) -> (String, String) {
    match error.filter(|(f, _)| *f == field) {
        Some((_, m)) => (
            format!(r#" aria-invalid="true" aria-describedby="{field}-error""#),
            format!(r#"<span class="field-error" id="{field}-error">{}</span>"#, escape(m)),
        ),
        None => (String::new(), String::new()),
    }
}

/// The create (no `id`) or edit form, `error` (a flow's message) next to its field.
pub fn form(action: &str, csrf_field: &str, f: &HookForm, editing: bool, error: Option<&str>) -> String {
    let error = error.map(|m| (values::field_in(m, &["url", "events", "secret"]).unwrap_or("url"), m));
    let (url_inv, url_err) = field_error("url", error);
    let (ev_inv, ev_err) = field_error("events", error);
    let (sec_inv, sec_err) = field_error("secret", error);
    let boxes: String = event_names()
        .iter()
        .map(|e| {
            let checked = if f.events.iter().any(|x| x == e) { " checked" } else { "" };
            format!(r#"<label class="check"><input type="checkbox" name="events" value="{e}"{checked}> <code>{e}</code></label>"#)
        })
        .collect();
    let secret_hint = if editing {
        "Leave empty to keep the current secret; a new one signs from the next attempt on."
    } else {
        "Optional: 16 to 256 printable characters. Empty: one is made and shown once."
    };
    let enabled = if f.enabled { " checked" } else { "" };
    let (title, button) = if editing { ("Edit webhook", "Save") } else { ("New webhook", "Create webhook") };
    format!(
        r#"<form method="post" action="{action}" class="webhook" aria-labelledby="hook-h"><h2 id="hook-h">{title}</h2>{csrf_field}
<div class="field"><label for="f-url">URL</label><input id="f-url" name="url" type="url" required maxlength="2048" value="{url}"{url_inv}>{url_err}</div>
<fieldset{ev_inv}><legend>Events</legend>{boxes}{ev_err}</fieldset>
<div class="field"><label for="f-secret">Signing secret</label><input id="f-secret" name="secret" autocomplete="off" value=""{sec_inv} aria-describedby="secret-hint"><span class="hint" id="secret-hint">{secret_hint}</span>{sec_err}</div>
<div class="field"><label class="check"><input type="checkbox" name="enabled" value="on"{enabled}> Enabled</label></div>
<div class="actions"><button type="submit">{button}</button></div></form>"#,
        action = escape(action),
        url = escape(&f.url),
    )
}

/// After creation: the secret, shown this once.
pub fn created(base: &str, w: &Webhook, secret: &str) -> String {
    format!(
        r#"<div class="notice" role="status" id="webhook-created"><p>Webhook created for <code>{url}</code>. Its signing secret is shown this once: copy it to the receiver now.</p>
<div class="secret"><span>Signing secret:</span> <code id="secret-once">{secret}</code> <button type="button" class="secondary" data-copy="secret-once">Copy</button></div>
<p><a href="{base}">Back to webhooks</a></p></div>"#,
        url = escape(&w.url),
        secret = escape(secret),
        base = escape(base)
    )
}

/// The confirmation of a deletion, naming the webhook.
pub fn delete_confirm(base: &str, csrf_field: &str, w: &Webhook) -> String {
    format!(
        r#"<form method="post" action="{base}/{id}/delete" class="confirm" role="alertdialog" aria-labelledby="confirm-h" aria-describedby="confirm-d"><h2 id="confirm-h">Delete this webhook?</h2><p id="confirm-d">The webhook to <code>{url}</code> and its delivery log are deleted; queued deliveries are dropped. This cannot be undone.</p>{csrf_field}<input type="hidden" name="confirm" value="yes"><div class="actions"><button type="submit" class="danger" autofocus>Delete webhook</button> <a href="{base}">Cancel</a></div></form>"#,
        base = escape(base),
        id = escape(&w.id),
        url = escape(&w.url)
    )
}

fn status(s: &DeliveryStatus) -> &'static str {
    match s {
        DeliveryStatus::Pending => "pending",
        DeliveryStatus::Delivered => "delivered",
        DeliveryStatus::Failed => "failed",
    }
}

/// A webhook's delivery log, newest first, each with a redeliver button.
pub fn deliveries(base: &str, csrf_field: &str, w: &Webhook, ds: &[Delivery]) -> String {
    let head = format!(
        r#"<h2 id="deliveries-h">Deliveries to <code>{}</code></h2><p><a href="{}">Back to webhooks</a></p>"#,
        escape(&w.url),
        escape(base)
    );
    if ds.is_empty() {
        return format!(r#"{head}<p id="no-deliveries">Nothing was sent yet.</p>"#);
    }
    let rows: String = ds
        .iter()
        .map(|d| {
            let last = d.attempts.last();
            let answer = match last {
                Some(a) => match (a.status, a.error.as_deref()) {
                    (Some(s), None) => format!("HTTP {s}"),
                    (Some(s), Some(e)) => format!("HTTP {s}: {e}"),
                    (None, Some(e)) => e.to_string(),
                    (None, None) => String::new(),
                },
                None => String::new(),
            };
            let st = status(&d.status);
            format!(
                r#"<tr id="delivery-{id}"><td><code>{event}</code></td><td><code>{event_id}</code></td><td>{created}</td><td><span class="status status-{st}">{st}</span></td><td>{n}</td><td>{answer}</td><td><form method="post" action="{base}/{hook}/deliveries/{id}/redeliver" class="inline">{csrf_field}<button type="submit" aria-label="Redeliver {event_id}">Redeliver</button></form></td></tr>"#,
                id = d.id,
                event = escape(&d.event),
                event_id = escape(&d.event_id),
                created = when(d.created_at),
                n = d.attempts.len(),
                answer = escape(&answer),
                base = escape(base),
                hook = escape(&w.id),
            )
        })
        .collect();
    format!(
        r#"{head}<div class="table-wrap" tabindex="0"><table id="deliveries"><caption>Newest first (times in UTC)</caption><thead><tr><th scope="col">Event</th><th scope="col">Delivery id</th><th scope="col">Created</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Last answer</th><th scope="col">Action</th></tr></thead><tbody>{rows}</tbody></table></div>"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_parses_repeated_events_and_shows_errors_at_their_field() {
        let f = HookForm::parse(b"url=http%3A%2F%2Fh%2Fx&events=user.created&events=user.deleted&enabled=on&csrf=t");
        assert_eq!(f.url, "http://h/x");
        assert_eq!(f.events, ["user.created", "user.deleted"]);
        assert!(f.enabled);
        let html = form("/w", "", &f, false, Some("`events` must name at least one event."));
        assert!(html.contains(r#"<fieldset aria-invalid="true" aria-describedby="events-error">"#), "{html}");
        assert!(html.contains(r#"value="user.created" checked"#));
        let html = form("/w", "", &f, false, Some("`url` is not a URL."));
        assert!(html.contains(r#"id="url-error""#), "{html}");
    }
}
