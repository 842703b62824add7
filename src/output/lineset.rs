//! A set of input line numbers as a bitmap: one bit per line, so the finished lines of a
//! 10,000,000-line job take 1.25 MB whatever their ids look like.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineSet {
    words: Vec<u64>,
    len: u64,
}

impl LineSet {
    pub fn new() -> LineSet {
        LineSet::default()
    }

    /// Adds `line`; false if it was already there.
    pub fn insert(&mut self, line: u64) -> bool {
        let (word, bit) = ((line / 64) as usize, line % 64);
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        let mask = 1u64 << bit;
        if self.words[word] & mask != 0 {
            return false;
        }
        self.words[word] |= mask;
        self.len += 1;
        true
    }

    pub fn contains(&self, line: u64) -> bool {
        self.words
            .get((line / 64) as usize)
            .is_some_and(|w| w & (1u64 << (line % 64)) != 0)
    }

    pub fn remove(&mut self, line: u64) -> bool {
        let Some(word) = self.words.get_mut((line / 64) as usize) else {
            return false;
        };
        let mask = 1u64 << (line % 64);
        if *word & mask == 0 {
            return false;
        }
        *word &= !mask;
        self.len -= 1;
        true
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_contains_remove_and_count() {
        let mut set = LineSet::new();
        assert!(!set.contains(0) && !set.contains(1_000_000));
        assert!(set.insert(1) && set.insert(64) && set.insert(1_000_000));
        assert!(!set.insert(64), "a second insert says it was there");
        assert_eq!(set.len(), 3);
        assert!(set.contains(1) && set.contains(64) && set.contains(1_000_000));
        assert!(!set.contains(2) && !set.contains(63) && !set.contains(65));
        assert!(set.remove(64) && !set.remove(64) && !set.remove(5_000_000));
        assert_eq!(set.len(), 2);
        assert!(!set.contains(64));
    }
}
