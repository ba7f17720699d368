//! [`Sentinel`]: the configuration with everything opened from it (database,
//! sources, registry, scorer, clock). Flows and commands start here.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::{Config, Source};
use crate::error::Result;
use crate::market::PriceSource;
use crate::market::replay::Recording;
use crate::market::replay_clock::{ReplayClock, load_or_start_epoch, save_epoch};
use crate::market_hours::MarketHours;
use crate::model::vol_registry::VolRegistry;
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
    /// Where the data-collection flow's bars come from (an exchange or `prices`).
    pub collection: PriceSource,
    /// Where headlines come from.
    pub news: NewsSource,
    /// The model registry.
    pub registry: Registry,
    /// The volatility models' registry.
    pub vol_registry: VolRegistry,
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
        let store = Store::open(&config.database_path()).await?;
        let clock = match (config.clock, &config.source) {
            (Some(t), _) => Clock::Fixed(t),
            (None, Source::Replay(dir)) if config.replay.speed > 0.0 => {
                Clock::Fixed(moving_replay_now(&config, dir, &store, Utc::now()).await?)
            }
            (None, Source::Replay(dir)) => Recording::open(dir)?
                .clock()?
                .map_or(Clock::System, Clock::Fixed),
            (None, Source::Live) => Clock::System,
        };
        Ok(Sentinel {
            store,
            prices: PriceSource::from_config(&config)?,
            collection: PriceSource::for_collection(&config)?,
            news: NewsSource::from_config(&config)?,
            registry: Registry::open(&config.models_dir())?,
            vol_registry: VolRegistry::open(&config.models_dir().join("volatility")),
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

/// The moving replay's instant at `wall` (fixed for the rest of this process:
/// one flow run sees one instant). On a new lap of a looping replay, what the
/// database holds after that instant is the future again and is forgotten.
pub async fn moving_replay_now(
    config: &Config,
    dir: &std::path::Path,
    store: &Store,
    wall: DateTime<Utc>,
) -> Result<DateTime<Utc>> {
    let recording = Recording::open(dir)?;
    let clock = ReplayClock::new(
        &recording,
        &config.tickers(),
        &config.market.interval,
        &config.replay,
    )?;
    let path = config.data_dir.join("replay-epoch.json");
    let mut epoch = load_or_start_epoch(&path, &config.replay, wall)?;
    let at = clock.position(wall - epoch.started_at);
    if at.laps != epoch.lap {
        let last_bar = clock.timeline[at.bar_index];
        let forgotten = store.forget_after(at.now.timestamp(), last_bar).await?;
        tracing::info!(
            lap = at.laps,
            "replay restarted at {}: forgot {forgotten} rows after it",
            at.now
        );
        epoch.lap = at.laps;
        save_epoch(&path, &epoch)?;
    }
    tracing::debug!(
        bar = at.bar_index,
        at_end = at.at_end,
        "replay clock at {}",
        at.now
    );
    Ok(at.now)
}
