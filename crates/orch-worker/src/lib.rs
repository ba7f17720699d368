//! orch-worker
