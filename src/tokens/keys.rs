//! The access-token signing key: Ed25519, PKCS#8 PEM on disk (mode 0600), created on first
//! start. Its `kid` is derived from the public key, so the same file always yields the same kid.
//! New keys are written in the PKCS#8 v1 form `openssl genpkey -algorithm ed25519` writes (no
//! public key attached), which every common library reads; v2 files (RFC 8410 with the public
//! key) still load.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

pub struct SigningKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    /// Raw public key, for the JWKS.
    pub public: [u8; 32],
    /// Key of the HMACs one-time codes are stored as, derived from the private key: a stolen
    /// store alone does not let anyone test the (few) possible codes.
    pub code_key: [u8; 32],
    /// Key that seals authenticator (TOTP) seeds in the store (HKDF-SHA256 of the private key).
    pub seed_key: [u8; 32],
    /// Key that seals the signing keys kept in the store (HKDF-SHA256 of the private key).
    pub(super) keys_key: [u8; 32],
    /// The private key (to seal it into the store).
    pub(super) secret: zeroize::Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKey {
    fn from_dalek(key: &ed25519_dalek::SigningKey) -> Result<SigningKey, String> {
        let der = key.to_pkcs8_der().map_err(|e| format!("cannot encode the signing key: {e}"))?;
        let public = key.verifying_key().to_bytes();
        let kid = B64.encode(&Sha256::digest(public)[..12]);
        let mut h = Sha256::new();
        h.update(b"gatehouse one-time code key v1\0");
        h.update(key.to_bytes());
        let code_key: [u8; 32] = h.finalize().into();
        let (mut seed_key, mut keys_key) = ([0u8; 32], [0u8; 32]);
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"gatehouse"), &key.to_bytes());
        hk.expand(b"gatehouse totp seed key v1", &mut seed_key)
            .and_then(|()| hk.expand(b"gatehouse signing keys seal v1", &mut keys_key))
            .map_err(|e| format!("cannot derive the seed key: {e}"))?;
        Ok(SigningKey {
            kid,
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            decoding: DecodingKey::from_ed_der(&public),
            public,
            code_key,
            seed_key,
            keys_key,
            secret: zeroize::Zeroizing::new(key.to_bytes()),
        })
    }

    /// The key of these private key bytes.
    pub(super) fn from_secret(secret: &[u8; 32]) -> Result<SigningKey, String> {
        Self::from_dalek(&ed25519_dalek::SigningKey::from_bytes(secret))
    }

    /// A key that lives only in memory (tests, benchmarks).
    pub fn ephemeral() -> SigningKey {
        let key = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        Self::from_dalek(&key).expect("a fresh key encodes")
    }

    /// Loads the PEM at `path`, or creates it (and its directory) when missing.
    pub fn load_or_create(path: &Path) -> Result<SigningKey, String> {
        match read_trusted(path) {
            Ok(pem) => {
                let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
                    format!(
                        "{}: not an Ed25519 PKCS#8 PEM key ({e}); remove it to have a new one created",
                        path.display()
                    )
                })?;
                Self::from_dalek(&key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(path),
            Err(e) => Err(format!("{}: cannot read the signing key ({e})", path.display())),
        }
    }

    fn create(path: &Path) -> Result<SigningKey, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {} ({e})", dir.display()))?;
        }
        let key = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        let pem = v1_pem(&key)?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        match opts.open(path) {
            Ok(mut f) => {
                f.write_all(pem.as_bytes())
                    .and_then(|_| f.sync_all())
                    .map_err(|e| format!("cannot write {} ({e})", path.display()))?;
                tracing::info!(path = %path.display(), "created a new access-token signing key");
                Self::from_dalek(&key)
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load_or_create(path),
            Err(e) => Err(format!("cannot create {} ({e})", path.display())),
        }
    }

    /// The JWK of the public key.
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
            "kid": self.kid, "x": B64.encode(self.public),
        })
    }
}

