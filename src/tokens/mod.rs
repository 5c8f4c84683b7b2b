//! Access tokens: Ed25519-signed JWTs (RFC 9068 `at+jwt`), their verification and the JWKS.

pub mod jwt;
pub mod keys;

pub use jwt::{AccessClaims, TokenError, Tokens};
pub use keys::SigningKey;
