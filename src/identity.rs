//! Who is calling: a session cookie or an `Authorization: Bearer` access JWT.
//!
//! Verified tokens are cached (bounded) with their identity headers already formatted, so a
//! request carrying a token seen before costs a hash lookup, an expiry check and a session
//! liveness check. A malformed cookie or token is simply no identity: never an error that
//! lets a request through.

use crate::clock::now_secs;
use crate::config::LimitSpec;
use crate::domain::Amr;
use crate::policy::{AuthLevel, Subject};
use crate::ratelimit::Limiter;
use crate::tokens::{AccessClaims, Tokens, UserClaims};
use quick_cache::sync::Cache;
use std::net::IpAddr;
use std::sync::Arc;

/// What a personal API token starts with (`pats::PREFIX`).
pub const PERSONAL_TOKEN_PREFIX: &str = "gh_pat_";

/// A signed-in caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub user_id: String,
    /// `Remote-User`: the username, else the e-mail.
    pub user: String,
    pub email: String,
    pub name: String,
    pub groups: Vec<String>,
    pub scopes: Vec<String>,
    pub tenant: String,
    pub session_id: String,
    pub amr: Vec<crate::domain::Amr>,
    pub level: AuthLevel,
    /// Unix seconds after which this identity is void.
    pub expires_at: u64,
    pub groups_header: String,
    pub scopes_header: String,
    /// The access token it came from, for `pass_access_token` routes.
    pub access_token: Option<String>,
    /// Set when that token was minted for one app (`aud` names it): the identity then counts
    /// on that app's routes only.
    pub app: Option<String>,
    /// An administrator's session or token (admin scope): an identity on the admin API only,
    /// never on `/auth`'s other endpoints, the gateway or forward-auth.
    pub admin: bool,
    /// The apps the user is assigned to (`apps[].require_assignment` routes admit only these).
    pub apps: Vec<String>,
    /// The identity headers' values, built once (see `proxy::headers::IDENTITY_HEADERS`).
    pub header_values: [http::HeaderValue; 7],
}

/// Second factors that, with a first factor, make a two-factor sign-in.
pub fn level_of(amr: &[Amr]) -> AuthLevel {
    let mut distinct = amr.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.contains(&Amr::Mfa) || distinct.len() >= 2 {
        AuthLevel::TwoFactor
    } else {
        AuthLevel::OneFactor
    }
}

impl Identity {
    /// What a token minted from this identity says about its user: what the identity holds
    /// (an empty e-mail or name is left out, and `preferred_username` when it is the e-mail).
    pub fn user_claims(&self) -> UserClaims {
        UserClaims {
            groups: self.groups.clone(),
            scopes: self.scopes.clone(),
            amr: self.amr.clone(),
            email: Some(self.email.clone()).filter(|e| !e.is_empty()),
            name: Some(self.name.clone()).filter(|n| !n.is_empty()),
            preferred_username: Some(self.user.clone()).filter(|u| !u.is_empty() && *u != self.email),
            apps: self.apps.clone(),
        }
    }

    /// The one place an identity is assembled; its header values are formatted here, once.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        user_id: String,
        user: String,
        email: String,
        name: String,
        groups: Vec<String>,
        scopes: Vec<String>,
        tenant: String,
        session_id: String,
        amr: Vec<crate::domain::Amr>,
        expires_at: u64,
        access_token: Option<String>,
    ) -> Identity {
        let groups_header = groups.join(",");
        let scopes_header = scopes.join(",");
        let hv = |s: &str| http::HeaderValue::from_str(s).unwrap_or_else(|_| http::HeaderValue::from_static(""));
        // In the order of `proxy::headers::IDENTITY_HEADERS`.
        let header_values =
            [hv(&user), hv(&email), hv(&name), hv(&groups_header), hv(&scopes_header), hv(&user_id), hv(&tenant)];
        Identity {
            header_values,
            level: level_of(&amr),
            groups_header,
            scopes_header,
            user_id,
            user,
            email,
            name,
            groups,
            scopes,
            tenant,
            session_id,
            amr,
            expires_at,
            access_token,
            app: None,
            admin: false,
            apps: vec![],
        }
    }

    /// Whether the user is assigned to `app`.
    pub fn assigned_to(&self, app: &str) -> bool {
        self.apps.iter().any(|a| a == app)
    }

    pub fn from_claims(c: AccessClaims, token: Option<String>) -> Identity {
        let email = c.email.unwrap_or_default();
        let user = c.preferred_username.filter(|u| !u.is_empty()).unwrap_or_else(|| email.clone());
        let name = c.name.unwrap_or_default();
        let app = c.app.clone();
        let admin = app.is_none() && c.aud == crate::tokens::jwt::ADMIN_AUDIENCE;
        let mut id = Identity::new(c.sub, user, email, name, c.groups, c.scopes, c.tid, c.sid, c.amr, c.exp, token);
        id.apps = c.apps;
        id.app = app;
        id.admin = admin;
        id
    }

    pub fn subject(&self) -> Subject<'_> {
        Subject { user: &self.user, groups: &self.groups, scopes: &self.scopes, level: self.level }
    }
}

