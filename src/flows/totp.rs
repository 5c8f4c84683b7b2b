//! TOTP (RFC 6238 over RFC 4226 HOTP): codes, verification with a ±skew window that refuses
//! every step up to the last one accepted (no replay), secrets and `otpauth://` URIs.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn parse(s: &str) -> Option<Algorithm> {
        match s {
            "SHA1" => Some(Algorithm::Sha1),
            "SHA256" => Some(Algorithm::Sha256),
            "SHA512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }
}

#[derive(Clone)]
pub struct Totp {
    secret: Vec<u8>,
    pub digits: u32,
    pub period: u64,
    pub algorithm: Algorithm,
}

impl std::fmt::Debug for Totp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Totp").field("digits", &self.digits).field("period", &self.period).finish_non_exhaustive()
    }
}

fn mac(alg: Algorithm, key: &[u8], msg: &[u8]) -> Vec<u8> {
    macro_rules! run {
        ($h:ty) => {{
            // HMAC accepts keys of any length.
            let mut m = <Hmac<$h> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        }};
    }
    match alg {
        Algorithm::Sha1 => run!(sha1::Sha1),
        Algorithm::Sha256 => run!(sha2::Sha256),
        Algorithm::Sha512 => run!(sha2::Sha512),
    }
}

/// 160 random bits, the size RFC 4226 recommends.
pub fn new_secret() -> Vec<u8> {
    rand::random::<[u8; 20]>().to_vec()
}

impl Totp {
    pub fn new(secret: Vec<u8>, digits: u32, period: u64, algorithm: Algorithm) -> Totp {
        Totp { secret, digits: digits.clamp(6, 8), period: period.max(1), algorithm }
    }

    pub fn secret_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.secret)
    }

    /// The HOTP value of time step `step`.
    pub fn code_at_step(&self, step: u64) -> String {
        let h = mac(self.algorithm, &self.secret, &step.to_be_bytes());
        let offset = (h[h.len() - 1] & 0x0f) as usize;
        let bin = u32::from_be_bytes([h[offset] & 0x7f, h[offset + 1], h[offset + 2], h[offset + 3]]);
        let code = bin % 10u32.pow(self.digits);
        format!("{code:0width$}", width = self.digits as usize)
    }

    pub fn step_of(&self, unix_secs: u64) -> u64 {
        unix_secs / self.period
    }

    /// The step `code` matches within ±`skew` steps of `now`, refusing every step at or before
    /// `last_accepted` (a code, and every code of an earlier step, is accepted once).
    pub fn verify(&self, code: &str, now: u64, skew: u64, last_accepted: Option<u64>) -> Option<u64> {
        let code = code.trim();
        if code.len() != self.digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = self.step_of(now);
        let mut found = None;
        // Compare against every candidate step, whatever matches, so timing says nothing.
        for step in current.saturating_sub(skew)..=current + skew {
            let ok: bool = self.code_at_step(step).as_bytes().ct_eq(code.as_bytes()).into();
            if ok && last_accepted.is_none_or(|last| step > last) && found.is_none() {
                found = Some(step);
            }
        }
        found
    }

    /// `otpauth://totp/Issuer:account?secret=…&issuer=…&algorithm=…&digits=…&period=…`.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20");
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm={}&digits={}&period={}",
            enc(issuer),
            enc(account),
            self.secret_base32(),
            enc(issuer),
            self.algorithm.name(),
            self.digits,
            self.period
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B: the seeds are ASCII "1234567890" repeated to the hash's size.
    fn rfc(alg: Algorithm) -> Totp {
        let seed: &[u8] = match alg {
            Algorithm::Sha1 => b"12345678901234567890",
            Algorithm::Sha256 => b"12345678901234567890123456789012",
            Algorithm::Sha512 => b"1234567890123456789012345678901234567890123456789012345678901234",
        };
        Totp::new(seed.to_vec(), 8, 30, alg)
    }

    #[test]
    fn rfc_6238_appendix_b() {
        let cases: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (t, sha1, sha256, sha512) in cases {
            assert_eq!(rfc(Algorithm::Sha1).code_at_step(t / 30), sha1, "SHA1 at {t}");
            assert_eq!(rfc(Algorithm::Sha256).code_at_step(t / 30), sha256, "SHA256 at {t}");
            assert_eq!(rfc(Algorithm::Sha512).code_at_step(t / 30), sha512, "SHA512 at {t}");
        }
    }

    #[test]
    fn rfc_4226_appendix_d() {
        let h = Totp::new(b"12345678901234567890".to_vec(), 6, 30, Algorithm::Sha1);
        let expected =
            ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
        for (count, code) in expected.iter().enumerate() {
            assert_eq!(h.code_at_step(count as u64), *code);
        }
    }

    #[test]
    fn skew_and_replay() {
        let t = Totp::new(new_secret(), 6, 30, Algorithm::Sha1);
        let now = 1_700_000_000;
        let step = t.step_of(now);
        let code = t.code_at_step(step);
        assert_eq!(t.verify(&code, now, 1, None), Some(step));
        assert_eq!(t.verify(&code, now, 1, Some(step)), None, "the same code twice");
        let previous = t.code_at_step(step - 1);
        assert_eq!(t.verify(&previous, now, 1, None), Some(step - 1), "one step of skew");
        assert_eq!(t.verify(&previous, now, 1, Some(step)), None, "an earlier step after a later one");
        assert_eq!(t.verify(&t.code_at_step(step - 2), now, 1, None), None, "outside the window");
        assert_eq!(t.verify(&t.code_at_step(step + 1), now, 0, None), None, "no skew");
        assert_eq!(t.verify("12345", now, 1, None), None);
        assert_eq!(t.verify("abcdef", now, 1, None), None);
    }

    #[test]
    fn codes_match_oathtool() {
        let Ok(out) = std::process::Command::new("oathtool").arg("--version").output() else {
            panic!("oathtool is not installed: run scripts/test, which installs it");
        };
        assert!(out.status.success());
        let t = Totp::new(new_secret(), 6, 30, Algorithm::Sha1);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let out = std::process::Command::new("oathtool")
            .args(["--totp", "-b", &t.secret_base32(), "--now", &format!("@{now}")])
            .output()
            .unwrap();
        let code = String::from_utf8(out.stdout).unwrap();
        assert_eq!(t.verify(code.trim(), now, 0, None), Some(t.step_of(now)), "oathtool said {code}");
    }

    #[test]
    fn otpauth_uri() {
        let t = Totp::new(b"12345678901234567890".to_vec(), 6, 30, Algorithm::Sha1);
        assert_eq!(
            t.otpauth_uri("Gate House", "alice@example.com"),
            "otpauth://totp/Gate%20House:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Gate%20House&algorithm=SHA1&digits=6&period=30"
        );
    }
}
