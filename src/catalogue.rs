//! Every error code Gatehouse answers (docs/http-api.md §12), defined once: its wire string, its
//! HTTP status and a default message. The `/auth` API (`api::ApiError`), the gateway's own
//! replies (`proxy::respond`), the listener's guard, the ops listener and the portal's pages
//! all take their codes and statuses from here; no error code is written as a string elsewhere.

use http::StatusCode;

macro_rules! catalogue {
    ($($(#[$doc:meta])* $variant:ident => ($wire:literal, $status:literal, $message:literal),)*) => {
        /// One error code of the wire (`{"error": "<code>", "message": "…"}`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[$doc])* $variant,)*
        }

        impl Code {
            /// Every code, in the order of the table.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as it is written on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $wire,)*
                }
            }

            /// The HTTP status every answer with this code has.
            pub fn status(self) -> StatusCode {
                let n: u16 = match self {
                    $(Code::$variant => $status,)*
                };
                StatusCode::from_u16(n).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }

            /// A sentence that says what to do, for answers that have nothing more specific.
            pub const fn message(self) -> &'static str {
                match self {
                    $(Code::$variant => $message,)*
                }
            }
        }
    };
}

catalogue! {
    // 400: the request cannot be read as it is.
    BadFraming => ("bad_framing", 400, "The request's framing is ambiguous: send one Content-Length or chunked body."),
    BadTarget => ("bad_target", 400, "The request target must be a path starting with `/`."),
    BadMethod => ("bad_method", 400, "The request method must be in upper case (GET, POST, DELETE…)."),
    BadPeer => ("bad_peer", 400, "Only TCP clients are served."),
    BadHost => ("bad_host", 400, "The Host header is missing or malformed."),
    BadPath => ("bad_path", 400, "The path is malformed."),
    BadForwardedFor => ("bad_forwarded_for", 400, "X-Forwarded-For is malformed."),
    BadForwardedRequest => ("bad_forwarded_request", 400, "The forwarded request could not be read."),
    MalformedJson => ("malformed_json", 400, "The body is not valid JSON."),
    MalformedBody => ("malformed_body", 400, "The body could not be read."),
    BadRequest => ("bad_request", 400, "The request could not be read: check its syntax and send it again."),
    /// A code checked for a caller who is already identified (authenticator enrolment, an
    /// app's verification) did not match: the request is wrong, not the caller's credentials.
    CodeMismatch => ("code_mismatch", 400, "The code is wrong or was already used."),
    /// A signed-in user's current password, asked again to change it, is wrong.
    PasswordMismatch => ("password_mismatch", 400, "The current password is wrong."),
    /// A personal token asked for a scope its user does not hold.
    InvalidScope => ("invalid_scope", 400, "Ask only for scopes you hold."),
    // 401: who is calling is not (sufficiently) known.
    /// A code offered to sign in (sign-in, MFA step, registration) is wrong.
    InvalidCode => ("invalid_code", 401, "The code is wrong or was already used."),
    Unauthenticated => ("unauthenticated", 401, "Sign in first: send a session cookie or an access token."),
    InvalidCredentials => ("invalid_credentials", 401, "The identifier or the password is wrong."),
    MfaRequired => ("mfa_required", 401, "This needs a second factor: complete the MFA step and retry."),
    ApiKeyRequired => ("api_key_required", 401, "Send the application's key in X-Auth-Service-Key."),
    InvalidApiKey => ("invalid_api_key", 401, "The X-Auth-Service-Key is not valid."),
    // 403
    Forbidden => ("forbidden", 403, "This is not allowed."),
    UntrustedProxy => ("untrusted_proxy", 403, "Forward-auth requests are accepted only from server.trusted_proxies."),
    CrossSiteRequest => ("cross_site_request", 403, "The request was refused as cross-site."),
    IpNotAllowed => ("ip_not_allowed", 403, "This application may not call from this address."),
    NotAssigned => ("not_assigned", 403, "You are not allowed to access this application. Contact Administrator."),
    // 404
    NotFound => ("not_found", 404, "There is no such resource."),
    UnknownHost => ("unknown_host", 404, "No application is configured for this host."),
    UnknownTenant => ("unknown_tenant", 404, "No tenant serves this host."),
    UserNotFound => ("user_not_found", 404, "User not in the directory service."),
    // 405, 408, 409, 413, 415, 422, 431
    MethodNotAllowed => ("method_not_allowed", 405, "This path does not answer this method: use one its Allow header lists."),
    HeaderTimeout => ("header_timeout", 408, "The request head did not arrive in time: send it at once."),
    BodyTimeout => ("body_timeout", 408, "The request body did not arrive in time: send it at once, without pauses."),
    AlreadyEnabled => ("already_enabled", 409, "An authenticator app is already set up: remove it first."),
    NotEnabled => ("not_enabled", 409, "No authenticator app is set up."),
    NoPendingSetup => ("no_pending_setup", 409, "Start with POST /auth/mfa/totp/setup."),
    TooManyTokens => ("too_many_tokens", 409, "You hold the most personal tokens allowed: revoke one first."),
    UserExists => ("user_exists", 409, "Another user of the tenant has this e-mail, mobile or username."),
    UserPending => ("user_pending", 409, "The user has not confirmed their registration yet."),
    AppExists => ("app_exists", 409, "An app with this id exists: choose another id."),
    ReadOnly => ("read_only", 409, "This is defined in config.yaml: change it there and reload."),
    TooManyWebhooks => ("too_many_webhooks", 409, "The tenant has the most webhooks allowed: delete one first."),
    WebhookDisabled => ("webhook_disabled", 409, "The webhook is disabled: enable it first."),
    DeliveryPending => ("delivery_pending", 409, "This delivery is still being attempted: wait until it is delivered or failed."),
    BodyTooLarge => ("body_too_large", 413, "The request body is too large."),
    UnsupportedMediaType => ("unsupported_media_type", 415, "Send the body as application/json."),
    InvalidField => ("invalid_field", 422, "A field is missing or wrong."),
    /// A reload asked through the admin API was refused: the running configuration stays.
    InvalidConfig => ("invalid_config", 422, "The configuration files have errors: fix them and reload again."),
    HeaderTooLarge => ("header_too_large", 431, "The request head is too large."),
    // 429 (with Retry-After)
    RateLimited => ("rate_limited", 429, "Too many requests: retry later."),
    TooManyFailures => ("too_many_failures", 429, "Too many failed attempts; retry later."),
    TooManyAttempts => ("too_many_attempts", 429, "Too many wrong codes; request a new code."),
    // 5xx
    Internal => ("internal", 500, "The answer could not be produced."),
    BadGateway => ("bad_gateway", 502, "The application did not answer: retry shortly."),
    /// A delivery provider's test message failed (the admin API).
    DeliveryFailed => ("delivery_failed", 502, "The provider did not accept the message: check its settings."),
    GatewayTimeout => ("gateway_timeout", 504, "The application did not answer in time: retry shortly."),
    Unavailable => ("unavailable", 503, "The store cannot be reached; retry shortly."),
    Busy => ("busy", 503, "Too many sign-ins at once; retry in a moment."),
    TooManyConnections => ("too_many_connections", 503, "Too many open connections: retry shortly."),
    NotReady => ("not_ready", 503, "Gatehouse is not ready."),
}

