//! What a flow can fail with, whatever the caller (JSON API, portal, CLI). The HTTP mapping of
//! each variant lives with the API; failures the caller is not told about are logged where the
//! error is answered ([`FlowError::log_internal`]), not where it is made.

use crate::catalogue::Code;
use crate::flows::passwords::Busy;
use crate::store::StoreError;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("the identifier or the password is wrong")]
    InvalidCredentials,
    #[error("the code is wrong or was already used")]
    InvalidCode,
    #[error("too many failures; retry in {retry_after} s")]
    TooManyFailures { retry_after: u64 },
    #[error("rate limited for {0:?}")]
    RateLimited(Duration),
    #[error("too many sign-ins at once")]
    Busy,
    #[error("unauthenticated: {0}")]
    Unauthenticated(&'static str),
    /// The store, a blocking task, signing or hashing failed: the caller is told to retry (503).
    #[error("{0}")]
    Store(String),
    /// A field is missing or wrong (422).
    #[error("invalid: {0}")]
    Invalid(String),
    /// App-key callers only: the user is not in the directory (404).
    #[error("the user is not in the directory")]
    NotInDirectory,
    /// App-key callers only: the user is not assigned to the app (403).
    #[error("the user is not assigned to the app")]
    NotAssigned,
    /// Too many wrong codes: only a new code helps (429).
    #[error("too many wrong codes")]
    CodeLocked,
    /// The tenant does not allow this (403).
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// No such record, or it expired (404).
    #[error("not found")]
    NotFound,
}

impl FlowError {
    /// The catalogue's code for this failure: the one mapping, for the API's answers and the
    /// portal's pages alike.
    pub fn code(&self) -> Code {
        match self {
            FlowError::InvalidCredentials => Code::InvalidCredentials,
            FlowError::InvalidCode => Code::InvalidCode,
            FlowError::TooManyFailures { .. } => Code::TooManyFailures,
            FlowError::RateLimited(_) => Code::RateLimited,
            FlowError::Busy => Code::Busy,
            FlowError::Unauthenticated(_) => Code::Unauthenticated,
            FlowError::Store(_) => Code::Unavailable,
            FlowError::Invalid(_) => Code::InvalidField,
            FlowError::NotInDirectory => Code::UserNotFound,
            FlowError::NotAssigned => Code::NotAssigned,
            FlowError::CodeLocked => Code::TooManyAttempts,
            FlowError::Forbidden(_) => Code::Forbidden,
            FlowError::NotFound => Code::NotFound,
        }
    }

    /// Logs, once, what the caller is not told (an internal failure behind a "retry shortly");
    /// called where the error is answered (the API's mapping, the portal's pages).
    pub fn log_internal(&self) {
        if let FlowError::Store(m) = self {
            tracing::error!("{m}");
        }
    }
}

impl From<StoreError> for FlowError {
    fn from(e: StoreError) -> Self {
        match e {
            // The user was disabled or deleted while signing in: answered as for a disabled
            // account (a wrong identifier or password).
            StoreError::UserInactive(_) => FlowError::InvalidCredentials,
            e => FlowError::Store(format!("store: {e}")),
        }
    }
}

impl From<Busy> for FlowError {
    fn from(_: Busy) -> Self {
        FlowError::Busy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_error_becomes_a_store_failure_that_says_what_failed() {
        let e: FlowError = StoreError::Db("disk full".into()).into();
        assert!(matches!(&e, FlowError::Store(m) if m.contains("disk full")), "{e:?}");
        assert_eq!(e.code(), Code::Unavailable);
        let as_error: &dyn std::error::Error = &e;
        assert_eq!(as_error.to_string(), "store: store error: disk full");
    }
}
