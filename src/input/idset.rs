//! The set of id hashes seen so far, to catch a repeated id: 8 bytes per item. A hash table
//! of `u64` needs about 18 bytes per item at a million (its bucket count is a power of two
//! and at most 7/8 full), and twice that while it grows; this keeps a sorted vector plus a
//! small table of recent ids that is merged into it when full.

use std::collections::HashSet;

/// Recent ids kept in the table before they are merged into the sorted vector.
const RECENT: usize = 1 << 16;

#[derive(Debug, Default)]
pub struct IdSet {
    sorted: Vec<u64>,
    recent: HashSet<u64>,
}

impl IdSet {
    /// Room for `items` ids in all, so the vector never grows by doubling.
    pub fn reserve(&mut self, items: u64) {
        let items = usize::try_from(items).unwrap_or(0);
        self.sorted.reserve_exact(items.saturating_sub(self.sorted.len()));
    }

    /// `false` when `id` was already there.
    pub fn insert(&mut self, id: u64) -> bool {
        if self.sorted.binary_search(&id).is_ok() || !self.recent.insert(id) {
            return false;
        }
        if self.recent.len() >= RECENT {
            self.merge();
        }
        true
    }

    /// Moves the recent ids into the sorted vector: one backward merge, no second vector.
    fn merge(&mut self) {
        let mut recent: Vec<u64> = self.recent.drain().collect();
        recent.sort_unstable();
        let old = self.sorted.len();
        self.sorted.resize(old + recent.len(), 0);
        let (mut i, mut j, mut at) = (old, recent.len(), self.sorted.len());
        while j > 0 {
            at -= 1;
            if i > 0 && self.sorted[i - 1] > recent[j - 1] {
                self.sorted[at] = self.sorted[i - 1];
                i -= 1;
            } else {
                self.sorted[at] = recent[j - 1];
                j -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_found_before_and_after_a_merge() {
        let mut set = IdSet::default();
        set.reserve(10);
        let count = (RECENT as u64) * 2 + 17;
        for id in 0..count {
            assert!(set.insert(id.wrapping_mul(0x9E37_79B9_7F4A_7C15)), "{id} is new");
        }
        for id in [0, 1, RECENT as u64 - 1, RECENT as u64, count - 1] {
            assert!(!set.insert(id.wrapping_mul(0x9E37_79B9_7F4A_7C15)), "{id} repeats");
        }
        assert!(set.insert(u64::MAX - 1));
        assert!(!set.insert(u64::MAX - 1));
        assert!(set.sorted.windows(2).all(|w| w[0] < w[1]), "merged in order");
    }
}
