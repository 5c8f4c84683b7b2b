//! The effective configuration as the admin API shows it (`GET /auth/admin/api/config`,
//! docs/http-api.md §16): the file as loaded (`${VAR}` substituted, every default filled in),
//! with every secret replaced by [`REDACTED`]: SMTP passwords, HTTP notifiers' header values and
//! bodies, webhook secrets, and the user name, password, path and query values of provider URLs. The secret
//! values themselves are kept too, to scrub them from providers' error messages.

use super::file::File;
use serde_json::Value;

/// What a secret is shown as.
pub const REDACTED: &str = "[redacted]";

/// The shortest value scrubbed from providers' error messages.
const MIN_SCRUBBED: usize = 4;

/// Keys whose string value is a secret wherever they appear.
const SECRET_KEYS: &[&str] = &[
    "password",
    "secret",
    "token",
    "api_key",
    "client_secret",
    "auth_token",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "body",
];
/// Keys whose every value is a secret (a map of header names to values).
const SECRET_MAPS: &[&str] = &["headers"];
/// Keys holding a URL whose password and query values are secrets.
const URL_KEYS: &[&str] = &["url"];

/// The configuration `f` as redacted JSON, and the secret values redacted from it.
pub fn of(f: &File) -> (Value, Vec<String>) {
    let mut v = serde_json::to_value(f).unwrap_or(Value::Null);
    let mut secrets = vec![];
    redact(&mut v, &mut secrets);
    // A value of a few characters (`to=1`) is no secret worth hiding, and scrubbing it from
    // error messages would garble them.
    secrets.retain(|s| s.trim_start_matches(WHOLE_WORD).len() >= MIN_SCRUBBED);
    secrets.sort_by_key(|s| std::cmp::Reverse(s.trim_start_matches(WHOLE_WORD).len()));
    secrets.dedup();
    (v, secrets)
}

fn redact(v: &mut Value, secrets: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if SECRET_KEYS.contains(&k.as_str()) {
                    hide(child, secrets);
                } else if SECRET_MAPS.contains(&k.as_str()) {
                    if let Value::Object(entries) = child {
                        entries.values_mut().for_each(|x| hide(x, secrets));
                    }
                } else if URL_KEYS.contains(&k.as_str()) {
                    if let Value::String(u) = child {
                        *u = url_without_secrets(u, secrets);
                    }
                } else {
                    redact(child, secrets);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|x| redact(x, secrets)),
        _ => {}
    }
}

/// A string value becomes [`REDACTED`] (and is remembered); anything else stays.
fn hide(v: &mut Value, secrets: &mut Vec<String>) {
    if let Value::String(s) = v {
        secrets.push(std::mem::replace(s, REDACTED.into()));
    }
}

/// `u` with its user name, password, path and every query value redacted (remembered as
/// secrets): keys travel as the user name (`https://KEY@host`) or in the path
/// (`https://hooks.example/services/T/B/SECRET`); scheme, host and port stay.
fn url_without_secrets(u: &str, secrets: &mut Vec<String>) -> String {
    let Ok(mut url) = url::Url::parse(u) else {
        // Not a URL: nothing to take apart, so nothing of it is shown.
        secrets.push(u.to_string());
        return REDACTED.into();
    };
    if !url.username().is_empty() {
        secrets.push(url.username().to_string());
        let _ = url.set_username(REDACTED);
    }
    if !url.cannot_be_a_base() && !matches!(url.path(), "" | "/") {
        let path = url.path().to_string();
        // Each segment; one that reads as a word (`/send`, `/v1/messages`, an `acme-alerts`
        // topic) only as a whole word, so the provider's own words stay readable ("error
        // sending request", not "error [redacted]ing request"). The whole path too.
        for segment in path.split('/').filter(|p| !p.is_empty()) {
            secrets.push(if plain_word(segment) { format!("{WHOLE_WORD}{segment}") } else { segment.to_string() });
        }
        secrets.push(path);
        url.set_path(&format!("/{REDACTED}"));
    }
    if let Some(p) = url.password() {
        secrets.push(p.to_string());
        let _ = url.set_password(Some(REDACTED));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        secrets.extend(pairs.iter().map(|(_, v)| v.clone()));
        url.query_pairs_mut().clear().extend_pairs(pairs.iter().map(|(k, _)| (k.as_str(), REDACTED)));
    }
    url.to_string()
}