/// What the session store says about a session.
#[derive(Debug, Clone)]
pub enum SessionState {
    Active(Arc<Identity>),
    Unknown,
    /// The store cannot answer: protected routes fail closed.
    Unavailable,
}

/// The session side of identity, implemented by the store. Both calls are on the hot path and
/// must not block.
pub trait SessionLookup: Send + Sync {
    /// The session behind a cookie value, for `tenant`.
    fn by_cookie(&self, cookie: &str, tenant: &str) -> SessionState;
    /// Whether the session an access token names is still alive (logout, revocation);
    /// `None` when the store cannot tell.
    fn token_session_alive(&self, sid: &str) -> Option<bool>;
    /// The identity behind a personal API token (`gh_pat_…`) for `tenant`, when it is live.
    fn personal_token(&self, _token: &str, _tenant: &str) -> SessionState {
        SessionState::Unknown
    }
    /// Whether other replicas change sessions behind this process's back (a shared store):
    /// then [`IdentityResolver::prefetch`] asks [`SessionLookup::missing`] before judging.
    fn shared(&self) -> bool {
        false
    }
    /// What must be read from the shared store before these credentials can be judged from
    /// memory: a session cookie, an access token's session id, a personal token.
    fn missing(&self, _cookie: Option<&str>, _sid: Option<&str>, _pat: Option<&str>) -> Vec<Fetch> {
        vec![]
    }
    /// Whether this process holds a copy of `what` (one not trusted just now: the change feed
    /// is down): such re-reads are of real credentials, bounded by their number, and draw on
    /// no client's budget ([`MISS_READS`]).
    fn held(&self, _what: &Fetch) -> bool {
        false
    }
    /// Reads what [`SessionLookup::missing`] named into memory; false when the store failed
    /// (the lookups then answer "unavailable"). Blocking: called on the blocking pool.
    fn fetch(&self, _what: &Fetch) -> bool {
        true
    }
    /// The administrator's session behind an admin cookie value, for `tenant`.
    fn by_admin_cookie(&self, _cookie: &str, _tenant: &str) -> SessionState {
        SessionState::Unknown
    }
}

/// A credential whose state must be read from a shared store (see [`SessionLookup::missing`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// The SHA-256 of a session cookie's secret.
    Cookie([u8; 32]),
    /// A session id (an access token's `sid`).
    Session(String),
    /// The SHA-256 of a personal token.
    PersonalToken([u8; 32]),
}

/// The `tid` claim of a JWT, unverified (it only chooses the tenant to verify it for).
fn tenant_claim(token: &str) -> Option<String> {
    use base64::Engine;
    #[derive(serde::Deserialize)]
    struct Tid {
        tid: String,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Tid>(&bytes).ok().map(|t| t.tid)
}

/// At most this many store reads for credentials at once per process (a flood of unknown
/// cookies waits here, and answers "unavailable" after [`FETCH_WAIT`]).
const FETCHES: usize = 8;
const FETCH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A client address's budget of store reads for credentials this replica holds no copy of (a
/// token bucket of 100, refilled 50 a second): a session started on another replica costs one
/// read, so only a flood of made-up credentials meets it. Beyond it they are judged unread —
/// as credentials the store cannot confirm: 503 on a protected route, 401 on `/auth` — and
/// cannot hold the [`FETCHES`] read slots other clients' new sessions wait for. Re-reading a
/// copy held but not trusted (the change feed down) draws on no budget.
pub const MISS_READS: (u32, u32) = (50, 100);
/// Client addresses the budget remembers at once (the least recently seen are forgotten).
const MISS_READ_CLIENTS: usize = 100_000;

fn miss_reads() -> LimitSpec {
    LimitSpec {
        per: crate::config::LimitKey::Ip,
        rate: crate::config::Rate { count: MISS_READS.0, period: std::time::Duration::from_secs(1) },
        burst: MISS_READS.1,
    }
}

/// Before sessions exist in the store: no cookie is a session; tokens live until they expire.
pub struct NoSessions;

impl SessionLookup for NoSessions {
    fn by_cookie(&self, _cookie: &str, _tenant: &str) -> SessionState {
        SessionState::Unknown
    }
    fn token_session_alive(&self, _sid: &str) -> Option<bool> {
        Some(true)
    }
}

#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    Known(Arc<Identity>),
    /// A credential was presented but the store could not be asked about it.
    Unverifiable,
}

pub struct IdentityResolver {
    pub tokens: Arc<Tokens>,
    pub sessions: Arc<dyn SessionLookup>,
    /// Bounds the store reads of [`IdentityResolver::prefetch`].
    fetches: Arc<tokio::sync::Semaphore>,
    /// Each client address's budget of those reads ([`MISS_READS`]).
    pub misses: Arc<Limiter>,
    /// Verified tokens, with the generation of the signing keys they were verified under.
    cache: Cache<String, (Arc<Identity>, u64), quick_cache::UnitWeighter, TailHash>,
}

