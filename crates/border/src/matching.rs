//! Camera plate reads matched to active trips despite misreads (0/D/O, 8/B, 1/I, 5/S, 2/Z,
//! missing separators, one line of a two-line plate). A read that matches nothing or matches
//! ambiguously is never attached to a truck: the caller sends it to the officers' review queue.
//!
//! SKELETON: contract only; the matcher is being written (issue #4) and replaces this body.

use std::collections::HashMap;

/// What a read matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchOutcome<K> {
    /// Exactly one active plate, read as written.
    Exact(K),
    /// Exactly one active plate, through misread-tolerant matching.
    Fuzzy(K),
    /// Several active plates fit: an officer decides.
    Ambiguous(Vec<K>),
    /// No active plate fits.
    NoMatch,
}

/// The active plates (canonical form) and the key (trip) each belongs to.
#[derive(Debug, Clone, Default)]
pub struct PlateIndex<K: Clone + Eq> {
    exact: HashMap<String, K>,
}

impl<K: Clone + Eq> PlateIndex<K> {
    pub fn new() -> Self {
        Self {
            exact: HashMap::new(),
        }
    }

    /// Add an active plate (its canonical form) for `key`.
    pub fn insert(&mut self, canonical: &str, key: K) {
        self.exact.insert(canonical.to_string(), key);
    }

    /// Remove a plate that is no longer active.
    pub fn remove(&mut self, canonical: &str) {
        self.exact.remove(canonical);
    }

    pub fn len(&self) -> usize {
        self.exact.len()
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty()
    }

    /// Match a camera's plate text.
    pub fn match_read(&self, text: &str) -> MatchOutcome<K> {
        match crate::plate::parse(text) {
            Ok(p) => match self.exact.get(&p.canonical) {
                Some(k) => MatchOutcome::Exact(k.clone()),
                None => MatchOutcome::NoMatch,
            },
            Err(_) => MatchOutcome::NoMatch,
        }
    }
}