/// A URL path segment that reads as a word rather than a key: lowercase letters (and `-`, `_`),
/// fewer than 16 of them. Keys in paths are longer, or mix case or digits.
fn plain_word(segment: &str) -> bool {
    segment.len() < 16 && segment.bytes().all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'_')
}

/// Marks a remembered secret that is scrubbed only where it stands as a whole word.
const WHOLE_WORD: char = '\0';

/// `text` with every secret of `secrets` (longest first, at least 4 characters) replaced by
/// [`REDACTED`]: anywhere, then those marked [`WHOLE_WORD`] where they stand as whole words.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let anywhere = secrets.iter().filter(|s| !s.starts_with(WHOLE_WORD));
    let text = anywhere.fold(text.to_string(), |t, s| t.replace(s.as_str(), REDACTED));
    let words = secrets.iter().filter_map(|s| s.strip_prefix(WHOLE_WORD));
    words.fold(text, |t, word| replace_whole_words(&t, word))
}

/// `text` with each occurrence of `word` that no letter, digit, `-` or `_` touches replaced.
fn replace_whole_words(text: &str, word: &str) -> String {
    let part_of_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (at, _) in text.match_indices(word) {
        let end = at + word.len();
        if part_of_word(text[..at].chars().next_back()) || part_of_word(text[end..].chars().next()) {
            continue;
        }
        out.push_str(&text[last..at]);
        out.push_str(REDACTED);
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_remembered() {
        let mut v = serde_json::json!({
            "notifiers": {
                "email": {"smtp": {"host": "mail", "password": "p@ss"}},
                "sms": [{"name": "sms", "url": "https://u:pw-4411@sms.example/send?key=K1-4411&to=x",
                         "headers": {"Authorization": "Bearer T1-4411"}, "body": "{\"key\":\"K2-4411\"}"}],
                "webhooks": [{"name": "w", "url": "https://hook.example/x", "secret": "S1-4411"},
                             {"name": "slack", "url": "https://hooks.example:8443/services/T1/B1/P1-4411"},
                             {"name": "keyed", "url": "https://U1-4411@api.example/"}],
            },
            "session": {"cookie_name": "gatehouse_session"},
        });
        let mut secrets = vec![];
        redact(&mut v, &mut secrets);
        secrets.retain(|s| s.trim_start_matches(WHOLE_WORD).len() >= MIN_SCRUBBED);
        let text = v.to_string();
        for s in ["p@ss", "pw-4411", "K1-4411", "T1-4411", "K2-4411", "S1-4411", "P1-4411", "U1-4411"] {
            assert!(!text.contains(s), "{s} in {text}");
            assert!(secrets.iter().any(|x| x.contains(s)), "{s} remembered");
        }
        assert_eq!(
            v["notifiers"]["sms"][0]["url"],
            "https://%5Bredacted%5D:%5Bredacted%5D@sms.example/[redacted]?key=%5Bredacted%5D&to=%5Bredacted%5D"
        );
        assert_eq!(v["notifiers"]["webhooks"][0]["url"], "https://hook.example/[redacted]");
        assert_eq!(v["notifiers"]["webhooks"][1]["url"], "https://hooks.example:8443/[redacted]");
        assert_eq!(v["notifiers"]["webhooks"][2]["url"], "https://%5Bredacted%5D@api.example/");
        assert_eq!(v["session"]["cookie_name"], "gatehouse_session");
        assert_eq!(
            scrub("401 from sms.example: bad key K1-4411 (Bearer T1-4411), to x", &secrets),
            "401 from sms.example: bad key [redacted] ([redacted]), to x"
        );
        // The provider's own words stay readable: `/send` is scrubbed as a whole word only; the
        // URL is still hidden.
        assert_eq!(
            scrub("error sending request for url (https://sms.example/send?key=K1-4411&to=x)", &secrets),
            "error sending request for url (https://sms.example[redacted]?key=[redacted]&to=x)"
        );
        assert_eq!(scrub("send failed: send (sending)", &secrets), "[redacted] failed: [redacted] (sending)");
        assert!(secrets.contains(&"P1-4411".to_string()) && secrets.contains(&"/services/T1/B1/P1-4411".to_string()));
    }
}
