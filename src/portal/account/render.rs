//! The account page's HTML: one section per area, each with a heading, labelled fields, its own
//! error (`role="alert"`) and forms carrying the CSRF token.

use super::Done;
use crate::audit::EventKind;
use crate::flows::account::SessionView;
use crate::flows::personal_tokens::TokenView;
use crate::store::{AuditEvent, User};
use crate::web::escape;

/// Audit events looked through for the user's own, and how many of theirs are shown.
pub(crate) const EVENTS_SCANNED: usize = 5_000;
pub(crate) const EVENTS_SHOWN: usize = 20;

/// The page's sections that can show an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Section {
    Password,
    Factors,
    Sessions,
    Tokens,
}

/// What the page shows besides the account: a notice, an error in a section, a secret shown
/// once.
#[derive(Default)]
pub(crate) struct Shown {
    pub done: Option<Done>,
    pub error: Option<(Section, String)>,
    /// A personal token just created: its name and the token.
    pub new_token: Option<(String, String)>,
    /// Recovery codes just made.
    pub new_codes: Option<Vec<String>>,
}

/// What the page is about.
pub(crate) struct Data<'a> {
    pub user: &'a User,
    pub sessions: Vec<SessionView>,
    pub tokens: Vec<TokenView>,
    pub events: Vec<AuditEvent>,
    pub channels: Vec<&'static str>,
    pub held_scopes: Vec<String>,
}

