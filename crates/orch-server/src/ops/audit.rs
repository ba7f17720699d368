//! The audit trail, read (admin scope); records are written by the
//! `crate::audit` layer around every call that changes something.

use orch_store::AuditRecord;

use super::OpsResult;
use crate::state::AppState;

/// Records at or after `since` (microseconds), newest first, at most
/// `limit` (0: the default page; capped at the largest).
pub async fn list(state: &AppState, since: i64, limit: u32) -> OpsResult<Vec<AuditRecord>> {
    Ok(state.store().list_audit(since, limit).await?)
}
