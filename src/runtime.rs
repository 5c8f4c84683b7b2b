//! Everything a request needs, built from one configuration: compiled policy, route table,
//! limiters, identity resolver. Swapped atomically on reload; a request keeps the snapshot it
//! started with.

use crate::clock::now_secs;
use crate::config::{Config, ConfigErrors};
use crate::identity::{Identity, IdentityResolver, SessionLookup};
use crate::metrics::{metrics, RouteCounters};
use crate::policy::Policy;
use crate::ratelimit::Limiter;
use crate::routes::RouteTable;
use crate::tokens::{Audience, SigningKey, Tokens};
use std::sync::Arc;

pub struct Runtime {
    pub config: Arc<Config>,
    pub policy: Policy,
    pub routes: RouteTable,
    pub global_limit: Option<Arc<Limiter>>,
    /// `rate_limits.login`: password, OTP and MFA verification attempts per IP.
    pub login_limit: Option<Arc<Limiter>>,
    /// `rate_limits.otp_send`: codes sent per identifier (or per IP).
    pub otp_send_limit: Option<Arc<Limiter>>,
    /// `rate_limits.auth`: every `/auth` API request per IP.
    pub auth_limit: Option<Arc<Limiter>>,
    /// `rate_limits.verify_page`: the hosted verification page, per existing verification.
    pub verify_page_limit: Option<Arc<Limiter>>,
    /// `rate_limits.app_api`: the app APIs per calling app.
    pub app_api_limit: Option<Arc<Limiter>>,
    pub identity: IdentityResolver,
    pub forward_auth_counters: RouteCounters,
    pub auth_request_counters: RouteCounters,
    pub unrouted_counters: RouteCounters,
    pub auth_api_counters: RouteCounters,
    /// Access tokens minted for sessions on `pass_access_token` routes, by session id and app.
    minted: quick_cache::sync::Cache<(String, String), (Arc<str>, u64)>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("routes", &self.routes.routes.len()).finish_non_exhaustive()
    }
}

/// Verified-token cache size.
const TOKEN_CACHE: usize = 100_000;

impl Runtime {
    /// Loads config, policies and the signing key; `previous` keeps limiter state across reloads.
    pub fn load(
        path: &std::path::Path,
        sessions: Arc<dyn SessionLookup>,
        previous: Option<&Runtime>,
    ) -> Result<Runtime, ConfigErrors> {
        let config = Config::load(path)?;
        let policy = crate::policy::load_dir(&config.policies_dir)?;
        for w in &policy.warnings {
            tracing::warn!("policy: {w}");
        }
        let key = SigningKey::load_or_create(&config.tokens.signing_key).map_err(|m| {
            ConfigErrors(vec![crate::config::ConfigError { file: config.path.clone(), line: None, message: m }])
        })?;
        Self::build(config, policy, key, sessions, previous)
    }

    pub fn build(
        config: Config,
        policy: Policy,
        key: SigningKey,
        sessions: Arc<dyn SessionLookup>,
        previous: Option<&Runtime>,
    ) -> Result<Runtime, ConfigErrors> {
        let routes = RouteTable::build(&config, previous.map(|p| &p.routes)).map_err(ConfigErrors)?;
        // A limiter whose limit did not change keeps its state across a reload.
        let limiter = |spec: Option<&crate::config::LimitSpec>, old: Option<&Arc<Limiter>>| {
            spec.map(|spec| {
                old.filter(|l| &l.spec == spec)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Limiter::new(spec, config.rate_limits.max_keys)))
            })
        };
        let global_limit = limiter(config.rate_limits.global.as_ref(), previous.and_then(|p| p.global_limit.as_ref()));
        let login_limit = limiter(config.rate_limits.login.as_ref(), previous.and_then(|p| p.login_limit.as_ref()));
        let otp_send_limit =
            limiter(config.rate_limits.otp_send.as_ref(), previous.and_then(|p| p.otp_send_limit.as_ref()));
        let auth_limit = limiter(config.rate_limits.auth.as_ref(), previous.and_then(|p| p.auth_limit.as_ref()));
        let verify_page_limit =
            limiter(config.rate_limits.verify_page.as_ref(), previous.and_then(|p| p.verify_page_limit.as_ref()));
        let app_api_limit =
            limiter(config.rate_limits.app_api.as_ref(), previous.and_then(|p| p.app_api_limit.as_ref()));
        let tokens = Arc::new(Tokens::new(&config.tokens.issuer, key));
        let m = metrics();
        Ok(Runtime {
            identity: IdentityResolver::new(tokens, sessions, TOKEN_CACHE),
            config: Arc::new(config),
            policy,
            routes,
            global_limit,
            login_limit,
            otp_send_limit,
            auth_limit,
            verify_page_limit,
            app_api_limit,
            forward_auth_counters: m.route("forward-auth"),
            auth_request_counters: m.route("auth-request"),
            unrouted_counters: m.route("unrouted"),
            auth_api_counters: m.route("auth-api"),
            minted: quick_cache::sync::Cache::new(10_000),
        })
    }

    /// A user's scopes: the union of their groups' `access_groups` scopes.
    pub fn scopes_of(&self, groups: &[String]) -> Vec<String> {
        crate::policy::scopes_of(groups, &self.config.access_groups)
    }

    /// An access token for `id` to pass to `app` (a `pass_access_token` route): one whose
    /// `aud` names that app, so the app cannot replay it as the user anywhere else. The caller's
    /// own token when it already is one for this app, else one minted for their session
    /// (cached per session and app until shortly before it expires).
    pub fn access_token_for(&self, id: &Identity, app: &str) -> Option<Arc<str>> {
        if let (Some(t), Some(a)) = (&id.access_token, &id.app) {
            if a == app {
                return Some(Arc::from(t.as_str()));
            }
        }
        let now = now_secs();
        let key = (id.session_id.clone(), app.to_string());
        if let Some((token, exp)) = self.minted.get(&key) {
            if exp > now + 30 {
                return Some(token);
            }
        }
        let ttl = self.config.tokens.access_ttl.as_secs().min(id.expires_at.saturating_sub(now));
        let c =
            self.tokens().claims(&id.user_id, &id.tenant, &id.session_id, Audience::App(app), ttl, id.user_claims());
        let token: Arc<str> = Arc::from(self.tokens().sign(&c).ok()?.as_str());
        self.minted.insert(key, (token.clone(), c.exp));
        Some(token)
    }

    pub fn tokens(&self) -> &Arc<Tokens> {
        &self.identity.tokens
    }

    /// Every limiter, for the periodic sweep.
    pub fn limiters(&self) -> impl Iterator<Item = &Arc<Limiter>> {
        self.global_limit
            .iter()
            .chain(self.login_limit.iter())
            .chain(self.otp_send_limit.iter())
            .chain(self.auth_limit.iter())
            .chain(self.verify_page_limit.iter())
            .chain(self.routes.routes.iter().filter_map(|r| r.limiter.as_ref()))
            .chain(std::iter::once(&self.identity.misses))
    }
}
