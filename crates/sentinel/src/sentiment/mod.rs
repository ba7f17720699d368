//! Headline sentiment: the [`SentimentScorer`] trait and the default
//! finance lexicon scorer ([`lexicon::FinanceLexicon`]). Another scorer (a
//! transformer model, say) plugs in by implementing the trait.

pub mod lexicon;
mod words;

use serde::{Deserialize, Serialize};

/// A score in `[-1, 1]` with the terms that produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    /// -1 (very negative) .. 1 (very positive).
    pub score: f64,
    /// `positive`, `negative` or `neutral`.
    pub label: String,
    /// The matched terms with their signed contributions, for explanations.
    pub terms: Vec<(String, f64)>,
}

impl Sentiment {
    /// Labels a score: beyond ±0.05 is positive/negative.
    pub fn label_of(score: f64) -> &'static str {
        if score > 0.05 {
            "positive"
        } else if score < -0.05 {
            "negative"
        } else {
            "neutral"
        }
    }
}

/// Scores a piece of text.
pub trait SentimentScorer: Send + Sync {
    /// A stable name stored with each score (e.g. `finance-lexicon-v1`).
    fn name(&self) -> &str;
    /// Scores `text`.
    fn score(&self, text: &str) -> Sentiment;
}

/// The default scorer.
pub fn default_scorer() -> Box<dyn SentimentScorer> {
    Box::new(lexicon::FinanceLexicon::new())
}
