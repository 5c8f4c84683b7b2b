//! The account page's HTML: one section per area, each with a heading, labelled fields, its own
//! error (`role="alert"`) and forms carrying the CSRF token.

use super::Done;
use crate::audit::EventKind;
use crate::flows::account::SessionView;
use crate::flows::personal_tokens::TokenView;
use crate::portal::{Ui, M};
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

/// The page around `body` (the portal's shell in the visitor's language, with the page's styles).
pub(crate) fn account_html(ui: &Ui, body: &str) -> String {
    ui.page(M::YourAccount, &format!("{STYLE}\n{body}"))
}

/// `m` with each `{name}` filled in by its value (in order), escaped for HTML.
fn filled(ui: &Ui, m: M, values: &[(&str, &str)]) -> String {
    let mut text = ui.t(m).to_string();
    for (name, value) in values {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    escape(&text)
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
pub(crate) fn page_body(ui: &Ui, d: &Data, shown: &Shown, csrf: &str) -> String {
    let notice = shown
        .done
        .map(|n| format!(r#"<p class="notice" role="status">{}</p>"#, ui.h(n.sentence())))
        .unwrap_or_default();
    format!(
        r##"<a class="skip" href="#content">{}</a>
<h1>{}</h1>
{notice}
<nav aria-label="{}"><p><a href="#profile">{}</a> · <a href="#password">{}</a> · <a href="#factors">{}</a> · <a href="#sessions">{}</a> · <a href="#tokens">{}</a> · <a href="#events">{}</a></p></nav>
<div id="content" tabindex="-1">
{}
{}
{}
{}
{}
{}
</div>"##,
        ui.h(M::AcctSkip),
        ui.h(M::YourAccount),
        ui.h(M::AcctSections),
        ui.h(M::AcctProfile),
        ui.h(M::AcctPassword),
        ui.h(M::AcctFactors),
        ui.h(M::AcctSessions),
        ui.h(M::AcctTokens),
        ui.h(M::AcctEvents),
        profile(ui, d.user),
        password(ui, shown, csrf),
        factors(ui, d, shown, csrf),
        sessions(ui, d, shown, csrf),
        tokens(ui, d, shown, csrf),
        events(ui, &d.events),
    )
}

fn verified(ui: &Ui, address: &Option<String>, verified: bool) -> String {
    match address {
        None => format!("<em>{}</em>", ui.h(M::AcctNone)),
        Some(a) if verified => format!("{} <strong>{}</strong>", escape(a), ui.h(M::AcctVerified)),
        Some(a) => format!("{} {}", escape(a), ui.h(M::AcctNotVerified)),
    }
}

fn profile(ui: &Ui, u: &User) -> String {
    let or_none =
        |v: &Option<String>| v.as_deref().map(escape).unwrap_or_else(|| format!("<em>{}</em>", ui.h(M::AcctNone)));
    format!(
        r#"<section aria-labelledby="profile"><h2 id="profile">{}</h2>
<dl>
<dt>{}</dt><dd>{}</dd>
<dt>{}</dt><dd>{}</dd>
<dt>{}</dt><dd>{}</dd>
<dt>{}</dt><dd>{}</dd>
</dl></section>"#,
        ui.h(M::AcctProfile),
        ui.h(M::AcctName),
        or_none(&u.name),
        ui.h(M::AcctUsername),
        or_none(&u.username),
        ui.h(M::AcctEmail),
        verified(ui, &u.email, u.email_verified),
        ui.h(M::AcctMobile),
        verified(ui, &u.mobile, u.mobile_verified),
    )
}

fn password(ui: &Ui, shown: &Shown, csrf: &str) -> String {
    format!(
        r#"<section aria-labelledby="password"><h2 id="password">{}</h2>
{}
<form method="post" action="/auth/account/change-password">
  {}
  <label for="current_password">{}</label>
  <input id="current_password" name="current_password" type="password" autocomplete="current-password" required>
  <label for="new_password">{}</label>
  <input id="new_password" name="new_password" type="password" autocomplete="new-password" required>
  <p>{}</p>
  <button type="submit">{}</button>
</form></section>"#,
        ui.h(M::AcctPassword),
        error_in(shown, Section::Password),
        csrf_input(csrf),
        ui.h(M::AcctCurrentPassword),
        ui.h(M::LabelNewPassword),
        ui.h(M::AcctPasswordNote),
        ui.h(M::AcctChangePassword),
    )
}

fn code_form(action: &str, id: &str, label: String, button: String, csrf: &str) -> String {
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

fn factors(ui: &Ui, d: &Data, shown: &Shown, csrf: &str) -> String {
    let totp = d.user.totp.as_ref().is_some_and(|t| t.confirmed);
    let app = if totp {
        format!(
            "<p>{} <strong>{}</strong>.</p>\n{}\n<p>{} <strong>{}</strong>.</p>\n{}",
            ui.h(M::AcctApp),
            ui.h(M::AcctSetUp),
            code_form(
                "/auth/account/remove-totp",
                "remove_code",
                ui.h(M::AcctRemoveCode),
                ui.h(M::AcctRemoveApp),
                csrf
            ),
            ui.h(M::AcctCodesLeft),
            d.user.recovery_codes.len(),
            code_form(
                "/auth/account/new-recovery-codes",
                "codes_code",
                ui.h(M::AcctCodesCode),
                ui.h(M::AcctMakeCodes),
                csrf
            ),
        )
    } else {
        format!(
            "<p>{} <strong>{}</strong>. <a href=\"/auth/mfa/totp\">{}</a>.</p>",
            ui.h(M::AcctApp),
            ui.h(M::AcctNotSetUp),
            ui.h(M::ButtonSetUpApp)
        )
    };
    let codes = shown
        .new_codes
        .as_ref()
        .map(|c| {
            let items: String = c.iter().map(|c| format!("<li class=\"secret\">{}</li>", escape(c))).collect();
            format!(
                "<div role=\"status\"><p><strong>{}</strong> {}</p><ul>{items}</ul></div>",
                ui.h(M::AcctNewCodes),
                ui.h(M::AcctNewCodesNote)
            )
        })
        .unwrap_or_default();
    format!(
        r#"<section aria-labelledby="factors"><h2 id="factors">{}</h2>
{}
{codes}
{app}
{}
</section>"#,
        ui.h(M::AcctFactors),
        error_in(shown, Section::Factors),
        code_factor(ui, d, csrf)
    )
}

/// A code by message as the second factor: whether it is on, by which channels, and the button
/// that turns it on or off.
fn code_factor(ui: &Ui, d: &Data, csrf: &str) -> String {
    let channels = if d.channels.is_empty() {
        ui.t(M::AcctNoChannel).to_string()
    } else {
        let word = |c: &'static str| match c {
            "email" => ui.t(M::AcctChannelEmail),
            "sms" => ui.t(M::AcctChannelSms),
            other => other,
        };
        d.channels.iter().copied().map(word).collect::<Vec<_>>().join(", ")
    };
    let (state, on, button) = if d.user.mfa_by_code {
        (format!("<strong>{}</strong>{}", ui.h(M::AcctOn), ui.h(M::AcctOnNote)), "0", ui.h(M::AcctStopCodes))
    } else {
        (ui.h(M::AcctOff), "1", ui.h(M::AcctUseCodes))
    };
    let form = if d.user.mfa_by_code || !d.channels.is_empty() {
        format!(
            r#"<form method="post" action="/auth/account/code-factor">{}<input type="hidden" name="on" value="{on}"><button type="submit">{button}</button></form>"#,
            csrf_input(csrf)
        )
    } else {
        String::new()
    };
    format!("<p>{} {state}. {} {}.</p>\n{form}", ui.h(M::AcctCodeFactor), ui.h(M::AcctReachBy), escape(&channels))
}

fn sessions(ui: &Ui, d: &Data, shown: &Shown, csrf: &str) -> String {
    let rows: String = d
        .sessions
        .iter()
        .map(|s| {
            let device = s.user_agent.as_deref().unwrap_or(ui.t(M::AcctUnknown));
            let action = if s.current {
                format!("<strong>{}</strong>", ui.h(M::AcctThisSession))
            } else {
                let ip = s.ip.as_deref().unwrap_or(ui.t(M::AcctUnknownAddress));
                format!(
                    r#"<form method="post" action="/auth/account/end-session" class="inline">{}<input type="hidden" name="session" value="{}"><button type="submit" aria-label="{}">{}</button></form>"#,
                    csrf_input(csrf),
                    escape(&s.id),
                    filled(ui, M::AcctEndSessionOf, &[("ip", ip), ("device", device)]),
                    ui.h(M::AcctEndSession),
                )
            };
            let device = escape(device);
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
            r#"<form method="post" action="/auth/account/end-other-sessions">{}<button type="submit">{}</button></form>"#,
            csrf_input(csrf),
            ui.h(M::AcctEndOthers)
        )
    } else {
        format!("<p>{}</p>", ui.h(M::AcctNoOthers))
    };
    format!(
        r#"<section aria-labelledby="sessions"><h2 id="sessions">{}</h2>
{}
<table><caption>{}</caption>
<thead><tr><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr></thead>
<tbody>
{rows}</tbody></table>
{others}
</section>"#,
        ui.h(M::AcctSessions),
        error_in(shown, Section::Sessions),
        ui.h(M::AcctWhereSignedIn),
        ui.h(M::AcctCreated),
        ui.h(M::AcctLastSeen),
        ui.h(M::AcctIp),
        ui.h(M::AcctDevice),
        ui.h(M::AcctCurrentOrEnd),
    )
}

fn tokens(ui: &Ui, d: &Data, shown: &Shown, csrf: &str) -> String {
    let created = shown
        .new_token
        .as_ref()
        .map(|(name, token)| {
            format!(
                r#"<div role="status"><p><strong>{}</strong> {}</p>
<label for="new_token">{}</label><input id="new_token" class="secret" readonly value="{}"></div>"#,
                filled(ui, M::AcctNewToken, &[("name", name)]),
                ui.h(M::AcctNewTokenNote),
                ui.h(M::AcctNewTokenLabel),
                escape(token)
            )
        })
        .unwrap_or_default();
    let rows: String = d
        .tokens
        .iter()
        .map(|t| {
            format!(
                r#"<tr><td>{name}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><form method="post" action="/auth/account/revoke-token" class="inline">{}<input type="hidden" name="token" value="{}"><button type="submit" aria-label="{}">{}</button></form></td></tr>
"#,
                escape(&t.scopes.join(" ")),
                when(t.created_at),
                when(t.expires_at),
                t.last_used_at.map(when).unwrap_or_else(|| ui.h(M::AcctNever)),
                csrf_input(csrf),
                escape(&t.id),
                filled(ui, M::AcctRevokeToken, &[("name", &t.name)]),
                ui.h(M::AcctRevoke),
                name = escape(&t.name),
            )
        })
        .collect();
    let list = if d.tokens.is_empty() {
        format!("<p>{}</p>", ui.h(M::AcctNoTokens))
    } else {
        format!(
            r#"<table><caption>{}</caption>
<thead><tr><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr></thead>
<tbody>
{rows}</tbody></table>"#,
            ui.h(M::AcctYourTokens),
            ui.h(M::AcctName),
            ui.h(M::AcctScopes),
            ui.h(M::AcctCreated),
            ui.h(M::AcctExpires),
            ui.h(M::AcctLastUsed),
            ui.h(M::AcctRevoke),
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
        format!("<fieldset><legend>{}</legend>{scopes}</fieldset>", ui.h(M::AcctScopesLegend))
    };
    format!(
        r#"<section aria-labelledby="tokens"><h2 id="tokens">{}</h2>
{}
{created}
{list}
<h3>{}</h3>
<form method="post" action="/auth/account/new-token">
  {}
  <label for="token_name">{}</label>
  <input id="token_name" name="name" maxlength="64" required>
  {scopes}
  <label for="token_days">{}</label>
  <input id="token_days" name="days" type="number" min="1" inputmode="numeric" placeholder="{}">
  <button type="submit">{}</button>
</form>
</section>"#,
        ui.h(M::AcctTokens),
        error_in(shown, Section::Tokens),
        ui.h(M::AcctNewTokenLabel),
        csrf_input(csrf),
        ui.h(M::AcctName),
        ui.h(M::AcctDays),
        ui.h(M::AcctDaysDefault),
        ui.h(M::AcctCreateToken),
    )
}

/// The events the page shows, with their words (sign-ins, failures, changes; never another
/// user's, never their details).
pub(crate) fn event_words(e: &AuditEvent) -> Option<M> {
    use EventKind as K;
    Some(match K::parse(&e.event)? {
        K::LoginOk => M::EvLoginOk,
        K::LoginFailed => M::EvLoginFailed,
        K::MfaFailed => M::EvMfaFailed,
        K::Ban => M::EvBan,
        K::Logout => M::EvLogout,
        K::RefreshReuse => M::EvRefreshReuse,
        K::TotpEnabled => M::EvTotpEnabled,
        K::TotpRemoved => M::EvTotpRemoved,
        K::RecoveryCodesRegenerated => M::EvCodesRegenerated,
        K::MfaReset => M::EvMfaReset,
        K::SessionsRevoked => M::EvSessionsRevoked,
        K::ResetRequested => M::EvResetRequested,
        K::PasswordReset => M::EvPasswordReset,
        K::PasswordChanged => M::EvPasswordChanged,
        K::PasswordChangeFailed => M::EvPasswordChangeFailed,
        K::SessionEnded => M::EvSessionEnded,
        K::OtherSessionsEnded => M::EvOtherSessionsEnded,
        K::PersonalTokenCreated => M::EvTokenCreated,
        K::PersonalTokenRevoked => M::EvTokenRevoked,
        K::UserDisabled => M::EvUserDisabled,
        K::UserEnabled => M::EvUserEnabled,
        K::UserRegistered => M::EvUserRegistered,
        K::MfaByCodeChanged => M::EvMfaByCodeChanged,
        _ => return None,
    })
}

/// The store's filter: only events the page has words for.
pub(crate) fn shown_event(e: &AuditEvent) -> bool {
    event_words(e).is_some()
}

fn events(ui: &Ui, events: &[AuditEvent]) -> String {
    let rows: String = events
        .iter()
        .filter_map(|e| {
            let words = ui.h(event_words(e)?);
            Some(format!(
                "<tr><td>{}</td><td>{words}</td><td>{}</td></tr>\n",
                when(e.time),
                escape(e.ip.as_deref().unwrap_or("-"))
            ))
        })
        .collect();
    let list = if rows.is_empty() {
        format!("<p>{}</p>", ui.h(M::AcctNoEvents))
    } else {
        format!(
            r#"<table><caption>{}</caption>
<thead><tr><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr></thead>
<tbody>
{rows}</tbody></table>"#,
            ui.h(M::AcctNewestFirst),
            ui.h(M::AcctWhen),
            ui.h(M::AcctWhat),
            ui.h(M::AcctIp),
        )
    };
    format!(r#"<section aria-labelledby="events"><h2 id="events">{}</h2>{list}</section>"#, ui.h(M::AcctEvents))
}
