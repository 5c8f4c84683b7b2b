//! Path normalisation, done once: the policy judges the result and the gateway forwards exactly
//! that. RFC 3986 §6.2.2 plus what proxies have been bitten by:
//!
//! * `%XX` of an unreserved character is decoded (`%41` → `A`, `%2e` → `.`); other escapes are
//!   kept, with upper-case hex;
//! * an encoded `/`, `\` or NUL, a double encoding (`%25XX`, also when the `XX` only appears
//!   after decoding, as in `%25%32%65`), an invalid escape, escaped bytes that are not
//!   well-formed UTF-8 (overlong `%c0%ae`), a raw `\`, control or non-ASCII byte is refused;
//! * `;parameters` are removed from every segment (`/admin;x/` is `/admin/`);
//! * repeated `/` are merged, `.` and `..` segments removed (never above the root).
//!
//! The result is a fixed point: normalising it again changes nothing. Forward-auth mode, where
//! the proxy and not Gatehouse forwards the request, accepts only paths that are already normal
//! ([`require_normal`]).

use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    NotAbsolute,
    EncodedSeparator,
    EncodedNul,
    DoubleEncoding,
    BadEscape,
    BadByte,
    /// Forward-auth only: normalisation would change the path.
    NotNormal,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "the path must start with `/`",
            PathError::EncodedSeparator => "the path holds an encoded `/` or `\\`",
            PathError::EncodedNul => "the path holds an encoded NUL",
            PathError::DoubleEncoding => "the path holds a double-encoded escape (`%25XX`)",
            PathError::BadEscape => "the path holds an invalid percent escape",
            PathError::BadByte => "the path holds a backslash, control or non-ASCII character",
            PathError::NotNormal => {
                "the path is not in normal form (dot segments, `//`, `;` parameters, needless or \
                 lower-case escapes): the proxy forwards it as sent, so request the normal form"
            }
        })
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Whether the path is certainly already normal: only safe characters, no `//`, no dot
/// segment. The common case costs one pass and no allocation.
fn already_normal(p: &[u8]) -> bool {
    let mut prev = 0u8;
    for (i, &b) in p.iter().enumerate() {
        match b {
            b'%' | b';' | b'\\' => return false,
            b'/' if prev == b'/' => return false,
            b'.' if prev == b'/' => {
                let next = p.get(i + 1).copied();
                if matches!(next, None | Some(b'/') | Some(b'.')) {
                    return false;
                }
            }
            0..=0x20 | 0x7f..=0xff => return false,
            _ => {}
        }
        prev = b;
    }
    true
}

/// Escaped bytes above 0x7f, one run at a time: a run must be well-formed UTF-8. An overlong
/// form (`%c0%ae` for `.`, `%c0%af` for `/`) or a stray byte is refused, since a lenient
/// decoder in the app would read a dot or a separator that was never judged as one.
#[derive(Default)]
struct Utf8Run {
    bytes: [u8; 4],
    len: usize,
    /// Bytes the sequence begun by `bytes[0]` still needs.
    needed: usize,
}

impl Utf8Run {
    fn push(&mut self, b: u8) -> Result<(), PathError> {
        if self.len == 0 {
            self.needed = match b {
                0xc2..=0xdf => 1,
                0xe0..=0xef => 2,
                0xf0..=0xf4 => 3,
                _ => return Err(PathError::BadEscape),
            };
        } else if self.needed == 0 {
            self.end()?;
            return self.push(b);
        } else {
            self.needed -= 1;
        }
        self.bytes[self.len] = b;
        self.len += 1;
        Ok(())
    }

    fn end(&mut self) -> Result<(), PathError> {
        let whole = self.len == 0 || std::str::from_utf8(&self.bytes[..self.len]).is_ok();
        *self = Utf8Run::default();
        if whole {
            Ok(())
        } else {
            Err(PathError::BadEscape)
        }
    }
}

