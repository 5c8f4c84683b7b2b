//! Signing and verifying access JWTs. The verifier fixes the algorithm (EdDSA) and the type
//! (`at+jwt`), looks the key up by `kid` among our own keys only (never `jku`/`x5u`), and
//! requires `iss`, `aud`, `exp` and `sub`.
//!
//! Two audiences: a sign-in's token names its tenant (`aud` = `tid`); a token minted for one
//! app on a `pass_access_token` route names that app (`aud` = `app` = the app's id), so the app
//! cannot replay it as the user anywhere else (the resolver accepts it on that app's routes only).
//! An administrator's token (an admin sign-in's, `token issue --admin`) names
//! [`ADMIN_AUDIENCE`]: it counts on the admin API only, and an app checking `aud` against its
//! tenant refuses it.

use super::keys::SigningKey;
use super::ring::{KeyRing, Ring, SIGN_RECHECK_MS, UNKNOWN_KID_RECHECK_MS};
use crate::clock::now_secs;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

pub const ACCESS_TYP: &str = "at+jwt";

/// The `aud` of an administrator's token: the admin scope, for `/auth/admin/api` only.
pub const ADMIN_AUDIENCE: &str = "gatehouse:admin";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    pub nbf: u64,
    pub jti: String,
    pub sid: String,
    pub tid: String,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub amr: Vec<crate::domain::Amr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// The app this token was minted for (then `aud` is the same id); absent on a sign-in's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The apps the user is assigned to when the token was issued (`apps[].require_assignment`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<String>,
}

/// Whom an access token is for (its `aud`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience<'a> {
    /// A sign-in's token: `aud` is the tenant.
    Tenant,
    /// A token minted for one app: `aud` and `app` are the app's id (see the module docs).
    App(&'a str),
    /// An administrator's token: `aud` is [`ADMIN_AUDIENCE`] (`tid` still names the tenant).
    Admin,
}

/// What an access token says about its user, besides ids, times and audience.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserClaims {
    pub groups: Vec<String>,
    pub scopes: Vec<String>,
    pub amr: Vec<crate::domain::Amr>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub preferred_username: Option<String>,
    pub apps: Vec<String>,
}

impl UserClaims {
    /// A stored user's, signed in with `amr`: only a proved e-mail, and `Remote-User`
    /// ([`crate::store::User::display_user`]) as `preferred_username`.
    pub fn of_user(u: &crate::store::User, amr: Vec<crate::domain::Amr>, scopes: Vec<String>) -> UserClaims {
        UserClaims {
            groups: u.groups.clone(),
            scopes,
            amr,
            email: u.verified_email().map(str::to_string),
            name: u.name.clone(),
            preferred_username: Some(u.display_user()),
            apps: u.apps.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's type or algorithm is not an access token's")]
    WrongType,
    #[error("the token was signed by an unknown key")]
    UnknownKey,
    #[error("the token's signature or claims are invalid")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the token belongs to another tenant")]
    WrongTenant,
    #[error("the token's audience is not its tenant or the app it names")]
    WrongAudience,
}

/// Signs with the current key and verifies with any of ours still in its window (see `ring`).
pub struct Tokens {
    pub issuer: String,
    pub(super) keys: std::sync::Arc<KeyRing>,
    validation: Validation,
}

impl Tokens {
    pub fn new(issuer: &str, key: SigningKey) -> Tokens {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "nbf"]);
        validation.validate_nbf = true;
        // The audience is the tenant, which depends on the request: checked by `verify`.
        validation.validate_aud = false;
        validation.leeway = 5;
        let keys = std::sync::Arc::new(KeyRing::new(key).expect("a loaded key re-encodes"));
        Tokens { issuer: issuer.to_string(), keys, validation }
    }

    /// The key file's key: the code and seed keys derive from it (they do not change when the
    /// signing key rotates).
    pub fn root(&self) -> &SigningKey {
        &self.keys.root
    }