const STYLE: &str = "<style>
  main { max-width: 56rem; margin: 2rem auto; }
  h2 { font-size: 1.15rem; margin: 2rem 0 .5rem; border-top: 1px solid #d5d9e0; padding-top: 1rem; }
  table { width: 100%; border-collapse: collapse; font-size: .9rem; }
  th, td { text-align: left; padding: .35rem; border-bottom: 1px solid #e3e6eb; vertical-align: top; word-break: break-word; }
  td button, .inline button { width: auto; margin: 0; padding: .35rem .7rem; }
  a:focus, summary:focus, select:focus { outline: 3px solid #3b82f6; outline-offset: 1px; }
  select { padding: .5rem; font-size: 1rem; }
  .skip { position: absolute; left: -999px; }
  .skip:focus { position: static; }
  .notice { background: #e6f4ea; color: #14532d; padding: .6rem; border-radius: 4px; }
  .secret { font-family: monospace; }
  .check label { display: inline; font-weight: 400; margin: 0 1rem 0 .3rem; }
  .check input { width: auto; }
</style>";

/// The page around `body` (the portal's shell, wider, with the account page's styles).
pub(crate) fn account_html(body: &str) -> String {
    crate::web::page("Your account", &format!("{STYLE}\n{body}"))
}

/// A Unix time as `2026-12-04 21:55 UTC`.
pub(crate) fn when(t: u64) -> String {
    let at = i64::try_from(t).ok().and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok());
    let Some(text) = at.and_then(|a| a.format(&time::format_description::well_known::Rfc3339).ok()) else {
        return "-".into();
    };
    format!(r#"<time datetime="{text}">{} UTC</time>"#, text.get(..16).unwrap_or(&text).replace('T', " "))
}

fn csrf_input(csrf: &str) -> String {
    format!(r#"<input type="hidden" name="csrf" value="{}">"#, escape(csrf))
}

fn error_in(shown: &Shown, section: Section) -> String {
    match &shown.error {
        Some((s, message)) if *s == section => super::super::error_html(Some(message)),
        _ => String::new(),
    }
}

/// The whole page body.
pub(crate) fn page_body(d: &Data, shown: &Shown, csrf: &str) -> String {
    let notice = shown
        .done
        .map(|n| format!(r#"<p class="notice" role="status">{}</p>"#, escape(n.sentence())))
        .unwrap_or_default();
    format!(
        r##"<a class="skip" href="#content">Skip to content</a>
<h1>Your account</h1>
{notice}
<nav aria-label="Sections"><p><a href="#profile">Profile</a> · <a href="#password">Password</a> · <a href="#factors">Second factors</a> · <a href="#sessions">Sessions</a> · <a href="#tokens">Personal API tokens</a> · <a href="#events">Recent security events</a></p></nav>
<div id="content" tabindex="-1">
{}
{}
{}
{}
{}
{}
</div>"##,
        profile(d.user),
        password(shown, csrf),
        factors(d, shown, csrf),
        sessions(d, shown, csrf),
        tokens(d, shown, csrf),
        events(&d.events),
    )
}

fn verified(address: &Option<String>, verified: bool) -> String {
    match address {
        None => "<em>none</em>".into(),
        Some(a) if verified => format!("{} <strong>(verified)</strong>", escape(a)),
        Some(a) => format!("{} (not verified)", escape(a)),
    }
}

fn profile(u: &User) -> String {
    let or_none = |v: &Option<String>| v.as_deref().map(escape).unwrap_or_else(|| "<em>none</em>".into());
    format!(
        r#"<section aria-labelledby="profile"><h2 id="profile">Profile</h2>
<dl>
<dt>Name</dt><dd>{}</dd>
<dt>Username</dt><dd>{}</dd>
<dt>E-mail</dt><dd>{}</dd>
<dt>Mobile</dt><dd>{}</dd>
</dl></section>"#,
        or_none(&u.name),
        or_none(&u.username),
        verified(&u.email, u.email_verified),
        verified(&u.mobile, u.mobile_verified),
    )
}

fn password(shown: &Shown, csrf: &str) -> String {
    format!(
        r#"<section aria-labelledby="password"><h2 id="password">Password</h2>
{}
<form method="post" action="/auth/account/change-password">
  {}
  <label for="current_password">Current password</label>
  <input id="current_password" name="current_password" type="password" autocomplete="current-password" required>
  <label for="new_password">New password</label>
  <input id="new_password" name="new_password" type="password" autocomplete="new-password" required>
  <p>Changing your password ends your other sessions; this one stays signed in.</p>
  <button type="submit">Change password</button>
</form></section>"#,
        error_in(shown, Section::Password),
        csrf_input(csrf)
    )
}

fn code_form(action: &str, id: &str, label: &str, button: &str, csrf: &str) -> String {
    format!(
        r#"<form method="post" action="{action}">
  {}
  <label for="{id}">{label}</label>
  <input id="{id}" name="code" inputmode="numeric" autocomplete="one-time-code" required>
  <button type="submit">{button}</button>
</form>"#,
        csrf_input(csrf)
    )
}

fn factors(d: &Data, shown: &Shown, csrf: &str) -> String {
    let totp = d.user.totp.as_ref().is_some_and(|t| t.confirmed);
    let app = if totp {
        format!(
            "<p>Authenticator app: <strong>set up</strong>.</p>\n{}\n<p>Recovery codes left: <strong>{}</strong>.</p>\n{}",
            code_form(
                "/auth/account/remove-totp",
                "remove_code",
                "Code from your app, to remove it",
                "Remove authenticator app",
                csrf
            ),
            d.user.recovery_codes.len(),
            code_form(
                "/auth/account/new-recovery-codes",
                "codes_code",
                "Code from your app, for new recovery codes",
                "Make new recovery codes",
                csrf
            ),
        )
    } else {
        "<p>Authenticator app: <strong>not set up</strong>. <a href=\"/auth/mfa/totp\">Set up an authenticator app</a>.</p>".into()
    };
    let codes = shown
        .new_codes
        .as_ref()
        .map(|c| {
            let items: String = c.iter().map(|c| format!("<li class=\"secret\">{}</li>", escape(c))).collect();
            format!(
                "<div role=\"status\"><p><strong>Your new recovery codes, shown only this once.</strong> Copy them somewhere safe now; each works once, and the old ones no longer work.</p><ul>{items}</ul></div>"
            )
        })
        .unwrap_or_default();
    format!(
        r#"<section aria-labelledby="factors"><h2 id="factors">Second factors</h2>
{}
{codes}
{app}
{}
</section>"#,
        error_in(shown, Section::Factors),
        code_factor(d, csrf)
    )
}

/// A code by message as the second factor: whether it is on, by which channels, and the button
/// that turns it on or off.
fn code_factor(d: &Data, csrf: &str) -> String {
    let channels = if d.channels.is_empty() {
        "none (a verified e-mail address or mobile number is needed)".to_string()
    } else {
        d.channels.join(", ").replace("email", "e-mail").replace("sms", "SMS")
    };
    let (state, on, button) = if d.user.mfa_by_code {
        ("<strong>on</strong>: every sign-in asks for a second factor", "0", "Stop using codes by message")
    } else {
        ("off", "1", "Use a code by message as my second factor")
    };
    let form = if d.user.mfa_by_code || !d.channels.is_empty() {
        format!(
            r#"<form method="post" action="/auth/account/code-factor">{}<input type="hidden" name="on" value="{on}"><button type="submit">{button}</button></form>"#,
            csrf_input(csrf)
        )
    } else {
        String::new()
    };
    format!(
        "<p>A code by message as your second factor: {state}. Codes can reach you by: {}.</p>\n{form}",
        escape(&channels)
    )
}

fn sessions(d: &Data, shown: &Shown, csrf: &str) -> String {
    let rows: String = d
        .sessions
        .iter()
        .map(|s| {
            let device = s.user_agent.as_deref().map(escape).unwrap_or_else(|| "unknown".into());
            let action = if s.current {
                "<strong>This session</strong>".to_string()
            } else {
                format!(
                    r#"<form method="post" action="/auth/account/end-session" class="inline">{}<input type="hidden" name="session" value="{}"><button type="submit" aria-label="End the session of {device} from {}">End session</button></form>"#,
                    csrf_input(csrf),
                    escape(&s.id),
                    escape(s.ip.as_deref().unwrap_or("an unknown address")),
                )
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{device}</td><td>{action}</td></tr>\n",
                when(s.created_at),
                when(s.last_seen_at),
                escape(s.ip.as_deref().unwrap_or("-")),
            )
        })
        .collect();
    let others = if d.sessions.iter().any(|s| !s.current) {
        format!(
            r#"<form method="post" action="/auth/account/end-other-sessions">{}<button type="submit">End all other sessions</button></form>"#,
            csrf_input(csrf)
        )
    } else {
        "<p>You have no other sessions.</p>".into()
    };
    format!(
        r#"<section aria-labelledby="sessions"><h2 id="sessions">Sessions</h2>
{}
<table><caption>Where you are signed in</caption>
<thead><tr><th scope="col">Created</th><th scope="col">Last seen</th><th scope="col">IP</th><th scope="col">Device</th><th scope="col">Current or end</th></tr></thead>
<tbody>
{rows}</tbody></table>
{others}
</section>"#,
        error_in(shown, Section::Sessions)
    )
}

fn tokens(d: &Data, shown: &Shown, csrf: &str) -> String {
    let created = shown
        .new_token
        .as_ref()
        .map(|(name, token)| {
            format!(
                r#"<div role="status"><p><strong>Your new token “{}”, shown only this once.</strong> Copy it now (select it and press Ctrl+C or ⌘C) and keep it secret.</p>
<label for="new_token">New token</label><input id="new_token" class="secret" readonly value="{}"></div>"#,
                escape(name),
                escape(token)
            )
        })
        .unwrap_or_default();
    let rows: String = d
        .tokens
        .iter()
        .map(|t| {
            format!(
                r#"<tr><td>{name}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><form method="post" action="/auth/account/revoke-token" class="inline">{}<input type="hidden" name="token" value="{}"><button type="submit" aria-label="Revoke the token {name}">Revoke</button></form></td></tr>
"#,
                escape(&t.scopes.join(" ")),
                when(t.created_at),
                when(t.expires_at),
                t.last_used_at.map(when).unwrap_or_else(|| "never".into()),
                csrf_input(csrf),
                escape(&t.id),
                name = escape(&t.name),
            )
        })
        .collect();
    let list = if d.tokens.is_empty() {
        "<p>You have no personal API tokens.</p>".to_string()
    } else {
        format!(
            r#"<table><caption>Your tokens</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Scopes</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col">Revoke</th></tr></thead>
<tbody>
{rows}</tbody></table>"#
        )
    };
    let scopes: String = d
        .held_scopes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                r#"<span class="check"><input type="checkbox" id="scope_{i}" name="scope" value="{s}"><label for="scope_{i}">{s}</label></span>"#,
                s = escape(s)
            )
        })
        .collect();
    let scopes = if scopes.is_empty() {
        String::new()
    } else {
        format!("<fieldset><legend>Scopes (none ticked: every scope you hold)</legend>{scopes}</fieldset>")
    };
    format!(
        r#"<section aria-labelledby="tokens"><h2 id="tokens">Personal API tokens</h2>
{}
{created}
{list}
<h3>New token</h3>
<form method="post" action="/auth/account/new-token">
  {}
  <label for="token_name">Name</label>
  <input id="token_name" name="name" maxlength="64" required>
  {scopes}
  <label for="token_days">Expires after (days)</label>
  <input id="token_days" name="days" type="number" min="1" inputmode="numeric" placeholder="the default">
  <button type="submit">Create token</button>
</form>
</section>"#,
        error_in(shown, Section::Tokens),
        csrf_input(csrf)
    )
}

/// The events the page shows, with their words (sign-ins, failures, changes; never another
/// user's, never their details).
pub(crate) fn event_words(e: &AuditEvent) -> Option<&'static str> {
    use EventKind as K;
    Some(match K::parse(&e.event)? {
        K::LoginOk => "Signed in",
        K::LoginFailed => "Sign-in failed",
        K::MfaFailed => "Second factor failed",
        K::Ban => "Locked after failed attempts",
        K::Logout => "Signed out",
        K::RefreshReuse => "A refresh token was reused; its sessions ended",
        K::TotpEnabled => "Authenticator app set up",
        K::TotpRemoved => "Authenticator app removed",
        K::RecoveryCodesRegenerated => "New recovery codes made",
        K::MfaReset => "Second factors reset by an administrator",
        K::SessionsRevoked => "Sessions ended by an administrator",
        K::ResetRequested => "Password reset asked for",
        K::PasswordReset => "Password reset",
        K::PasswordChanged => "Password changed",
        K::PasswordChangeFailed => "Password change refused",
        K::SessionEnded => "Session ended",
        K::OtherSessionsEnded => "Other sessions ended",
        K::PersonalTokenCreated => "Personal token created",
        K::PersonalTokenRevoked => "Personal token revoked",
        K::UserDisabled => "Account disabled",
        K::UserEnabled => "Account enabled",
        K::UserRegistered => "Account created",
        K::MfaByCodeChanged => "Code by message as second factor turned on or off",
        _ => return None,
    })
}

/// The store's filter: only events the page has words for.
pub(crate) fn shown_event(e: &AuditEvent) -> bool {
    event_words(e).is_some()
}

fn events(events: &[AuditEvent]) -> String {
    let rows: String = events
        .iter()
        .filter_map(|e| {
            let words = event_words(e)?;
            Some(format!(
                "<tr><td>{}</td><td>{words}</td><td>{}</td></tr>\n",
                when(e.time),
                escape(e.ip.as_deref().unwrap_or("-"))
            ))
        })
        .collect();
    let list = if rows.is_empty() {
        "<p>No recent events.</p>".to_string()
    } else {
        format!(
            r#"<table><caption>The newest first</caption>
<thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">IP</th></tr></thead>
<tbody>
{rows}</tbody></table>"#
        )
    };
    format!(r#"<section aria-labelledby="events"><h2 id="events">Recent security events</h2>{list}</section>"#)
}
