//! What every flow runs on besides the configuration in effect: the store, sessions, the
//! password pool, the audit log, pending MFA steps and the outbox; and the blocking pool store
//! work runs on.

use crate::audit::Audit;
use crate::flows::error::FlowError;
use crate::flows::passwords::Hasher;
use crate::sessions::Sessions;
use crate::store::Store;
use std::sync::Arc;

/// Everything the flows need besides the runtime configuration.
pub struct Services {
    pub store: Arc<Store>,
    pub sessions: Arc<Sessions>,
    /// Personal API tokens (`gh_pat_…`), live in memory.
    pub pats: Arc<crate::pats::PersonalTokens>,
    pub hasher: Hasher,
    pub audit: Audit,
    pub mfa: crate::flows::mfa::MfaPending,
    pub outbox: crate::notify::outbox::OutboxHandle,
}

/// Runs store work on the blocking pool: redb commits wait for the disk.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, FlowError> + Send + 'static,
) -> Result<T, FlowError> {
    tokio::task::spawn_blocking(f).await.map_err(|_| FlowError::Store("a store task failed".into()))?
}
