//! A finance-aware lexicon scorer with phrases, negation, intensifiers and
//! "but" clauses, normalised like VADER (`x / sqrt(x² + 15)`).

use std::collections::HashMap;

use super::words::{INTENSIFIERS, NEGATORS, PHRASES, WORDS};
use super::{Sentiment, SentimentScorer};

/// How far back (in words) a negator reaches.
const NEGATION_REACH: usize = 3;
/// A negated term keeps this much of its weight, with the opposite sign
/// ("not good" is less bad than "bad").
const NEGATION_SCALE: f64 = -0.74;
/// VADER's normalisation constant.
const ALPHA: f64 = 15.0;

/// The default scorer.
#[derive(Debug, Clone)]
pub struct FinanceLexicon {
    exact: HashMap<&'static str, f64>,
    stems: Vec<(&'static str, f64)>,
    phrases: Vec<(Vec<&'static str>, f64)>,
    intensifiers: HashMap<&'static str, f64>,
}

impl Default for FinanceLexicon {
    fn default() -> Self {
        Self::new()
    }
}

impl FinanceLexicon {
    /// Builds the lookup tables.
    pub fn new() -> FinanceLexicon {
        let mut exact = HashMap::new();
        let mut stems = Vec::new();
        for &(w, s) in WORDS {
            match w.strip_suffix('*') {
                Some(stem) => stems.push((stem, s)),
                None => {
                    exact.insert(w, s);
                }
            }
        }
        // Longest stems first, so "outperform" wins over a shorter stem.
        stems.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        let mut phrases: Vec<(Vec<&str>, f64)> = PHRASES
            .iter()
            .map(|&(p, s)| (p.split(' ').collect(), s))
            .collect();
        phrases.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        FinanceLexicon {
            exact,
            stems,
            phrases,
            intensifiers: INTENSIFIERS.iter().copied().collect(),
        }
    }

    fn word_weight(&self, word: &str) -> Option<f64> {
        if let Some(&w) = self.exact.get(word) {
            return Some(w);
        }
        self.stems
            .iter()
            .find(|(stem, _)| word.starts_with(stem))
            .map(|&(_, w)| w)
    }
}

/// Lower-cased words; apostrophes and inner hyphens stay part of a word.
fn tokenize(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-' || c == '’'))
        .map(|t| {
            t.trim_matches(|c| c == '\'' || c == '-' || c == '’')
                .replace('’', "'")
                .to_lowercase()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

impl SentimentScorer for FinanceLexicon {
    fn name(&self) -> &str {
        "finance-lexicon-v1"
    }

    fn score(&self, text: &str) -> Sentiment {
        let tokens = tokenize(text);
        let but_at = tokens.iter().position(|t| t == "but" || t == "however");
        let mut terms = Vec::new();
        let mut total = 0.0;
        let mut i = 0;
        while i < tokens.len() {
            let phrase = self.phrases.iter().find(|(p, _)| {
                tokens.len() - i >= p.len()
                    && p.iter().zip(&tokens[i..]).all(|(a, b)| *a == b.as_str())
            });
            let (mut weight, len, term) = match phrase {
                Some((p, w)) => (*w, p.len(), p.join(" ")),
                None => match self.word_weight(&tokens[i]) {
                    Some(w) => (w, 1, tokens[i].clone()),
                    None => {
                        i += 1;
                        continue;
                    }
                },
            };
            let before = &tokens[i.saturating_sub(NEGATION_REACH)..i];
            // "sharply lower" and "fell sharply": an intensifier just before or just after.
            let after = tokens.get(i + len).map(String::as_str);
            let intensifier = before.iter().rev().take(2).map(String::as_str).chain(after);
            if let Some(f) = intensifier.filter_map(|t| self.intensifiers.get(t)).next() {
                weight *= f;
            }
            if before.iter().any(|t| NEGATORS.contains(&t.as_str())) {
                weight *= NEGATION_SCALE;
            }
            match but_at {
                Some(b) if i < b => weight *= 0.5,
                Some(b) if i > b => weight *= 1.5,
                _ => {}
            }
            terms.push((term, weight));
            total += weight;
            i += len;
        }
        let score = total / (total * total + ALPHA).sqrt();
        Sentiment {
            score,
            label: Sentiment::label_of(score).to_string(),
            terms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> f64 {
        FinanceLexicon::new().score(text).score
    }

    #[test]
    fn polarity_of_plain_headlines() {
        assert!(s("Alphabet shares surge after earnings beat") > 0.4);
        assert!(s("Apple stock plunges as iPhone sales slump") < -0.4);
        assert_eq!(s("Microsoft to hold annual meeting on Tuesday"), 0.0);
        assert_eq!(
            FinanceLexicon::new().score("Company holds meeting").label,
            "neutral"
        );
    }

    #[test]
    fn finance_terms_are_not_general_purpose_negatives() {
        // "liability", "tax", "crude" and "share" carry no polarity in finance.
        assert_eq!(s("Crude oil tax liability per share"), 0.0);
    }

    #[test]
    fn phrases_beat_their_words() {
        let lex = FinanceLexicon::new();
        let r = lex.score("Revenue misses expectations");
        assert_eq!(r.terms.len(), 1);
        assert_eq!(r.terms[0].0, "misses expectations");
        assert!(s("Company raises guidance") > 0.5);
    }

    #[test]
    fn negation_flips_and_dampens() {
        let plain = s("profit growth");
        let negated = s("no profit growth");
        assert!(
            negated < 0.0 && negated.abs() < plain.abs(),
            "{plain} {negated}"
        );
        assert!(s("results did not disappoint") > 0.0);
        assert!(s("shares fail to rally") < 0.0);
    }

    #[test]
    fn intensifiers_scale() {
        assert!(s("shares fall sharply") < s("shares fall"));
        assert!(s("shares rise slightly") < s("shares rise"));
        assert!(s("shares rise slightly") > 0.0);
    }

    #[test]
    fn the_clause_after_but_dominates() {
        assert!(s("Revenue was weak but profit surged") > 0.0);
        assert!(s("Revenue surged but profit was weak and outlook disappoints") < 0.0);
    }

    #[test]
    fn scores_stay_in_range() {
        let text = "record surge soars beats rally gains strong bullish upgrade ".repeat(20);
        let v = s(&text);
        assert!(v > 0.99 && v <= 1.0, "{v}");
        assert!(s(&text.replace("surge", "crash")) <= 1.0);
    }
}
