//! Repeated ids found before the run, so the reader keeps nothing per line while it runs.
//!
//! The preflight reads a regular input once more, parsing only each line's id
//! ([`super::line_key`]), and puts the id's hash in a Bloom filter of fixed size (at most
//! [`MAX_FILTER_BYTES`], freed when the scan ends). A hash the filter already holds is a
//! *candidate*: every id that really repeats is one, as are the filter's few false positives
//! (about 0.3% of the lines at 10,000,000 lines, fewer below). During the run the reader looks
//! only at candidates: one seen before (by its exact hash) is a repeat; any other id occurs once
//! in the file. So the run holds the candidates (8 bytes each, twice) instead of 8 bytes for
//! every line, and its memory no longer grows with the input.
//!
//! The verdict is the same as the reader's table of every hash ([`super::idset::IdSet`], still
//! used for a pipe, which is read once): the same 64-bit hash, compared exactly.

use std::collections::HashSet;
use std::path::Path;

use super::{id_hash, line_key};
use crate::shard::Shard;

/// Largest filter: 2^27 bits (16 MiB).
pub const MAX_FILTER_BYTES: u64 = 1 << 24;

/// Smallest filter: 2^16 bits (8 KiB).
const MIN_FILTER_BITS: u64 = 1 << 16;

/// Bits set per id. With 13 or more bits per line (a 1.2 GB input of 10,000,000 lines has
/// 13.4 at the largest filter) five give about 0.3% false candidates.
const HASHES: u64 = 5;

/// The ids that may repeat, and those of them met so far in the run.
#[derive(Debug, Default)]
pub struct Repeats {
    candidates: HashSet<u64>,
    seen: HashSet<u64>,
}

impl Repeats {
    /// Scans `path` (only the lines of `shard`, when given): one pass, ids only.
    pub fn scan(path: &Path, shard: Option<Shard>) -> std::io::Result<Repeats> {
        let file = std::fs::File::open(path)?;
        let size = file.metadata()?.len();
        let mut filter = Filter::new(size);
        let mut lines = crate::lines::Lines::new(file);
        let mut candidates = HashSet::new();
        while let Some((line, bytes)) = lines.next_filled()? {
            let key = line_key(bytes, line);
            if shard.is_some_and(|shard| shard.count > 1 && !shard.owns_key(key.as_str())) {
                continue;
            }
            let hash = id_hash(key.as_str());
            if !filter.insert(hash) {
                candidates.insert(hash);
            }
        }
        candidates.shrink_to_fit();
        Ok(Repeats {
            candidates,
            seen: HashSet::new(),
        })
    }

    /// `false` when the id of hash `hash` was met before.
    pub fn insert(&mut self, hash: u64) -> bool {
        !self.candidates.contains(&hash) || self.seen.insert(hash)
    }

    /// Ids that may repeat (true repeats and the filter's false positives).
    pub fn candidates(&self) -> usize {
        self.candidates.len()
    }
}

/// A Bloom filter of `u64` hashes, sized from the input's bytes: one bit per byte, a power of
/// two between 8 KiB and [`MAX_FILTER_BYTES`] (a line is at least a dozen bytes).
struct Filter {
    words: Vec<u64>,
    mask: u64,
}

impl Filter {
    fn new(input_bytes: u64) -> Filter {
        let bits = input_bytes
            .clamp(MIN_FILTER_BITS, MAX_FILTER_BYTES * 8)
            .next_power_of_two()
            .min(MAX_FILTER_BYTES * 8);
        Filter {
            words: vec![0; (bits / 64) as usize],
            mask: bits - 1,
        }
    }

    /// Sets the bits of `hash`; `false` when they were all set already.
    fn insert(&mut self, hash: u64) -> bool {
        // Double hashing (Kirsch and Mitzenmacher): bit i at h1 + i·h2.
        let (h1, h2) = (hash, hash.rotate_left(32) | 1);
        let mut new = false;
        for i in 0..HASHES {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) & self.mask;
            let (word, mask) = ((bit / 64) as usize, 1u64 << (bit % 64));
            new |= self.words[word] & mask == 0;
            self.words[word] |= mask;
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(text: &str, shard: Option<Shard>) -> Repeats {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.jsonl");
        std::fs::write(&path, text).unwrap();
        Repeats::scan(&path, shard).unwrap()
    }

    #[test]
    fn a_repeated_id_is_caught_at_its_second_line_and_only_there() {
        let mut lines = String::new();
        for i in 0..20_000 {
            lines.push_str(&format!("{{\"id\":\"a{i}\",\"prompt\":\"p\"}}\n"));
        }
        lines.push_str("{\"id\":\"a17\",\"prompt\":\"again\"}\n");
        lines.push_str("{\"custom_id\":\"a17\",\"body\":{}}\n");
        let mut repeats = scan(&lines, None);
        assert!(
            repeats.candidates() >= 1 && repeats.candidates() < 200,
            "{}",
            repeats.candidates()
        );
        for i in 0..20_000 {
            assert!(repeats.insert(id_hash(&format!("a{i}"))), "a{i} is new");
        }
        assert!(!repeats.insert(id_hash("a17")), "the repeat is caught");
        assert!(!repeats.insert(id_hash("a17")), "and the next one");
    }

    #[test]
    fn lines_without_id_are_keyed_by_their_number_like_the_reader_does() {
        let mut repeats = scan("{\"prompt\":\"x\"}\n\n{\"id\":\"line-1\",\"prompt\":\"y\"}\n", None);
        assert_eq!(repeats.candidates(), 1);
        assert!(repeats.insert(id_hash("line-1")));
        assert!(!repeats.insert(id_hash("line-1")));
    }

    #[test]
    fn the_filter_is_sized_from_the_input_within_its_bounds() {
        let mut filter = Filter::new(0);
        assert_eq!(filter.words.len() as u64 * 64, MIN_FILTER_BITS);
        assert!(filter.insert(7));
        assert!(!filter.insert(7));
        let big = Filter::new(u64::MAX);
        assert_eq!(big.words.len() as u64 * 8, MAX_FILTER_BYTES);
    }
}