/// The key file's text, refused when another user could have chosen the key: owned by someone
/// other than us or root (created first in a shared directory), or writable by group or others.
/// Checked on the open file, so it cannot be swapped between check and read.
fn read_trusted(path: &Path) -> std::io::Result<zeroize::Zeroizing<String>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = f.metadata()?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        // Root (an administrator's offline CLI) may read the key of the user owning its directory.
        let dir_owner = || {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            std::fs::metadata(dir).map(|m| m.uid()).ok()
        };
        let owner_ok = meta.uid() == me || meta.uid() == 0 || (me == 0 && dir_owner() == Some(meta.uid()));
        if !owner_ok || meta.mode() & 0o022 != 0 || !meta.is_file() {
            return Err(std::io::Error::other(format!(
                "owned by another user (uid {}) or writable by group or others (mode {:o}): whoever can write it chooses the key; \
                 make it yours and 0600, or remove it to have a new one created",
                meta.uid(),
                meta.mode() & 0o7777
            )));
        }
    }
    let mut pem = zeroize::Zeroizing::new(String::new());
    f.read_to_string(&mut pem)?;
    Ok(pem)
}

/// PKCS#8 v1 PEM (RFC 5958 version 0, no public key): what `openssl genpkey` writes.
fn v1_pem(key: &ed25519_dalek::SigningKey) -> Result<zeroize::Zeroizing<String>, String> {
    let bytes = ed25519_dalek::pkcs8::KeypairBytes { secret_key: key.to_bytes(), public_key: None };
    bytes
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| format!("cannot encode the signing key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_loaded_with_the_same_kid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/key.pem");
        let a = SigningKey::load_or_create(&path).unwrap();
        let b = SigningKey::load_or_create(&path).unwrap();
        assert_eq!(a.kid, b.kid);
        assert_eq!(a.public, b.public);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        std::fs::write(&path, "junk").unwrap();
        assert!(SigningKey::load_or_create(&path).unwrap_err().contains("not an Ed25519"));
    }

    /// In a shared directory another user can create the key file first, with a key they know:
    /// they would then sign every access token they like. Such a file is refused.
    #[cfg(unix)]
    #[test]
    fn a_key_file_another_user_could_choose_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        SigningKey::load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = SigningKey::load_or_create(&path).unwrap_err();
        assert!(e.contains("writable by group or others"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        SigningKey::load_or_create(&path).unwrap();
        // Only root can give a file away; elsewhere there is nothing more to try.
        if std::os::unix::fs::chown(&path, Some(65534), Some(65534)).is_err() {
            return;
        }
        let e = SigningKey::load_or_create(&path).unwrap_err();
        assert!(e.contains("owned by another user (uid 65534)"), "{e}");
    }

    #[test]
    fn written_as_pkcs8_v1_that_openssl_reads_and_v2_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        let a = SigningKey::load_or_create(&path).unwrap();
        let pem = std::fs::read_to_string(&path).unwrap();
        // v1: SEQUENCE of 46 bytes, version 0, no [1] public key.
        let der = ed25519_dalek::pkcs8::spki::der::pem::decode_vec(pem.as_bytes()).unwrap().1;
        assert_eq!(&der[..5], &[0x30, 0x2e, 0x02, 0x01, 0x00], "{pem}");
        assert_eq!(der.len(), 48);
        let out = std::process::Command::new("openssl").args(["pkey", "-noout", "-in"]).arg(&path).output();
        let out = out.expect("openssl is installed (scripts/test installs it)");
        assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));

        // A v2 file (with the public key), as earlier versions wrote, still loads.
        let key = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        let v2 = key.to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF).unwrap();
        let v2_path = dir.path().join("v2.pem");
        std::fs::write(&v2_path, v2.as_bytes()).unwrap();
        let b = SigningKey::load_or_create(&v2_path).unwrap();
        assert_eq!(b.public, key.verifying_key().to_bytes());
        assert_ne!(a.seed_key, b.seed_key);
        assert_ne!(a.seed_key, a.code_key);
    }
}
