//! orch-core
