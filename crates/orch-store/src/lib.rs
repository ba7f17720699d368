//! orch-store