/// Normalises the path of a request target (the part before `?`).
pub fn normalize_path(raw: &str) -> Result<Cow<'_, str>, PathError> {
    let p = raw.as_bytes();
    if p.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    if already_normal(p) {
        return Ok(Cow::Borrowed(raw));
    }
    let decoded = decode(p)?;
    remove_dot_segments(&decoded).map(Cow::Owned)
}

/// Step 1: decodes unreserved escapes, refuses dangerous ones, drops `;params`.
#[inline]
fn decode(p: &[u8]) -> Result<Vec<u8>, PathError> {
    let mut decoded: Vec<u8> = Vec::with_capacity(p.len());
    let mut i = 0;
    let mut in_params = false;
    // The escaped bytes above 0x7f of the current run of escapes: they must spell UTF-8.
    let mut high = Utf8Run::default();
    while i < p.len() {
        let b = p[i];
        if b != b'%' {
            high.end()?;
        }
        match b {
            b'%' => {
                let v = decode_escape(p, i, &mut high)?;
                if !in_params {
                    if unreserved(v) {
                        decoded.push(v);
                    } else {
                        decoded.push(b'%');
                        decoded.push(p[i + 1].to_ascii_uppercase());
                        decoded.push(p[i + 2].to_ascii_uppercase());
                    }
                }
                i += 3;
                continue;
            }
            b'\\' | 0..=0x20 | 0x7f..=0xff => return Err(PathError::BadByte),
            b';' => in_params = true,
            b'/' => {
                in_params = false;
                decoded.push(b'/');
            }
            _ if in_params => {}
            _ => decoded.push(b),
        }
        i += 1;
    }

    high.end()?;

    // Decoding may not create an escape: `%25` followed by what decoded to two hex digits
    // (`%25%32%65` → `%252e`) would decode differently the next time.
    if decoded.windows(5).any(|w| w[..3] == *b"%25" && hex(w[3]).is_some() && hex(w[4]).is_some()) {
        return Err(PathError::DoubleEncoding);
    }
    Ok(decoded)
}

/// The byte the escape at `p[i]` (a `%`) stands for, when it may stand in a path.
#[inline]
fn decode_escape(p: &[u8], i: usize, high: &mut Utf8Run) -> Result<u8, PathError> {
    let (Some(h), Some(l)) = (p.get(i + 1).and_then(|&c| hex(c)), p.get(i + 2).and_then(|&c| hex(c))) else {
        return Err(PathError::BadEscape);
    };
    let v = h * 16 + l;
    if v >= 0x80 {
        high.push(v)?;
    } else {
        high.end()?;
    }
    match v {
        b'/' | b'\\' => Err(PathError::EncodedSeparator),
        0 => Err(PathError::EncodedNul),
        b'%' if p.get(i + 3).and_then(|&c| hex(c)).is_some() && p.get(i + 4).and_then(|&c| hex(c)).is_some() => {
            Err(PathError::DoubleEncoding)
        }
        _ => Ok(v),
    }
}

/// Step 2: merges slashes and removes dot segments, segment by segment.
#[inline]
fn remove_dot_segments(decoded: &[u8]) -> Result<String, PathError> {
    let mut out: Vec<&[u8]> = Vec::new();
    let trailing = decoded.ends_with(b"/") || decoded.ends_with(b"/.") || decoded.ends_with(b"/..");
    for seg in decoded.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut s = String::with_capacity(decoded.len());
    for seg in &out {
        s.push('/');
        // Only ASCII reaches here.
        s.push_str(std::str::from_utf8(seg).map_err(|_| PathError::BadByte)?);
    }
    if s.is_empty() || trailing {
        s.push('/');
    }
    Ok(s)
}

