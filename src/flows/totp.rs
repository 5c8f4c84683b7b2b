//! TOTP (RFC 6238) on the `totp-rs` crate, which computes the codes, encodes the secrets in
//! base32 and writes the `otpauth://` URI. Ours: the configured shape, the ±skew window (at most
//! one step) that says WHICH step a code matched, and replay refusal — a code, and every code of
//! an earlier step, is accepted once (the last accepted step is stored with the user).
//! Nothing here reads the clock: every check takes `now` (unix seconds).

use crate::config::TotpConfig;
pub use crate::domain::TotpAlgorithm as Algorithm;
use crate::store::TotpState;
use subtle::ConstantTimeEq;

/// The crate's name for `a`.
fn of_crate(a: Algorithm) -> totp_rs::Algorithm {
    match a {
        Algorithm::Sha1 => totp_rs::Algorithm::SHA1,
        Algorithm::Sha256 => totp_rs::Algorithm::SHA256,
        Algorithm::Sha512 => totp_rs::Algorithm::SHA512,
    }
}

/// Most steps of clock skew accepted either side of now (RFC 6238 §5.2 recommends one).
pub const MAX_SKEW: u64 = 1;

#[derive(Clone)]
pub struct Totp {
    inner: totp_rs::Totp,
}

impl std::fmt::Debug for Totp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Totp")
            .field("digits", &self.inner.digits())
            .field("period", &self.inner.step())
            .field("skew", &self.inner.skew())
            .finish_non_exhaustive()
    }
}

/// A new secret: 160 random bits (the size RFC 4226 recommends), in base32 as stored.
pub fn new_secret_base32() -> String {
    totp_rs::Secret::from(rand::random::<[u8; 20]>()).to_base32()
}

/// Why a code was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The stored secret does not make an authenticator (not base32, or under 128 bits).
    BadSecret,
    /// Wrong, outside the window, or of a step at or before the last one accepted.
    WrongCode,
}

/// Checks `code` against the authenticator `state` at `now` with the configured shape and, when
/// it is accepted, records its step in `state` (no replay).
pub fn accept(config: &TotpConfig, state: &mut TotpState, code: &str, now: u64) -> Result<u64, Refused> {
    let totp = Totp::from_config(config, &state.secret).ok_or(Refused::BadSecret)?;
    let step = totp.verify(code, now, state.last_step).ok_or(Refused::WrongCode)?;
    state.last_step = Some(step);
    Ok(step)
}

impl Totp {
    /// `None` when the shape is not RFC-compliant (6–8 digits, a secret of at least 128 bits,
    /// a period of at least a second). The skew is capped at [`MAX_SKEW`].
    pub fn new(secret: Vec<u8>, digits: u32, period: u64, algorithm: Algorithm, skew: u64) -> Option<Totp> {
        let inner = totp_rs::Builder::new()
            .with_algorithm(of_crate(algorithm))
            .with_digits(u8::try_from(digits).ok()?)
            .with_step_duration(period)
            .with_skew(skew.min(MAX_SKEW) as u16)
            .with_secret(secret)
            .build()
            .ok()?;
        Some(Totp { inner })
    }

    /// The configured shape (`totp:` in the configuration) with this base32 secret.
    pub fn from_config(c: &TotpConfig, secret_b32: &str) -> Option<Totp> {
        let secret = totp_rs::Secret::try_from_base32(secret_b32).ok()?;
        Totp::new(secret.as_bytes().to_vec(), c.digits, c.period, c.algorithm, c.skew)
    }

    pub fn secret_base32(&self) -> String {
        self.inner.secret().to_base32()
    }

    /// The code of the time step holding `unix_secs`.
    pub fn code_at(&self, unix_secs: u64) -> String {
        self.inner.generate(unix_secs).to_string()
    }

    pub fn step_of(&self, unix_secs: u64) -> u64 {
        unix_secs / self.inner.step()
    }

    /// The step `code` matches within ±skew steps of `now`, refusing every step at or before
    /// `last_accepted` (a code, and every code of an earlier step, is accepted once).
    pub fn verify(&self, code: &str, now: u64, last_accepted: Option<u64>) -> Option<u64> {
        let code = code.trim().as_bytes();
        let (current, skew) = (self.step_of(now), u64::from(self.inner.skew()));
        let mut found = None;
        // Compare against every candidate step, whatever matches, so timing says nothing.
        for step in current.saturating_sub(skew)..=current.saturating_add(skew) {
            let expected = self.code_at(step.saturating_mul(self.inner.step()));
            let ok: bool = expected.as_bytes().ct_eq(code).into();
            if ok && last_accepted.is_none_or(|last| step > last) && found.is_none() {
                found = Some(step);
            }
        }
        found
    }