    /// Signing keys from now on live in `store` (see `ring`); the key file's is imported first.
    pub fn attach(&self, store: std::sync::Arc<crate::store::Store>) -> Result<(), String> {
        self.keys.attach(store, now_secs())
    }

    /// Starts a new signing key; the current one verifies for `overlap_secs` more.
    pub fn rotate(&self, overlap_secs: u64) -> Result<Vec<crate::store::StoredSigningKey>, String> {
        self.keys.rotate(overlap_secs, now_secs())
    }

    /// The stored signing keys, oldest first (none when no store is attached).
    pub fn stored_keys(&self) -> Result<Vec<crate::store::StoredSigningKey>, String> {
        self.keys.stored()
    }

    /// Changes whenever the signing keys in effect change (caches of verified tokens key on it).
    pub fn key_generation(&self) -> u64 {
        self.keys.generation()
    }

    /// The `kid` tokens are signed with now.
    pub fn signing_kid(&self) -> String {
        self.keys.load().keys[0].key.kid.clone()
    }

    pub fn jwks(&self) -> serde_json::Value {
        let now = now_secs();
        let ring = self.keys.load();
        let keys: Vec<_> = ring.keys.iter().filter(|k| k.live(now)).map(|k| k.key.jwk()).collect();
        serde_json::json!({ "keys": keys })
    }