/// For forward-auth mode, where the proxy forwards the raw path: accepted only when
/// normalisation leaves it unchanged, so that what is judged is what the app receives.
pub fn require_normal(raw: &str) -> Result<(), PathError> {
    if normalize_path(raw)? == raw {
        Ok(())
    } else {
        Err(PathError::NotNormal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(p: &str) -> Result<String, PathError> {
        normalize_path(p).map(|c| c.into_owned())
    }

    #[test]
    fn ordinary_paths_are_borrowed() {
        assert!(matches!(normalize_path("/wiki/page-1.html").unwrap(), Cow::Borrowed(_)));
        assert!(matches!(normalize_path("/").unwrap(), Cow::Borrowed(_)));
        assert!(matches!(normalize_path("/a/.hidden").unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn dot_segments() {
        assert_eq!(n("/public/../admin").unwrap(), "/admin");
        assert_eq!(n("/public/./x").unwrap(), "/public/x");
        assert_eq!(n("/../../etc/passwd").unwrap(), "/etc/passwd");
        assert_eq!(n("/a/b/..").unwrap(), "/a/");
        assert_eq!(n("/a/.").unwrap(), "/a/");
        assert_eq!(n("/a/...").unwrap(), "/a/...");
    }

    #[test]
    fn encoded_dots_are_dots() {
        assert_eq!(n("/public/%2e%2e/admin").unwrap(), "/admin");
        assert_eq!(n("/public/%2E%2E/admin").unwrap(), "/admin");
        assert_eq!(n("/public/.%2e/admin").unwrap(), "/admin");
        assert_eq!(n("/%61dmin").unwrap(), "/admin");
    }

    #[test]
    fn repeated_slashes() {
        assert_eq!(n("//admin").unwrap(), "/admin");
        assert_eq!(n("/public//..//admin").unwrap(), "/admin");
        assert_eq!(n("/a///b/").unwrap(), "/a/b/");
    }

    #[test]
    fn refused() {
        assert_eq!(n("/public%2f..%2fadmin"), Err(PathError::EncodedSeparator));
        assert_eq!(n("/public%2F..%2Fadmin"), Err(PathError::EncodedSeparator));
        assert_eq!(n("/public%5c..%5cadmin"), Err(PathError::EncodedSeparator));
        assert_eq!(n("/public\\..\\admin"), Err(PathError::BadByte));
        assert_eq!(n("/a%00b"), Err(PathError::EncodedNul));
        assert_eq!(n("/a%zz"), Err(PathError::BadEscape));
        assert_eq!(n("/a%2"), Err(PathError::BadEscape));
        assert_eq!(n("/public/%252e%252e/admin"), Err(PathError::DoubleEncoding));
        assert_eq!(n("/a b"), Err(PathError::BadByte));
        assert_eq!(n("admin"), Err(PathError::NotAbsolute));
        assert_eq!(n(""), Err(PathError::NotAbsolute));
        assert_eq!(n("/caf\u{e9}"), Err(PathError::BadByte));
    }

    /// `%c0%ae` is an overlong `.`, `%c0%af` an overlong `/`: decoders that accept them (old
    /// Tomcat, IIS) would serve `/admin` for a path judged as under `/public`.
    #[test]
    fn escapes_above_ascii_must_spell_utf8() {
        for bad in [
            "/public/%c0%ae%c0%ae/admin",
            "/public/%c0%af..%c0%afadmin",
            "/public/%e0%80%ae",
            "/a%ff",
            "/a%80",
            "/a%c3",
            "/a%c3/",
            "/a%c3%a9%a9",
            "/a%ed%a0%80",
            "/a%f8%88%80%80%80",
        ] {
            assert_eq!(n(bad), Err(PathError::BadEscape), "{bad}");
        }
        assert_eq!(n("/caf%c3%a9").unwrap(), "/caf%C3%A9");
        assert_eq!(n("/%e2%82%ac%e2%82%ac/%F0%9F%98%80").unwrap(), "/%E2%82%AC%E2%82%AC/%F0%9F%98%80");
        assert_eq!(n("/caf%c3%a9%41").unwrap(), "/caf%C3%A9A");
        assert_eq!(require_normal("/caf%C3%A9"), Ok(()));
    }

    #[test]
    fn parameters_are_removed() {
        assert_eq!(n("/admin;jsessionid=1").unwrap(), "/admin");
        assert_eq!(n("/public;/../admin").unwrap(), "/admin");
        assert_eq!(n("/public/..;/admin").unwrap(), "/admin");
        assert_eq!(n("/a;x=1/b;y").unwrap(), "/a/b");
    }

    #[test]
    fn other_escapes_kept_upper_case() {
        assert_eq!(n("/a%20b").unwrap(), "/a%20b");
        assert_eq!(n("/a%3fb").unwrap(), "/a%3Fb");
        assert_eq!(n("/100%25").unwrap(), "/100%25");
    }

    #[test]
    fn case_is_kept() {
        // Paths are case-sensitive (RFC 3986); policies use `(?i)` for case-insensitive apps.
        assert_eq!(n("/ADMIN/./x").unwrap(), "/ADMIN/x");
    }

    #[test]
    fn decoding_never_creates_an_escape() {
        assert_eq!(n("/%25%32%65"), Err(PathError::DoubleEncoding));
        assert_eq!(n("/a/%25%32%65%25%32%65/b"), Err(PathError::DoubleEncoding));
        assert_eq!(n("/%25%34%31"), Err(PathError::DoubleEncoding));
        assert_eq!(n("/%252e"), Err(PathError::DoubleEncoding));
        // A `%25` not followed by two hex digits after decoding stays.
        assert_eq!(n("/%25%7e").unwrap(), "/%25~");
        assert_eq!(n("/%25%3f").unwrap(), "/%25%3F");
    }

    /// Tokens that exercise every rule: dots raw and encoded, separators, parameters,
    /// escapes of every kind and case, and the pieces of a double encoding.
    const TOKENS: [&str; 28] = [
        "/", "//", ".", "..", "%2e", "%2E", "%2e%2e", ";", ";x=1", "a", "B", "2", "e", "F", "%", "%25", "%32", "%65",
        "%41", "%3f", "%3F", "%20", "%7e", "~", "%2f", "%5c", "%00", "%zz",
    ];

    fn check_fixed_point(raw: &str) {
        if let Ok(once) = normalize_path(raw) {
            let twice = normalize_path(&once);
            assert_eq!(twice.as_deref(), Ok(&*once), "not idempotent: {raw:?} → {once:?} → {twice:?}");
            assert_eq!(require_normal(&once), Ok(()), "{raw:?} → {once:?}");
        }
    }

    #[test]
    fn normalisation_is_idempotent() {
        // Every sequence of up to three tokens after a leading `/`...
        for a in TOKENS {
            for b in TOKENS {
                for c in TOKENS {
                    check_fixed_point(&format!("/{a}{b}{c}"));
                }
            }
        }
        // ...and many longer ones from a fixed-seed generator (deterministic).
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        for _ in 0..50_000 {
            let len = 4 + next() % 9;
            let mut raw = String::from("/");
            for _ in 0..len {
                raw.push_str(TOKENS[next() % TOKENS.len()]);
            }
            check_fixed_point(&raw);
        }
    }

    #[test]
    fn forward_auth_accepts_only_normal_paths() {
        for ok in ["/", "/public/x", "/a/.hidden", "/a%20b", "/a%3Fb", "/100%25", "/a/...", "/a/b/"] {
            assert_eq!(require_normal(ok), Ok(()), "{ok}");
        }
        for changed in [
            "/admin/..;/public/x",
            "/admin/../public/x",
            "/admin/%2e%2e/public/x",
            "/admin/%2E%2E/public/x",
            "/admin//../public/x",
            "//public/x",
            "/public/./x",
            "/public/x/.",
            "/public;x=1/y",
            "/public/%78",
            "/%7epublic",
            "/a%3fb",
        ] {
            assert_eq!(require_normal(changed), Err(PathError::NotNormal), "{changed}");
        }
        // What normalisation refuses is refused with its own reason.
        assert_eq!(require_normal("/public%2f..%2fadmin"), Err(PathError::EncodedSeparator));
        assert_eq!(require_normal("public"), Err(PathError::NotAbsolute));
    }
}