    /// `otpauth://totp/Issuer:account?secret=…&issuer=…` (with `digits`, `algorithm` and
    /// `period` when they are not the defaults 6, SHA1 and 30). `None` when the issuer or the
    /// account holds a `:` or the account is empty (the Key URI format forbids both).
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> Option<String> {
        let i = &self.inner;
        let labelled = totp_rs::Builder::new()
            .with_algorithm(i.algorithm())
            .with_digits(i.digits())
            .with_step_duration(i.step())
            .with_secret(i.secret().clone())
            .with_issuer(Some(issuer))
            .with_account_name(account)
            .build()
            .ok()?;
        labelled.to_url().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed instant (2023-11-14T22:13:20Z): no test here reads the clock.
    const NOW: u64 = 1_700_000_000;

    /// RFC 6238 appendix B: the seeds are ASCII "1234567890" repeated to the hash's size.
    fn rfc(alg: Algorithm) -> Totp {
        let seed: &[u8] = match alg {
            Algorithm::Sha1 => b"12345678901234567890",
            Algorithm::Sha256 => b"12345678901234567890123456789012",
            Algorithm::Sha512 => b"1234567890123456789012345678901234567890123456789012345678901234",
        };
        Totp::new(seed.to_vec(), 8, 30, alg, 1).unwrap()
    }

    fn random(skew: u64) -> Totp {
        Totp::from_config(&TotpConfig { skew, ..TotpConfig::default() }, &new_secret_base32()).unwrap()
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
            for (alg, code) in [(Algorithm::Sha1, sha1), (Algorithm::Sha256, sha256), (Algorithm::Sha512, sha512)] {
                let totp = rfc(alg);
                assert_eq!(totp.code_at(t), code, "{alg:?} at {t}");
                assert_eq!(totp.verify(code, t, None), Some(t / 30), "{alg:?} at {t}");
            }
        }
    }

    #[test]
    fn rfc_4226_appendix_d() {
        // HOTP counter c is the TOTP step c of a 30-second period.
        let h = Totp::new(b"12345678901234567890".to_vec(), 6, 30, Algorithm::Sha1, 0).unwrap();
        let expected =
            ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
        for (count, code) in expected.iter().enumerate() {
            assert_eq!(h.code_at(count as u64 * 30), *code);
        }
    }