/// How many of a token's last bytes the verified-token cache hashes.
const HASHED_TAIL: usize = 32;

/// Hashes a verified-token cache key by its length and last [`HASHED_TAIL`] bytes (a JWT's
/// signature: random) instead of all ~300 of them; keys still compare in full. Only verified
/// tokens are ever stored, so a caller cannot fill a bucket with chosen tails.
#[derive(Clone, Default)]
struct TailHash(quick_cache::DefaultHashBuilder);

struct TailHasher(<quick_cache::DefaultHashBuilder as std::hash::BuildHasher>::Hasher);

impl std::hash::BuildHasher for TailHash {
    type Hasher = TailHasher;
    fn build_hasher(&self) -> TailHasher {
        TailHasher(self.0.build_hasher())
    }
}

impl std::hash::Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.write_usize(bytes.len());
        self.0.write(&bytes[bytes.len().saturating_sub(HASHED_TAIL)..]);
    }
    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

/// The value of `Authorization: Bearer <token>`, if that is what the header holds.
pub fn bearer(value: &[u8]) -> Option<&str> {
    let v = std::str::from_utf8(value).ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    // Only the shape is checked here; the signature check (or the cache of verified tokens)
    // decides. Header values cannot hold control characters.
    // (`memchr`: a JWT is ~300 bytes, and this runs on every request that carries one.)
    let ok = !token.is_empty() && token.len() <= 8192 && memchr::memchr(b' ', token.as_bytes()).is_none();
    ok.then_some(token)
}

/// Whether `value` is `Authorization: Bearer <token>` for exactly `token`, i.e.
/// `bearer(value) == Some(token)`, without parsing the usual spelling again: a request's
/// token is checked once more before it is passed on.
pub fn is_bearer(value: &[u8], token: &str) -> bool {
    const SCHEME: &[u8] = b"bearer ";
    // `Bearer <token>` exactly, with a token `bearer` would give back as it is: then `bearer`
    // reads the same token (the first space ends the scheme, nothing is trimmed).
    let usual = value.len() == SCHEME.len() + token.len()
        && value[..SCHEME.len()].eq_ignore_ascii_case(SCHEME)
        && &value[SCHEME.len()..] == token.as_bytes()
        && !token.is_empty()
        && token.len() <= 8192
        && token.trim() == token
        && memchr::memchr(b' ', token.as_bytes()).is_none();
    usual || bearer(value) == Some(token)
}

/// The value of cookie `name` in a `Cookie` header, if present and well-formed (see
/// [`cookie_in`] for a whole request, which is what identity must use).
pub fn cookie<'a>(header: &'a [u8], name: &str) -> Option<&'a str> {
    cookie_in(std::iter::once(header), name)
}

/// The one value of cookie `name` across all of a request's `Cookie` headers, when it is
/// well-formed. Two different values (a sibling subdomain can set a cookie of the same name for
/// the parent domain: cookie tossing) are no value at all, never "the first one wins"; the same
/// value twice (one cookie per configured domain) is that value.
pub fn cookie_in<'a>(headers: impl IntoIterator<Item = &'a [u8]>, name: &str) -> Option<&'a str> {
    let mut first: Option<&'a str> = None;
    for h in headers {
        // A header that is not text could hide a second value: no value at all.
        let Ok(text) = std::str::from_utf8(h) else { return None };
        for pair in text.split(';') {
            let Some((k, v)) = pair.trim().split_once('=') else { continue };
            if k.trim() != name {
                continue;
            }
            let v = v.trim().trim_matches('"');
            match first {
                None => first = Some(v),
                Some(f) if f != v => return None,
                Some(_) => {}
            }
        }
    }
    let first = first?;
    let ok = !first.is_empty()
        && first.len() <= 256
        && first.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    ok.then_some(first)
}

impl IdentityResolver {
    pub fn new(tokens: Arc<Tokens>, sessions: Arc<dyn SessionLookup>, capacity: usize) -> IdentityResolver {
        IdentityResolver {
            tokens,
            sessions,
            cache: Cache::with(
                capacity,
                capacity as u64,
                quick_cache::UnitWeighter,
                TailHash::default(),
                Default::default(),
            ),
            fetches: Arc::new(tokio::sync::Semaphore::new(FETCHES)),
            misses: Arc::new(Limiter::new(&miss_reads(), MISS_READ_CLIENTS)),
        }
    }

    /// Whether other replicas share the store (see [`IdentityResolver::prefetch`]).
    pub fn is_shared(&self) -> bool {
        self.sessions.shared()
    }

