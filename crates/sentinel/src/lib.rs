//! sentinel: a trading-signal system whose flows run on orch.
//!
//! Market bars (Yahoo Finance or a replay folder) and headlines (RSS/Atom,
//! NewsAPI) are refreshed into sentinel's SQLite database; headlines get a
//! sentiment score; an LSTM (candle, CPU) predicts the next bar's return; the
//! three signals are fused into BUY / SELL / HOLD decisions. Models are
//! retrained, evaluated against naive baselines on held-back data and
//! activated only when better. See the crate README for the flows.

pub mod app;
pub mod config;
pub mod decision;
pub mod error;
pub mod features;
pub mod flows;
pub mod http;
pub mod market;
pub mod market_hours;
pub mod model;
pub mod news;
pub mod pipeline;
pub mod portfolio;
pub mod registry;
pub mod sentiment;
pub mod store;
pub mod validate;

pub use app::Sentinel;
pub use config::Config;
pub use error::{Result, SentinelError};
