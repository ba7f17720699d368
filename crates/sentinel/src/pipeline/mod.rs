//! The steps of sentinel's flows as library functions on [`crate::app::Sentinel`]:
//! the flows run them as orch tasks, tests and commands call them directly.

pub mod collect;
pub mod first_start;
pub mod refresh;
pub mod retrain;
pub mod staleness;
pub mod trading;
pub mod volatility;
