//! [`Sentinel`]: the configuration with everything opened from it (database,
//! sources, registry, scorer, clock). Flows and commands start here.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::{Config, Source};
use crate::error::Result;
use crate::market::PriceSource;
use crate::market::replay::Recording;
use crate::market_hours::MarketHours;
use crate::news::NewsSource;
use crate::registry::Registry;
use crate::sentiment::{self, SentimentScorer};
use crate::store::Store;

/// What time it is for sentinel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Clock {
    /// The system clock.
    System,
    /// A fixed instant (configured, or a replay's recorded clock).
    Fixed(DateTime<Utc>),
}

impl Clock {
    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(t) => *t,
        }
    }
}

/// Everything a flow or command needs.
pub struct Sentinel {
    /// The configuration.
    pub config: Config,
    /// The database.
    pub store: Store,
    /// Where bars come from.
    pub prices: PriceSource,
    /// Where headlines come from.
    pub news: NewsSource,
    /// The model registry.
    pub registry: Registry,
    /// The sentiment scorer.
    pub scorer: Arc<dyn SentimentScorer>,
    /// Validated market hours.
    pub market_hours: MarketHours,
    /// The clock.
    pub clock: Clock,
}

impl Sentinel {
    /// Loads the configuration (file and environment) and opens everything.
    pub async fn from_env() -> Result<Arc<Sentinel>> {
        Ok(Arc::new(Sentinel::open(Config::load()?).await?))
    }

    /// Opens everything a configuration names, with the default scorer.
    pub async fn open(config: Config) -> Result<Sentinel> {
        Sentinel::open_with_scorer(config, Arc::from(sentiment::default_scorer())).await
    }

    /// Opens everything with a given sentiment scorer.
    pub async fn open_with_scorer(
        config: Config,
        scorer: Arc<dyn SentimentScorer>,
    ) -> Result<Sentinel> {
        config.validate()?;
        let clock = match (config.clock, &config.source) {
            (Some(t), _) => Clock::Fixed(t),
            (None, Source::Replay(dir)) => Recording::open(dir)?
                .clock()?
                .map_or(Clock::System, Clock::Fixed),
            (None, Source::Live) => Clock::System,
        };
        Ok(Sentinel {
            store: Store::open(&config.database_path()).await?,
            prices: PriceSource::from_config(&config)?,
            news: NewsSource::from_config(&config)?,
            registry: Registry::open(&config.models_dir())?,
            market_hours: MarketHours::from_config(&config.market_hours)?,
            scorer,
            clock,
            config,
        })
    }

    /// The current instant by sentinel's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}
