//! What a flow can fail with, whatever the caller (JSON API, portal, CLI). The HTTP mapping of
//! each variant lives with the API.

use crate::flows::passwords::Busy;
use crate::store::StoreError;
use std::time::Duration;

#[derive(Debug)]
pub enum FlowError {
    InvalidCredentials,
    InvalidCode,
    TooManyFailures {
        retry_after: u64,
    },
    RateLimited(Duration),
    Busy,
    Unauthenticated(&'static str),
    Store(String),
    /// A field is missing or wrong (422).
    Invalid(String),
    /// App-key callers only: the user is not in the directory (404).
    NotInDirectory,
    /// App-key callers only: the user is not assigned to the app (403).
    NotAssigned,
    /// Too many wrong codes: only a new code helps (429).
    CodeLocked,
    /// The tenant does not allow this (403).
    Forbidden(&'static str),
    /// No such record, or it expired (404).
    NotFound,
}

impl From<StoreError> for FlowError {
    fn from(e: StoreError) -> Self {
        tracing::error!("store: {e}");
        FlowError::Store(e.to_string())
    }
}

impl From<Busy> for FlowError {
    fn from(_: Busy) -> Self {
        FlowError::Busy
    }
}
