//! Identifier syntax, checked in one place: a plain e-mail addr-spec (stored with its domain in
//! lower case, and mail goes to exactly it), an E.164 mobile number and a username. Pure
//! functions, so the configuration check, the store, the directory and delivery all share them.

/// Longest e-mail address accepted (RFC 5321's path limit less the angle brackets).
const EMAIL_MAX: usize = 254;

/// RFC 5322 `atext`: what a dot-atom local part may hold besides single dots.
fn atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// An ASCII DNS name: at least two labels of letters, digits and inner hyphens (1–63 each, at
/// most 253 in all), the last not all digits (no address literals).
fn valid_domain(d: &str) -> bool {
    let labels: Vec<&str> = d.split('.').collect();
    d.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && labels.last().is_some_and(|t| !t.bytes().all(|b| b.is_ascii_digit()))
}

/// The one check of an e-mail address (registration, CLI, import, control socket, app
/// verifications, delivery): a plain addr-spec `local@domain` and nothing else — no display
/// name, quotes, comments, whitespace, `<`, `>`, `,`, control or non-ASCII characters, address
/// literal or second `@`. The local part is a dot-atom of at most 64 characters; the domain an
/// ASCII DNS name (an international domain in its `xn--` form). Answers the address normalised:
/// surrounding whitespace trimmed, the domain lower-cased (the local part is kept as typed).
pub fn normalize_email(e: &str) -> Result<String, String> {
    let e = e.trim();
    let bad = || {
        format!(
            "`{}` is not an e-mail address: write a plain address, like name@example.com (no name, quotes or brackets)",
            e.escape_debug()
        )
    };
    if e.len() > EMAIL_MAX || !e.is_ascii() {
        return Err(bad());
    }
    let (local, domain) = e.split_once('@').ok_or_else(bad)?;
    let local_ok =
        (1..=64).contains(&local.len()) && local.split('.').all(|atom| !atom.is_empty() && atom.bytes().all(atext));
    if !local_ok || !valid_domain(domain) {
        return Err(bad());
    }
    Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
}

pub fn valid_email(e: &str) -> bool {
    normalize_email(e).is_ok()
}

pub fn valid_mobile(m: &str) -> bool {
    let digits = m.strip_prefix('+').unwrap_or("");
    (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The one check of a username: 1–64 of `a-z 0-9 . _ -`, starting with a letter or a digit,
/// holding at least one letter, and not shaped like a user id (a UUID); upper case is folded to
/// lower case. So a username can never look like an e-mail address (`@`), a mobile number (`+`,
/// digits only) or another account's id, and `Remote-User` names one account only.
pub fn normalize_username(n: &str) -> Result<String, String> {
    let n = n.trim().to_ascii_lowercase();
    let uuid_like = n.len() == 36 && n.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    let ok = (1..=64).contains(&n.len())
        && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
        && n.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && n.bytes().any(|b| b.is_ascii_lowercase())
        && !uuid_like;
    if !ok {
        return Err(format!(
            "`{}` is not a username: use 1 to 64 of a-z, 0-9, `.`, `_` and `-`, starting with a letter or digit and holding a letter",
            n.escape_debug()
        ));
    }
    Ok(n)
}
