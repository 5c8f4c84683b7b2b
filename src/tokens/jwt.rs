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

/// Signs with the current key and verifies with any of ours.
pub struct Tokens {
    pub issuer: String,
    keys: Vec<SigningKey>,
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
        Tokens { issuer: issuer.to_string(), keys: vec![key], validation }
    }

    pub fn current(&self) -> &SigningKey {
        &self.keys[0]
    }

    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": self.keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
    }

    pub fn sign(&self, claims: &AccessClaims) -> Result<String, TokenError> {
        let key = self.current();
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TYP.into());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding).map_err(|_| TokenError::Invalid)
    }

    /// Verifies signature, type, issuer, times, and that the token is for `tenant`.
    pub fn verify(&self, token: &str, tenant: &str) -> Result<AccessClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA || header.typ.as_deref() != Some(ACCESS_TYP) {
            return Err(TokenError::WrongType);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.keys.iter().find(|k| k.kid == kid).ok_or(TokenError::UnknownKey)?;
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &self.validation).map_err(|e| match e
            .kind()
        {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        })?;
        let c = data.claims;
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
        let kid = t.current().kid.clone();
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