impl Code {
    /// `{"error": code, "message": message}`, the error shape of docs/http-api.md §1.
    pub fn body(self, message: &str) -> serde_json::Value {
        serde_json::json!({ "error": self.as_str(), "message": message })
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn every_code_is_defined_once_with_a_valid_status_and_a_message() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            assert!(c.as_str().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{c}");
            assert!(c.status().is_client_error() || c.status().is_server_error(), "{c}");
            assert!(c.message().ends_with('.'), "{c}: a sentence");
        }
    }

    /// The table of docs/http-api.md §12, read from the document itself: every code it lists
    /// is in the catalogue with the status it gives, and every code of the catalogue is listed.
    #[test]
    fn the_catalogue_is_the_table_of_the_http_api_reference() {
        let doc = include_str!("../docs/http-api.md");
        let table = doc.split("## 12. Error codes").nth(1).unwrap().split("\n## ").next().unwrap();
        let mut documented = BTreeMap::new();
        for row in table.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let statuses: Vec<u16> =
                cells[2].split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
            let codes: Vec<&str> = cells[1].split('`').skip(1).step_by(2).collect();
            for (i, code) in codes.iter().enumerate() {
                // A row of codes with as many statuses gives one each (`bad_gateway`, `gateway_timeout` | 502, 504).
                let status = if statuses.len() == codes.len() { statuses[i] } else { statuses[0] };
                assert!(documented.insert(code.to_string(), status).is_none(), "{code} is in §12 twice");
            }
        }
        let ours: BTreeMap<String, u16> =
            Code::ALL.iter().map(|c| (c.as_str().to_string(), c.status().as_u16())).collect();
        assert_eq!(ours, documented);
    }

    #[test]
    fn statuses_as_documented() {
        assert_eq!(Code::InvalidCode.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(Code::CodeMismatch.status(), StatusCode::BAD_REQUEST);
        assert_eq!(Code::Unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(Code::TooManyAttempts.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(Code::GatewayTimeout.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(Code::Unavailable.body("x"), serde_json::json!({"error": "unavailable", "message": "x"}));
    }
}
