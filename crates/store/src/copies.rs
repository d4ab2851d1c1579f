//! A node's copies of something read from a database, each filed under the generation (thế hệ)
//! it was read under, one copy per database (keyed by its URL, so that two databases in one
//! process keep apart).
//!
//! The pattern that keeps such copies correct across nodes sharing one database: every writer
//! bumps a generation stored in the database in the same transaction as its change; a reader
//! reads that generation first, uses a copy only if it was filed under the same one, and else
//! reads the data *after* having seen the generation and files it under it. A copy is then never
//! older than its generation. Generations only grow, so a copy read under a newer one replaces
//! an older one and never the other way round.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Copies per database, each with the generation it was read under.
pub struct Copies<T> {
    map: RwLock<HashMap<Arc<str>, (i64, T)>>,
}

impl<T> Default for Copies<T> {
    fn default() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
        }
    }
}

impl<T: Clone> Copies<T> {
    /// The copy of database `url` if it was read under `generation`.
    pub fn get(&self, url: &str, generation: i64) -> Option<T> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.get(url)
            .filter(|(g, _)| *g == generation)
            .map(|(_, v)| v.clone())
    }

    /// File `value`, read after `generation` was seen, unless a copy read under a later
    /// generation is already there.
    pub fn put(&self, url: &str, generation: i64, value: T) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.get(url).is_none_or(|(g, _)| *g < generation) {
            map.insert(Arc::from(url), (generation, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_serves_only_its_generation_and_never_goes_back() {
        let c = Copies::default();
        assert_eq!(c.get("a", 0), None::<i32>);
        c.put("a", 1, 10);
        assert_eq!(c.get("a", 1), Some(10));
        assert_eq!(c.get("a", 2), None);
        assert_eq!(c.get("b", 1), None);
        c.put("a", 0, 5);
        assert_eq!(c.get("a", 1), Some(10));
        c.put("a", 2, 20);
        assert_eq!(c.get("a", 2), Some(20));
        assert_eq!(c.get("a", 1), None);
    }
}
