//! The audit trail, read (admin scope); records are written by the
//! `crate::audit` layer around every call that changes something, or by a
//! use case in its own transaction ([`Pending`]).

use orch_store::{AuditRecord, NewAuditRecord};

use super::OpsResult;
use crate::state::AppState;

/// Records at or after `since` (microseconds), newest first, at most
/// `limit` (0: the default page; capped at the largest).
pub async fn list(state: &AppState, since: i64, limit: u32) -> OpsResult<Vec<AuditRecord>> {
    Ok(state.store().audit().list_audit(since, limit).await?)
}

/// The record of the call being served, as the layer made it before the
/// call (outcome `ok`), for a use case to write in its own transaction.
#[derive(Debug, Clone)]
pub struct Pending(std::sync::Arc<PendingInner>);

#[derive(Debug)]
struct PendingInner {
    record: NewAuditRecord,
    /// Who the call turned out to be (a login names its token).
    caller: std::sync::Mutex<Option<String>>,
    written: std::sync::atomic::AtomicBool,
}

impl Pending {
    /// The record of a call the audit layer is about to serve.
    pub(crate) fn new(record: NewAuditRecord) -> Pending {
        Pending(std::sync::Arc::new(PendingInner {
            record,
            caller: std::sync::Mutex::new(None),
            written: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// The record of a successful call.
    pub fn record(&self) -> NewAuditRecord {
        let caller = self.0.caller.lock().expect("not poisoned").clone();
        NewAuditRecord {
            caller: caller.unwrap_or_else(|| self.0.record.caller.clone()),
            ..self.0.record.clone()
        }
    }

    /// Names the caller, for a call that authenticates itself (a login
    /// with a token's key): recorded instead of `anonymous`.
    pub fn name_caller(&self, name: &str) {
        *self.0.caller.lock().expect("not poisoned") = Some(name.to_owned());
    }

    /// Says the record was committed with the call's change: the layer does
    /// not write it again.
    pub fn written(&self) {
        self.0
            .written
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether the use case wrote the record.
    pub(crate) fn is_written(&self) -> bool {
        self.0.written.load(std::sync::atomic::Ordering::Acquire)
    }
}