    /// On a store shared with other replicas, reads into memory what the credentials of a
    /// request need (a session started on another replica a moment ago, a copy not trusted
    /// while the change feed is down), so that judging it stays a synchronous lookup. Nothing
    /// to do on a hit, and never anything with redb: one branch.
    ///
    /// `client` is the request's client address and `v6_prefix` the `server.ipv6_prefix` its
    /// budget of reads is counted by ([`MISS_READS`]).
    pub async fn prefetch(&self, bearer_token: Option<&str>, cookie: Option<&str>, client: IpAddr, v6_prefix: u8) {
        if !self.sessions.shared() || (bearer_token.is_none() && cookie.is_none()) {
            return;
        }
        let (mut token_id, mut pat) = (None, None);
        match bearer_token {
            Some(t) if t.starts_with(PERSONAL_TOKEN_PREFIX) => pat = Some(t),
            Some(t) => {
                // Another replica may have rotated the keys: a key rotated in there (a token of
                // a `kid` this one does not hold yet), or one removed (with no overlap: a leaked
                // key) while this one's verified tokens are cached. The keys are read again
                // before judging when the last read is a second old, so either is seen here
                // within about a second, whatever the change feed does.
                if self.tokens.keys_may_be_stale() {
                    let tokens = self.tokens.clone();
                    let _ = tokio::task::spawn_blocking(move || tokens.reread_keys()).await;
                }
                token_id = self.verified_any_tenant(t);
            }
            None => {}
        }
        let sid = token_id.as_deref().map(|id| id.session_id.as_str());
        for what in self.sessions.missing(cookie, sid, pat) {
            if !self.sessions.held(&what) && self.misses.check_ip(client, v6_prefix).is_err() {
                return;
            }
            let Ok(Ok(permit)) = tokio::time::timeout(FETCH_WAIT, self.fetches.clone().acquire_owned()).await else {
                return;
            };
            // Many requests with one credential wait here together (a copy just went stale under
            // load): the first one's read serves the others.
            if !self.sessions.missing(cookie, sid, pat).contains(&what) {
                continue;
            }
            let sessions = self.sessions.clone();
            // The permit goes with the read: a request dropped meanwhile does not free it early.
            let _ = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                sessions.fetch(&what)
            })
            .await;
        }
    }

    /// The identity of a JWT with a valid signature, for whichever tenant it names (the
    /// decision then checks it is the request's): a hit of the verified-token cache costs no
    /// parsing.
    fn verified_any_tenant(&self, token: &str) -> Option<Arc<Identity>> {
        if let Some((id, g)) = self.cache.get(token) {
            // An expired token names no session worth reading (the decision refuses it anyway).
            if g == self.tokens.key_generation() {
                return (id.expires_at >= now_secs()).then_some(id);
            }
        }
        self.verified(token, &tenant_claim(token)?)
    }

    /// Resolves the caller from a bearer token, else a session cookie. `app` is the app whose
    /// route is being served (`None`: `/auth`, or a host no app route serves): a token minted
    /// for one app is an identity on that app's routes only.
    pub fn resolve(
        &self,
        bearer_token: Option<&str>,
        session_cookie: Option<&str>,
        tenant: &str,
        app: Option<&str>,
    ) -> Caller {
        if let Some(token) = bearer_token {
            let caller = self.resolve_token(token, tenant, app);
            if !matches!(caller, Caller::Anonymous) || session_cookie.is_none() {
                return caller;
            }
        }
        match session_cookie {
            None => Caller::Anonymous,
            Some(c) => match self.sessions.by_cookie(c, tenant) {
                SessionState::Active(id) if id.tenant == tenant && !id.admin => Caller::Known(id),
                SessionState::Active(_) | SessionState::Unknown => Caller::Anonymous,
                SessionState::Unavailable => Caller::Unverifiable,
            },
        }
    }

    /// Like [`IdentityResolver::resolve`], for the gateway and forward-auth: a bearer token
    /// starting `gh_pat_` is a personal API token (an unknown, expired or revoked one is no
    /// identity, like a bad JWT). Personal tokens are never an identity on `/auth` (which calls
    /// `resolve`): a token cannot mint tokens or change its user's account.
    pub fn resolve_request(
        &self,
        bearer_token: Option<&str>,
        session_cookie: Option<&str>,
        tenant: &str,
        app: Option<&str>,
    ) -> Caller {
        match bearer_token {
            Some(t) if t.starts_with(crate::identity::PERSONAL_TOKEN_PREFIX) => {
                match self.sessions.personal_token(t, tenant) {
                    SessionState::Active(id) => Caller::Known(id),
                    SessionState::Unavailable => Caller::Unverifiable,
                    SessionState::Unknown => self.resolve(None, session_cookie, tenant, app),
                }
            }
            _ => self.resolve(bearer_token, session_cookie, tenant, app),
        }
    }

    /// The administrator calling the admin API: an admin-scoped bearer token, else the admin
    /// session's cookie. End users' tokens and sessions are no identity here (nor are admin ones
    /// anywhere else: [`IdentityResolver::resolve`]).
    pub fn resolve_admin(&self, bearer_token: Option<&str>, admin_cookie: Option<&str>, tenant: &str) -> Caller {
        if let Some(token) = bearer_token {
            return match self.verified(token, tenant) {
                Some(id) if id.admin => self.alive(id),
                _ => Caller::Anonymous,
            };
        }
        match admin_cookie.map(|c| self.sessions.by_admin_cookie(c, tenant)) {
            Some(SessionState::Active(id)) if id.tenant == tenant && id.admin => Caller::Known(id),
            Some(SessionState::Unavailable) => Caller::Unverifiable,
            _ => Caller::Anonymous,
        }
    }

    /// The identity of a token with a valid signature for `tenant`, not expired (cached).
    fn verified(&self, token: &str, tenant: &str) -> Option<Arc<Identity>> {
        // A change of the signing keys (a rotation ends a key's window) verifies tokens again.
        // The generation is read before verifying: the ring is swapped before the generation
        // moves, so a token verified under the keys of before a rotation is stamped with the
        // generation of before too, and verified again on its next use.
        let generation = self.tokens.key_generation();
        let id = match self.cache.get(token) {
            Some((id, g)) if g == generation => id,
            _ => self.remember(token, self.tokens.verify(token, tenant).ok()?, generation),
        };
        (id.tenant == tenant && id.expires_at >= now_secs()).then_some(id)
    }

    /// Caches the identity of a token verified under the keys of `generation` (read before it
    /// was verified: [`IdentityResolver::verified`]).
    fn remember(&self, token: &str, claims: AccessClaims, generation: u64) -> Arc<Identity> {
        let id = Arc::new(Identity::from_claims(claims, Some(token.to_string())));
        self.cache.insert(token.to_string(), (id.clone(), generation));
        id
    }

    /// `id` if the session it names is still alive.
    fn alive(&self, id: Arc<Identity>) -> Caller {
        match self.sessions.token_session_alive(&id.session_id) {
            Some(true) => Caller::Known(id),
            Some(false) => Caller::Anonymous,
            None => Caller::Unverifiable,
        }
    }

    fn resolve_token(&self, token: &str, tenant: &str, app: Option<&str>) -> Caller {
        let Some(id) = self.verified(token, tenant) else { return Caller::Anonymous };
        // An admin token counts on the admin API only ([`IdentityResolver::resolve_admin`]).
        if id.admin || (id.app.is_some() && id.app.as_deref() != app) {
            return Caller::Anonymous;
        }
        self.alive(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::SigningKey;

    fn resolver() -> IdentityResolver {
        let tokens = Arc::new(Tokens::new("http://issuer", SigningKey::ephemeral()));
        IdentityResolver::new(tokens, Arc::new(NoSessions), 100)
    }

    /// A rotation that lands between reading the generation and verifying (`verified` does
    /// both, in that order): the token verified under the keys of before is stamped with the
    /// generation of before, so its next use verifies it again, and the key the rotation
    /// removed refuses it (stamped with the generation after, it stayed accepted until `exp`).
    #[test]
    fn a_token_verified_across_a_rotation_is_verified_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(crate::store::Store::open(&dir.path().join("s.redb")).unwrap());
        let tokens = Arc::new(Tokens::new("http://issuer", SigningKey::ephemeral()));
        tokens.attach(store).unwrap();
        let r = IdentityResolver::new(tokens.clone(), Arc::new(NoSessions), 100);
        let jwt = tokens.sign(&tokens.claims_for("u1", "default", "s1", 600)).unwrap();
        let generation = tokens.key_generation();
        let claims = tokens.verify(&jwt, "default").unwrap();
        tokens.rotate(0).unwrap();
        r.remember(&jwt, claims, generation);
        assert!(r.verified(&jwt, "default").is_none(), "the removed key's token is refused");
        // Without a rotation in between, the cached identity serves.
        let jwt = tokens.sign(&tokens.claims_for("u1", "default", "s1", 600)).unwrap();
        assert!(r.verified(&jwt, "default").is_some());
        assert!(r.verified(&jwt, "default").is_some());
    }

    /// A store other replicas share, whose sessions are all alive.
    struct Shared;
    impl SessionLookup for Shared {
        fn by_cookie(&self, _cookie: &str, _tenant: &str) -> SessionState {
            SessionState::Unknown
        }
        fn token_session_alive(&self, _sid: &str) -> Option<bool> {
            Some(true)
        }
        fn shared(&self) -> bool {
            true
        }
    }

    /// A zero-overlap rotation on another replica (the response to a leaked key): a token this
    /// replica verified and cached is refused once its keys are a second old, on the next request,
    /// not at the token's `exp` (with no token of the new key ever arriving to make it look).
    #[tokio::test]
    async fn a_key_removed_on_another_replica_ends_its_cached_tokens_here() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(crate::store::Store::open(&dir.path().join("s.redb")).unwrap());
        let key_file = dir.path().join("key.pem");
        let replica = || {
            let t = Tokens::new("http://issuer", SigningKey::load_or_create(&key_file).unwrap());
            t.attach(store.clone()).unwrap();
            Arc::new(t)
        };
        let (a, b) = (replica(), replica());
        let r = IdentityResolver::new(b.clone(), Arc::new(Shared), 100);
        let jwt = a.sign(&a.claims_for("u1", "default", "s1", 600)).unwrap();
        r.prefetch(Some(&jwt), None, LOCAL, 64).await;
        assert!(matches!(r.resolve(Some(&jwt), None, "default", None), Caller::Known(_)));

        a.rotate(0).unwrap();
        // Within the second since B read its keys, B answers from them (and its cache).
        r.prefetch(Some(&jwt), None, LOCAL, 64).await;
        assert!(matches!(r.resolve(Some(&jwt), None, "default", None), Caller::Known(_)));
        b.forget_key_check();
        r.prefetch(Some(&jwt), None, LOCAL, 64).await;
        assert!(matches!(r.resolve(Some(&jwt), None, "default", None), Caller::Anonymous));
        // The new key's tokens verify on B.
        let jwt = a.sign(&a.claims_for("u1", "default", "s1", 600)).unwrap();
        r.prefetch(Some(&jwt), None, LOCAL, 64).await;
        assert!(matches!(r.resolve(Some(&jwt), None, "default", None), Caller::Known(_)));
    }

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    /// A shared store that holds no session: every cookie is a miss to read (counted).
    #[derive(Default)]
    struct Misses(std::sync::atomic::AtomicUsize);
    impl SessionLookup for Misses {
        fn by_cookie(&self, _cookie: &str, _tenant: &str) -> SessionState {
            SessionState::Unknown
        }
        fn token_session_alive(&self, _sid: &str) -> Option<bool> {
            Some(false)
        }
        fn shared(&self) -> bool {
            true
        }
        fn missing(&self, cookie: Option<&str>, _sid: Option<&str>, _pat: Option<&str>) -> Vec<Fetch> {
            cookie.map(|c| Fetch::Session(c.to_string())).into_iter().collect()
        }
        fn fetch(&self, _what: &Fetch) -> bool {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            true
        }
        fn held(&self, what: &Fetch) -> bool {
            matches!(what, Fetch::Session(c) if c.starts_with("held-"))
        }
    }

    /// A flood of made-up cookies from one address reads the store at most its budget's burst
    /// (and refill) times; another address's new session is still read.
    #[tokio::test]
    async fn a_flood_of_unknown_credentials_from_one_address_reads_within_its_budget() {
        let lookup = Arc::new(Misses::default());
        let tokens = Arc::new(Tokens::new("http://issuer", SigningKey::ephemeral()));
        let r = IdentityResolver::new(tokens, lookup.clone(), 100);
        let flood: IpAddr = "198.51.100.7".parse().unwrap();
        let t = std::time::Instant::now();
        for i in 0..400 {
            r.prefetch(None, Some(&format!("made-up-{i}")), flood, 64).await;
        }
        let reads = lookup.0.load(std::sync::atomic::Ordering::Relaxed);
        let refilled = (t.elapsed().as_secs_f64() * f64::from(MISS_READS.0)).ceil() as usize;
        assert!(reads >= MISS_READS.1 as usize, "the burst is read: {reads}");
        assert!(reads <= MISS_READS.1 as usize + refilled, "{reads} reads for 400 made-up cookies");
        // A copy this process holds (not trusted while the feed is down) is read again all the
        // same: real credentials behind one address are not refused for the flood's budget.
        for i in 0..5 {
            r.prefetch(None, Some(&format!("more-{i}")), flood, 64).await;
        }
        let before = lookup.0.load(std::sync::atomic::Ordering::Relaxed);
        r.prefetch(None, Some("held-by-this-replica"), flood, 64).await;
        assert_eq!(lookup.0.load(std::sync::atomic::Ordering::Relaxed), before + 1);
        // An IPv6 flood is counted by its network (`server.ipv6_prefix`), not per address.
        let before = lookup.0.load(std::sync::atomic::Ordering::Relaxed);
        for i in 0..400u16 {
            let ip = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i));
            r.prefetch(None, Some(&format!("v6-{i}")), ip, 64).await;
        }
        let v6 = lookup.0.load(std::sync::atomic::Ordering::Relaxed) - before;
        assert!(v6 < 400 && v6 >= MISS_READS.1 as usize, "{v6}");
        let before = lookup.0.load(std::sync::atomic::Ordering::Relaxed);
        r.prefetch(None, Some("a-real-new-session"), "203.0.113.5".parse().unwrap(), 64).await;
        assert_eq!(lookup.0.load(std::sync::atomic::Ordering::Relaxed), before + 1, "another client is read");
    }

    /// The cache hashes a token's tail only: tokens that share it are still different keys.
    #[test]
    fn the_token_cache_tells_apart_tokens_with_the_same_tail() {
        let cache: Cache<String, u8, quick_cache::UnitWeighter, TailHash> =
            Cache::with(10, 10, quick_cache::UnitWeighter, TailHash::default(), Default::default());
        let tail = "s".repeat(HASHED_TAIL + 5);
        cache.insert(format!("a.{tail}"), 1);
        cache.insert(format!("b.{tail}"), 2);
        cache.insert("short".to_string(), 3);
        assert_eq!(cache.get(format!("a.{tail}").as_str()), Some(1));
        assert_eq!(cache.get(format!("b.{tail}").as_str()), Some(2));
        assert_eq!(cache.get(format!("c.{tail}").as_str()), None);
        assert_eq!(cache.get(tail.as_str()), None);
        assert_eq!(cache.get("short"), Some(3));
        assert_eq!(cache.get("shor"), None);
    }

    #[test]
    fn is_bearer_is_bearer_equals() {
        let long = "t".repeat(8193);
        let values: [&[u8]; 14] = [
            b"Bearer abc.def",
            b"bearer abc.def",
            b"BEARER abc.def",
            b"Bearer  abc.def",
            b" Bearer abc.def ",
            b"Bearer abc.def\t",
            b"Basic abc.def",
            b"Bearer abc def",
            b"Bearer ",
            b"Bearer abc.de",
            b"Bearer \xc2\xa0abc.def",
            b"Bearer abc.def\xc2\xa0",
            b"Bearer \xffabc",
            b"Bearerabc.def",
        ];
        let tokens = ["abc.def", "abc def", " abc.def", "abc.def\u{a0}", "\u{a0}abc.def", "", "abc.de", long.as_str()];
        for v in values.iter().copied().chain([format!("Bearer {long}").as_bytes()]) {
            for t in tokens {
                assert_eq!(is_bearer(v, t), bearer(v) == Some(t), "{:?} {t:?}", String::from_utf8_lossy(v));
            }
        }
        assert!(is_bearer(b"Bearer abc.def", "abc.def"));
        assert!(is_bearer(b" bearer  abc.def ", "abc.def"));
        assert!(!is_bearer(b"Bearer abc def", "abc def"));
    }

    #[test]
    fn bearer_and_cookie_parsing() {
        assert_eq!(bearer(b"Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer(b"bearer  abc"), Some("abc"));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearer a b"), None);
        assert_eq!(bearer(b"Bearer "), None);
        assert_eq!(cookie(b"a=1; gh=xyz_-9; b=2", "gh"), Some("xyz_-9"));
        assert_eq!(cookie(b"gh=bad value", "gh"), None);
        assert_eq!(cookie(b"xgh=1", "gh"), None);
    }

    #[test]
    fn tokens_resolve_and_are_cached_per_tenant() {
        let r = resolver();
        let mut c = r.tokens.claims_for("u1", "default", "s1", 60);
        c.email = Some("a@example.com".into());
        c.groups = vec!["staff".into(), "admins".into()];
        c.amr = vec![Amr::Pwd, Amr::Totp];
        let jwt = r.tokens.sign(&c).unwrap();
        for _ in 0..2 {
            let Caller::Known(id) = r.resolve(Some(&jwt), None, "default", None) else { panic!("no identity") };
            assert_eq!(id.user, "a@example.com");
            assert_eq!(id.groups_header, "staff,admins");
            assert_eq!(id.level, AuthLevel::TwoFactor);
        }
        assert!(matches!(r.resolve(Some(&jwt), None, "other", None), Caller::Anonymous));
        assert!(matches!(r.resolve(Some("x.y.z"), None, "default", None), Caller::Anonymous));
        assert!(matches!(r.resolve(None, Some("abc"), "default", None), Caller::Anonymous));
    }

    /// The three callers of `Tokens::claims` (a sign-in and `token issue` from a stored user, a
    /// token minted for an app from the identity it came from) give the same claim set; only
    /// `aud` (and `app`) differ, per case.
    #[test]
    fn sign_in_cli_and_app_tokens_carry_the_same_claims() {
        let r = resolver();
        let user = crate::store::User {
            id: "u1".into(),
            tenant: "default".into(),
            username: Some("ann".into()),
            email: Some("a@example.com".into()),
            email_verified: true,
            name: Some("Ann".into()),
            groups: vec!["staff".into()],
            status: crate::domain::UserStatus::Active,
            ..Default::default()
        };
        let who = UserClaims::of_user(&user, vec![Amr::Pwd, Amr::Totp], vec!["app:read".into()]);
        let signed_in = r.tokens.claims("u1", "default", "s1", crate::tokens::Audience::Tenant, 60, who);
        let jwt = r.tokens.sign(&signed_in).unwrap();
        let Caller::Known(id) = r.resolve(Some(&jwt), None, "default", None) else { panic!("no identity") };
        let app = crate::tokens::Audience::App("wiki");
        let minted = r.tokens.claims("u1", "default", "s1", app, 60, id.user_claims());
        let keys = |c: &AccessClaims| -> Vec<String> {
            serde_json::to_value(c).unwrap().as_object().unwrap().keys().filter(|k| *k != "app").cloned().collect()
        };
        assert_eq!(keys(&signed_in), keys(&minted));
        // Ids and times aside (the clock may tick between the two).
        let ignore_ids = |c: &AccessClaims| AccessClaims {
            jti: String::new(),
            aud: String::new(),
            app: None,
            exp: 0,
            iat: 0,
            nbf: 0,
            ..c.clone()
        };
        assert_eq!(ignore_ids(&signed_in), ignore_ids(&minted));
        assert_eq!((signed_in.aud.as_str(), signed_in.app.as_deref()), ("default", None));
        assert_eq!((minted.aud.as_str(), minted.app.as_deref()), ("wiki", Some("wiki")));
        assert_eq!(minted.preferred_username.as_deref(), Some("ann"));
    }

    #[test]
    fn two_different_session_cookies_are_no_cookie() {
        fn one<'a>(h: &[&'a [u8]]) -> Option<&'a str> {
            cookie_in(h.iter().copied(), "gh")
        }
        assert_eq!(one(&[b"gh=abc"]), Some("abc"));
        // The same value twice (one cookie per configured domain): that value.
        assert_eq!(one(&[b"gh=abc; x=1; gh=abc"]), Some("abc"));
        assert_eq!(one(&[b"gh=abc", b"gh=abc"]), Some("abc"));
        // Cookie tossing: a sibling subdomain's cookie of the same name beside ours.
        assert_eq!(one(&[b"gh=attacker; gh=victim"]), None);
        assert_eq!(one(&[b"gh=victim; gh=attacker"]), None);
        assert_eq!(one(&[b"gh=victim", b"x=1; gh=attacker"]), None);
        assert_eq!(one(&[b"gh=victim; gh=%%%"]), None);
        assert_eq!(one(&[b"gh=victim", b"gh=\xff"]), None);
        assert_eq!(one(&[b"gh=victim", &[b'g', b'h', b'=', 0xff]]), None);
        assert_eq!(one(&[b"a=1"]), None);
    }

    #[test]
    fn an_app_token_is_an_identity_on_its_app_only() {
        let r = resolver();
        let c = r.tokens.claims_for_app("u1", "default", "s1", "wiki", 60);
        let jwt = r.tokens.sign(&c).unwrap();
        for _ in 0..2 {
            assert!(matches!(r.resolve(Some(&jwt), None, "default", Some("wiki")), Caller::Known(_)));
            assert!(matches!(r.resolve(Some(&jwt), None, "default", Some("blog")), Caller::Anonymous));
            assert!(matches!(r.resolve(Some(&jwt), None, "default", None), Caller::Anonymous));
        }
        // A sign-in's token (audience: the tenant) counts on every app of the tenant and in /auth.
        let plain = r.tokens.sign(&r.tokens.claims_for("u1", "default", "s1", 60)).unwrap();
        assert!(matches!(r.resolve(Some(&plain), None, "default", Some("blog")), Caller::Known(_)));
        assert!(matches!(r.resolve(Some(&plain), None, "default", None), Caller::Known(_)));
    }

    /// An admin-scoped token is an identity on the admin API only; no other token is one there.
    #[test]
    fn an_admin_token_counts_on_the_admin_api_only() {
        let r = resolver();
        let admin = r.tokens.claims("u1", "default", "s1", crate::tokens::Audience::Admin, 60, UserClaims::default());
        let admin = r.tokens.sign(&admin).unwrap();
        let plain = r.tokens.sign(&r.tokens.claims_for("u1", "default", "s1", 60)).unwrap();
        for _ in 0..2 {
            assert!(matches!(r.resolve_admin(Some(&admin), None, "default"), Caller::Known(id) if id.admin));
            assert!(matches!(r.resolve_admin(Some(&admin), None, "other"), Caller::Anonymous));
            assert!(matches!(r.resolve(Some(&admin), None, "default", None), Caller::Anonymous));
            assert!(matches!(r.resolve_request(Some(&admin), None, "default", Some("wiki")), Caller::Anonymous));
            assert!(matches!(r.resolve_admin(Some(&plain), None, "default"), Caller::Anonymous));
            assert!(matches!(r.resolve(Some(&plain), None, "default", None), Caller::Known(id) if !id.admin));
        }
        assert!(matches!(r.resolve_admin(None, Some("abc"), "default"), Caller::Anonymous));
    }

    #[test]
    fn levels() {
        let s = |v: &[&str]| v.iter().map(|s| Amr::parse(s).unwrap()).collect::<Vec<_>>();
        assert_eq!(level_of(&s(&["pwd"])), AuthLevel::OneFactor);
        assert_eq!(level_of(&s(&["otp", "otp"])), AuthLevel::OneFactor);
        assert_eq!(level_of(&s(&["pwd", "otp"])), AuthLevel::TwoFactor);
        assert_eq!(level_of(&s(&["mfa"])), AuthLevel::TwoFactor);
    }
}