    #[test]
    fn the_skew_window_is_one_step_either_side_exactly() {
        let t = random(1);
        let step = t.step_of(NOW);
        for (offset, accepted) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = t.code_at(NOW.saturating_add_signed(offset * 30));
            let want = accepted.then_some(step.saturating_add_signed(offset));
            assert_eq!(t.verify(&code, NOW, None), want, "{offset} steps");
        }
        let none = random(0);
        assert_eq!(none.verify(&none.code_at(NOW), NOW, None), Some(none.step_of(NOW)));
        assert_eq!(none.verify(&none.code_at(NOW - 30), NOW, None), None, "no skew: the previous step");
        assert_eq!(none.verify(&none.code_at(NOW + 30), NOW, None), None, "no skew: the next step");
        // A larger skew is capped at one step.
        let wide = random(5);
        assert_eq!(wide.verify(&wide.code_at(NOW - 60), NOW, None), None);
        // The step boundary: the last second of a step and the first of the next.
        let edge = NOW - NOW % 30;
        let two_back = t.code_at(edge - 31);
        assert_eq!(t.verify(&two_back, edge + 29, None), None, "two steps back, at the step's last second");
        assert_eq!(t.verify(&two_back, edge - 1, None), Some(t.step_of(edge) - 2), "one step back, a second earlier");
    }

    #[test]
    fn a_code_is_accepted_once_and_earlier_steps_never_after_a_later_one() {
        let secret = new_secret_base32();
        let config = TotpConfig::default();
        let t = Totp::from_config(&config, &secret).unwrap();
        let mut state = TotpState { secret, confirmed: true, last_step: None };
        let step = t.step_of(NOW);
        assert_eq!(accept(&config, &mut state, &t.code_at(NOW), NOW), Ok(step));
        assert_eq!(state.last_step, Some(step));
        assert_eq!(accept(&config, &mut state, &t.code_at(NOW), NOW), Err(Refused::WrongCode), "the same code twice");
        assert_eq!(accept(&config, &mut state, &t.code_at(NOW), NOW + 29), Err(Refused::WrongCode), "later, same step");
        assert_eq!(
            accept(&config, &mut state, &t.code_at(NOW - 30), NOW),
            Err(Refused::WrongCode),
            "an earlier step after a later one"
        );
        assert_eq!(state.last_step, Some(step), "a refused code records nothing");
        // The next step's code is accepted once, then everything up to it is refused.
        assert_eq!(accept(&config, &mut state, &t.code_at(NOW + 30), NOW), Ok(step + 1));
        assert_eq!(accept(&config, &mut state, &t.code_at(NOW + 30), NOW + 30), Err(Refused::WrongCode));
        assert_eq!(accept(&config, &mut state, &t.code_at(NOW + 60), NOW + 30), Ok(step + 2));
    }

    #[test]
    fn malformed_codes_and_secrets_are_refused() {
        let config = TotpConfig::default();
        let t = random(1);
        let code = t.code_at(NOW);
        assert_eq!(t.verify(&format!(" {code}\n"), NOW, None), Some(t.step_of(NOW)), "surrounding blanks");
        for bad in ["", "12345", "1234567", "abcdef", "+12345", "１２３４５６"] {
            assert_eq!(t.verify(bad, NOW, None), None, "{bad:?}");
        }
        for secret in ["not base32!", "", "GEZDGNBVGY3TQOJQ"] {
            let mut state = TotpState { secret: secret.into(), confirmed: true, last_step: None };
            assert_eq!(accept(&config, &mut state, "123456", NOW), Err(Refused::BadSecret), "{secret:?}");
        }
        assert!(Totp::new(vec![0; 20], 9, 30, Algorithm::Sha1, 1).is_none(), "9 digits");
        assert!(Totp::new(vec![0; 20], 6, 0, Algorithm::Sha1, 1).is_none(), "period 0");
        // The far future does not overflow.
        assert!(t.verify(&t.code_at(u64::MAX), u64::MAX, None).is_some());
    }

    #[test]
    fn codes_match_oathtool_at_fixed_instants() {
        let Ok(out) = std::process::Command::new("oathtool").arg("--version").output() else {
            panic!("oathtool is not installed: run scripts/test, which installs it");
        };
        assert!(out.status.success());
        let t = random(0);
        for now in [59, NOW, 2_000_000_000] {
            let out = std::process::Command::new("oathtool")
                .args(["--totp", "-b", &t.secret_base32(), "--now", &format!("@{now}")])
                .output()
                .unwrap();
            let code = String::from_utf8(out.stdout).unwrap();
            assert_eq!(t.verify(code.trim(), now, None), Some(t.step_of(now)), "oathtool said {code} at {now}");
        }
        let sha256 = Totp::new(vec![7; 32], 8, 60, Algorithm::Sha256, 0).unwrap();
        let out = std::process::Command::new("oathtool")
            .args(["--totp=sha256", "--digits=8", "--time-step-size=60", "-b", &sha256.secret_base32()])
            .args(["--now", &format!("@{NOW}")])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), sha256.code_at(NOW));
    }

    #[test]
    fn otpauth_uri() {
        let t = Totp::new(b"12345678901234567890".to_vec(), 6, 30, Algorithm::Sha1, 1).unwrap();
        assert_eq!(
            t.otpauth_uri("Gate House", "alice@example.com").unwrap(),
            "otpauth://totp/Gate%20House:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Gate%20House"
        );
        let t = Totp::new(b"12345678901234567890".to_vec(), 8, 60, Algorithm::Sha256, 1).unwrap();
        assert_eq!(
            t.otpauth_uri("Gatehouse", "bob").unwrap(),
            "otpauth://totp/Gatehouse:bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=8&algorithm=SHA256&issuer=Gatehouse&period=60"
        );
        assert_eq!(t.otpauth_uri("Gate:house", "bob"), None, "a colon would split the label");
        assert_eq!(t.otpauth_uri("Gatehouse", ""), None);
    }
}