    pub fn sign(&self, claims: &AccessClaims) -> Result<String, TokenError> {
        self.keys.refresh_at_most_every(SIGN_RECHECK_MS, now_secs());
        let ring = self.keys.load();
        let key = &ring.keys[0].key;
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TYP.into());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding).map_err(|_| TokenError::Invalid)
    }

    /// Verifies signature, type, issuer, times, and that the token is for `tenant`. A token of
    /// a previous key comes back with `exp` no later than the end of that key's window.
    pub fn verify(&self, token: &str, tenant: &str) -> Result<AccessClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA || header.typ.as_deref() != Some(ACCESS_TYP) {
            return Err(TokenError::WrongType);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let now = now_secs();
        let find = |ring: &Ring| ring.keys.iter().position(|k| k.key.kid == kid && k.live(now));
        // A key retired elsewhere, or one this replica has not seen yet: read the keys again
        // (rate-limited, and in the background on a runtime: this answer is the keys at hand;
        // verified tokens are cached, so this is not every request's work).
        let gap = if self.keys.load().keys.iter().any(|k| k.key.kid == kid) {
            SIGN_RECHECK_MS
        } else {
            UNKNOWN_KID_RECHECK_MS
        };
        self.keys.refresh_at_most_every(gap, now);
        let ring = self.keys.load();
        let at = find(&ring).ok_or(TokenError::UnknownKey)?;
        let key = &ring.keys[at].key;
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &self.validation).map_err(|e| match e
            .kind()
        {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        })?;
        let mut c = data.claims;
        // A token counts no longer than its key does (callers cache it until `exp`).
        if let Some(until) = ring.keys[at].valid_until {
            c.exp = c.exp.min(until);
        }
        if c.tid != tenant {
            return Err(TokenError::WrongTenant);
        }
        let audience_ok = match &c.app {
            None => c.aud == tenant || c.aud == ADMIN_AUDIENCE,
            Some(app) => !app.is_empty() && c.aud == *app,
        };
        if !audience_ok {
            return Err(TokenError::WrongAudience);
        }
        Ok(c)
    }

    /// The claims of a new access token: the one place they are built (sign-ins, `gatehouse
    /// token issue` and the tokens minted for apps all come here), valid `ttl_secs` from now.
    pub fn claims(
        &self,
        user_id: &str,
        tenant: &str,
        session_id: &str,
        audience: Audience,
        ttl_secs: u64,
        user: UserClaims,
    ) -> AccessClaims {
        let now = now_secs();
        let (aud, app) = match audience {
            Audience::Tenant => (tenant.to_string(), None),
            Audience::App(app) => (app.to_string(), Some(app.to_string())),
            Audience::Admin => (ADMIN_AUDIENCE.to_string(), None),
        };
        AccessClaims {
            iss: self.issuer.clone(),
            sub: user_id.to_string(),
            aud,
            exp: now + ttl_secs,
            iat: now,
            nbf: now,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: session_id.to_string(),
            tid: tenant.to_string(),
            groups: user.groups,
            scopes: user.scopes,
            amr: user.amr,
            email: user.email,
            name: user.name,
            preferred_username: user.preferred_username,
            app,
            apps: user.apps,
        }
    }

    /// [`Tokens::claims`] for the tenant, with no user facts (tests fill them in).
    pub fn claims_for(&self, user_id: &str, tenant: &str, session_id: &str, ttl_secs: u64) -> AccessClaims {
        self.claims(user_id, tenant, session_id, Audience::Tenant, ttl_secs, UserClaims::default())
    }

    /// Claims for a token minted for one app: `aud` names the app (see the module docs).
    pub fn claims_for_app(
        &self,
        user_id: &str,
        tenant: &str,
        session_id: &str,
        app: &str,
        ttl_secs: u64,
    ) -> AccessClaims {
        self.claims(user_id, tenant, session_id, Audience::App(app), ttl_secs, UserClaims::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;

    fn tokens() -> Tokens {
        Tokens::new("http://issuer", SigningKey::ephemeral())
    }

    #[test]
    fn round_trip() {
        let t = tokens();
        let mut c = t.claims_for("u1", "default", "s1", 60);
        c.groups = vec!["admins".into()];
        let jwt = t.sign(&c).unwrap();
        assert_eq!(t.verify(&jwt, "default").unwrap(), c);
        assert_eq!(t.verify(&jwt, "other"), Err(TokenError::WrongTenant));
    }

    #[test]
    fn an_app_token_names_its_app_and_no_other_audience_passes() {
        let t = tokens();
        let c = t.claims_for_app("u1", "default", "s1", "wiki", 60);
        assert_eq!((c.aud.as_str(), c.app.as_deref(), c.tid.as_str()), ("wiki", Some("wiki"), "default"));
        let verified = t.verify(&t.sign(&c).unwrap(), "default").unwrap();
        assert_eq!(verified.app.as_deref(), Some("wiki"));
        // `aud` must be the app it names, or (no app) the tenant.
        let mut other = c.clone();
        other.aud = "default".into();
        assert_eq!(t.verify(&t.sign(&other).unwrap(), "default"), Err(TokenError::WrongAudience));
        let mut plain = t.claims_for("u1", "default", "s1", 60);
        plain.aud = "wiki".into();
        assert_eq!(t.verify(&t.sign(&plain).unwrap(), "default"), Err(TokenError::WrongAudience));
    }

    /// An administrator's token names the admin audience and its tenant, and passes `verify`
    /// (the resolver decides where it counts: the admin API only).
    #[test]
    fn an_admin_token_names_the_admin_audience() {
        let t = tokens();
        let c = t.claims("u1", "default", "s1", Audience::Admin, 60, UserClaims::default());
        assert_eq!((c.aud.as_str(), c.app.as_deref(), c.tid.as_str()), (ADMIN_AUDIENCE, None, "default"));
        assert_eq!(t.verify(&t.sign(&c).unwrap(), "default").unwrap().aud, ADMIN_AUDIENCE);
        assert_eq!(t.verify(&t.sign(&c).unwrap(), "other"), Err(TokenError::WrongTenant));
    }

    #[test]
    fn refuses_foreign_keys_expiry_and_tampering() {
        let t = tokens();
        let other = tokens();
        let c = t.claims_for("u1", "default", "s1", 60);
        assert_eq!(t.verify(&other.sign(&c).unwrap(), "default"), Err(TokenError::UnknownKey));
        let mut old = c.clone();
        old.exp = now_secs() - 100;
        assert_eq!(t.verify(&t.sign(&old).unwrap(), "default"), Err(TokenError::Expired));
        let mut wrong_iss = c.clone();
        wrong_iss.iss = "http://evil".into();
        assert_eq!(t.verify(&t.sign(&wrong_iss).unwrap(), "default"), Err(TokenError::Invalid));
        // Tamper with the payload: the signature no longer matches.
        let jwt = t.sign(&c).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        let mut payload: serde_json::Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
        payload["groups"] = serde_json::json!(["admins"]);
        let forged = format!("{}.{}.{}", parts[0], B64.encode(payload.to_string()), parts[2]);
        assert_eq!(t.verify(&forged, "default"), Err(TokenError::Invalid));
    }

    #[test]
    fn refuses_alg_none_and_wrong_typ() {
        let t = tokens();
        let c = t.claims_for("u1", "default", "s1", 60);
        let kid = t.signing_kid();
        let none_header = B64.encode(format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{kid}"}}"#));
        let body = B64.encode(serde_json::to_string(&c).unwrap());
        assert!(t.verify(&format!("{none_header}.{body}."), "default").is_err());
        let hs_header = B64.encode(format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{kid}"}}"#));
        assert_eq!(t.verify(&format!("{hs_header}.{body}.AAAA"), "default"), Err(TokenError::WrongType));
        let jwt_header = B64.encode(format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{kid}"}}"#));
        assert_eq!(t.verify(&format!("{jwt_header}.{body}.AAAA"), "default"), Err(TokenError::WrongType));
        assert_eq!(t.verify("garbage", "default"), Err(TokenError::Malformed));
    }
}

/// Signing keys in the store, shared by replicas and rotated (see `ring`).
#[cfg(test)]
mod ring_tests {
    use super::*;
    use crate::store::Store;
    use std::sync::Arc;

    fn replica(store: &Arc<Store>, root: &SigningKey) -> Tokens {
        let t = Tokens::new("http://issuer", SigningKey::from_secret(&root.secret).unwrap());
        t.attach(store.clone()).unwrap();
        t
    }

    fn kids(jwks: &serde_json::Value) -> Vec<String> {
        jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn the_key_files_key_is_the_first_and_a_rotation_reaches_every_replica() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
        let root = SigningKey::ephemeral();
        // A token signed before the upgrade (no store: the key file's key).
        let before = Tokens::new("http://issuer", SigningKey::from_secret(&root.secret).unwrap());
        let old_token = before.sign(&before.claims_for("u1", "default", "s1", 600)).unwrap();

        let (a, b) = (replica(&store, &root), replica(&store, &root));
        assert_eq!(a.signing_kid(), root.kid, "the key file's key is imported as the first key");
        assert_eq!(store.signing_keys().unwrap().len(), 1, "imported once");
        assert!(a.verify(&old_token, "default").is_ok());

        let keys = a.rotate(3600).unwrap();
        assert_eq!(keys.len(), 2);
        let new_kid = a.signing_kid();
        assert_ne!(new_kid, root.kid);
        assert_eq!(kids(&a.jwks()), [new_kid.clone(), root.kid.clone()], "JWKS: current then previous");
        let new_token = a.sign(&a.claims_for("u1", "default", "s1", 600)).unwrap();
        assert!(a.verify(&old_token, "default").is_ok(), "the previous key verifies in its window");

        // B read the keys just now: an unknown kid does not make it read again at once...
        assert_eq!(b.verify(&new_token, "default"), Err(TokenError::UnknownKey));
        assert_eq!(b.signing_kid(), root.kid);
        // ...but once the last read is a second old, it does, and then signs with the new key.
        b.keys.forget_last_check();
        assert!(b.verify(&new_token, "default").is_ok());
        assert!(b.verify(&old_token, "default").is_ok());
        assert_eq!(b.signing_kid(), new_kid);
        assert_eq!(kids(&b.jwks()), kids(&a.jwks()));

        // A rotation with no overlap: the previous key's tokens are refused and it leaves JWKS.
        a.rotate(0).unwrap();
        assert_eq!(a.verify(&new_token, "default"), Err(TokenError::UnknownKey));
        assert_eq!(kids(&a.jwks()).len(), 2, "the new current and the one in its window");
        assert!(!kids(&a.jwks()).contains(&new_kid));
        assert_eq!(a.root().kid, root.kid, "codes and seeds keep the key file's keys");
    }

    /// On a runtime (a request), a token of a key not read yet is answered from the keys at
    /// hand — refused — while the read runs on the blocking pool (here held busy, so the answer
    /// cannot have waited for it); once the read is done the token verifies.
    #[test]
    fn on_a_runtime_an_unknown_kid_is_read_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
        let root = SigningKey::ephemeral();
        let (a, b) = (replica(&store, &root), replica(&store, &root));
        a.rotate(3600).unwrap();
        let token = a.sign(&a.claims_for("u1", "default", "s1", 600)).unwrap();
        b.keys.forget_last_check();
        let rt = tokio::runtime::Builder::new_current_thread().max_blocking_threads(1).enable_all().build().unwrap();
        rt.block_on(async {
            let (free, busy) = std::sync::mpsc::channel::<()>();
            let blocker = tokio::task::spawn_blocking(move || busy.recv());
            assert_eq!(b.verify(&token, "default"), Err(TokenError::UnknownKey), "no read in place");
            free.send(()).unwrap();
            blocker.await.unwrap().unwrap();
            let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while b.verify(&token, "default").is_err() {
                assert!(std::time::Instant::now() < end, "the background read did not swap the keys in");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        });
        assert_eq!(b.signing_kid(), a.signing_kid());
    }

    /// Two replicas on one shared store (PostgreSQL included): a token signed with a key rotated
    /// on one verifies on the other within about `UNKNOWN_KID_RECHECK_MS` of being first seen,
    /// though the other read the keys just before the rotation.
    #[test]
    fn a_key_rotated_on_another_replica_verifies_within_the_recheck_bound() {
        crate::store::testing::each_shared_backend(|one, two| {
            let root = SigningKey::ephemeral();
            let (a, b) = (replica(one, &root), replica(two, &root));
            a.rotate(3600).unwrap();
            let token = a.sign(&a.claims_for("u1", "default", "s1", 600)).unwrap();
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
            rt.block_on(async {
                let start = std::time::Instant::now();
                let bound = std::time::Duration::from_millis(UNKNOWN_KID_RECHECK_MS + 2_000);
                while b.verify(&token, "default").is_err() {
                    assert!(start.elapsed() < bound, "not verified within {bound:?}");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            });
            assert_eq!(b.signing_kid(), a.signing_kid());
        });
    }

    #[test]
    fn a_replica_with_another_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
        replica(&store, &SigningKey::ephemeral());
        let other = Tokens::new("http://issuer", SigningKey::ephemeral());
        let e = other.attach(store).unwrap_err();
        assert!(e.contains("every replica needs the same key file"), "{e}");
    }

    #[test]
    fn signing_rereads_at_most_every_ten_seconds() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
        let root = SigningKey::ephemeral();
        let (a, b) = (replica(&store, &root), replica(&store, &root));
        a.rotate(60).unwrap();
        let reads = store.write_transactions();
        assert!(!b.keys.refresh_at_most_every(SIGN_RECHECK_MS, now_secs()));
        b.sign(&b.claims_for("u1", "default", "s1", 60)).unwrap();
        assert_eq!(b.signing_kid(), root.kid, "no read yet");
        b.keys.forget_last_check();
        b.sign(&b.claims_for("u1", "default", "s1", 60)).unwrap();
        assert_eq!(b.signing_kid(), a.signing_kid());
        assert_eq!(store.write_transactions(), reads, "reading the keys writes nothing");
    }
}
