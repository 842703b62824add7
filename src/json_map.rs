//! Lookups in the small JSON objects of a request line (a line's top level, a message).
//!
//! serde_json's map (an `IndexMap`, in insertion order) hashes the key of every lookup with
//! SipHash: about 150 instructions for a short key, where comparing it with a handful of
//! short keys costs a few dozen. A line is looked into about ten times on its way (is it a
//! Batch API line, its id, its text field, its model, its messages' roles), so small objects
//! are searched in order.

use serde_json::{Map, Value};

/// Objects up to this many fields are searched in order.
const SMALL: usize = 12;

/// `map[key]`.
pub fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if map.len() <= SMALL {
        map.iter().find_map(|(k, v)| (k == key).then_some(v))
    } else {
        map.get(key)
    }
}

/// Whether `map` has `key`.
pub fn has(map: &Map<String, Value>, key: &str) -> bool {
    get(map, key).is_some()
}

/// `map[key]` taken out as [`Map::remove`] does it (the last field takes its place, so the
/// bytes of a request, and the cache keys made from them, stay what they were); no lookup by
/// hash when the key is absent.
pub fn remove(map: &mut Map<String, Value>, key: &str) -> Option<Value> {
    if has(map, key) {
        map.remove(key)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn small_and_large_objects_answer_as_the_map_does() {
        for size in [0usize, 1, 5, SMALL, SMALL + 1, 40] {
            let mut map = Map::new();
            for i in 0..size {
                map.insert(format!("k{i}"), json!(i));
            }
            for i in 0..size + 2 {
                let key = format!("k{i}");
                assert_eq!(get(&map, &key), map.get(&key), "{key} of {size}");
                assert_eq!(has(&map, &key), map.contains_key(&key));
            }
            if size > 2 {
                let mut taken = map.clone();
                let mut by_map = map.clone();
                assert_eq!(remove(&mut taken, "k1"), Some(json!(1)));
                assert_eq!(remove(&mut taken, "absent"), None);
                by_map.remove("k1");
                let keys: Vec<&String> = taken.keys().collect();
                assert_eq!(keys, by_map.keys().collect::<Vec<_>>(), "the order Map::remove leaves");
            }
        }
    }
}
