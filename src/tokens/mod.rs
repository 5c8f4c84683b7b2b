//! Access tokens: Ed25519-signed JWTs (RFC 9068 `at+jwt`), their verification and the JWKS.

pub mod jwt;
pub mod keys;
pub mod ring;

pub use jwt::{AccessClaims, Audience, TokenError, Tokens, UserClaims};
pub use keys::SigningKey;
