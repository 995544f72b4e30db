//! Sets of ids in a fixed size per id, so that the memory of a listing grows as little as
//! possible with the account.

use std::collections::HashSet;
use std::hash::Hasher;

use siphasher::sip128::{Hasher128, SipHasher13};

/// A set of ids stored as 128-bit SipHash fingerprints: 16 bytes an id instead of a string and
/// its allocation. Two different ids share a fingerprint with a probability of about
/// n² / 2¹²⁹, below 2 × 10⁻²⁷ for a million ids. Such a pair would make a deleted row look
/// present, so it would not be marked deleted.
#[derive(Debug, Clone, Default)]
pub struct IdSet {
    fingerprints: HashSet<u128>,
}

impl IdSet {
    /// Adds `id` and returns whether it was new.
    pub fn insert(&mut self, id: &str) -> bool {
        self.fingerprints.insert(fingerprint(id))
    }

    pub fn contains(&self, id: &str) -> bool {
        self.fingerprints.contains(&fingerprint(id))
    }

    pub fn len(&self) -> usize {
        self.fingerprints.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fingerprints.is_empty()
    }

    /// Adds every id of `other`.
    pub fn extend(&mut self, other: IdSet) {
        self.fingerprints.extend(other.fingerprints);
    }
}

impl<'a> FromIterator<&'a str> for IdSet {
    fn from_iter<I: IntoIterator<Item = &'a str>>(ids: I) -> Self {
        let mut set = IdSet::default();
        for id in ids {
            set.insert(id);
        }
        set
    }
}

fn fingerprint(id: &str) -> u128 {
    let mut hasher = SipHasher13::new();
    hasher.write(id.as_bytes());
    hasher.finish128().as_u128()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_contains_len() {
        let mut set: IdSet = ["a", "b"].into_iter().collect();

        assert!(!set.insert("a"));
        assert!(set.insert("c"));
        assert!(set.contains("b"));
        assert!(!set.contains("d"));
        assert_eq!(set.len(), 3);
    }
}
