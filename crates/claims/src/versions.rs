//! Versions of a case across inputs: the same (institution, case id) given twice —
//! in one file or across files — is one case, and the later version wins (as in the
//! store, where a re-submission is a new version). [`Versions`] tells, for each
//! record pushed in input order, whether it supersedes an earlier one.
//!
//! Exact: keys are compared as strings (a hash only narrows the search), and the
//! memory per record is a few bytes plus the key's own length.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

const NONE: u32 = u32::MAX;

/// Records seen so far, by (institution, case id).
#[derive(Default)]
pub struct Versions {
    /// Keys of all records, `len(institution):institution case id`, end to end
    /// (the length prefix keeps any two different pairs apart).
    arena: String,
    /// End offset of each record's key in `arena`.
    ends: Vec<u64>,
    /// Latest record with a given hash, and the chain of earlier ones.
    head: HashMap<u64, u32>,
    prev: Vec<u32>,
    /// Records replaced by a later version.
    superseded: Vec<bool>,
    hasher: std::collections::hash_map::RandomState,
    replaced: u64,
}

impl Versions {
    pub fn new() -> Versions {
        Versions::default()
    }

    fn key(&self, i: u32) -> &str {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.arena[start..self.ends[i] as usize]
    }

    /// Record `i` = the number of records pushed before. Returns the index of the
    /// earlier record of the same (institution, case id) that this one supersedes.
    pub fn push(&mut self, institution: &str, case_id: &str) -> Option<u32> {
        let i = self.ends.len() as u32;
        let start = self.arena.len();
        use std::fmt::Write as _;
        let _ = write!(self.arena, "{}:", institution.len());
        self.arena.push_str(institution);
        self.arena.push_str(case_id);
        self.ends.push(self.arena.len() as u64);
        let mut h = self.hasher.build_hasher();
        h.write(self.arena[start..].as_bytes());
        let h = h.finish();
        let mut earlier = None;
        let mut j = self.head.get(&h).copied().unwrap_or(NONE);
        while j != NONE {
            if !self.superseded[j as usize] && self.key(j) == &self.arena[start..] {
                earlier = Some(j);
                break;
            }
            j = self.prev[j as usize];
        }
        self.prev.push(self.head.insert(h, i).unwrap_or(NONE));
        self.superseded.push(false);
        if let Some(j) = earlier {
            self.superseded[j as usize] = true;
            self.replaced += 1;
        }
        earlier
    }

    /// The (institution, case id) of record `i`.
    pub fn key_of(&self, i: u32) -> Option<(&str, &str)> {
        if i as usize >= self.ends.len() {
            return None;
        }
        let k = self.key(i);
        let (len, rest) = k.split_once(':')?;
        let len: usize = len.parse().ok()?;
        Some((rest.get(..len)?, rest.get(len..)?))
    }

    /// Whether record `i` was replaced by a later version.
    pub fn is_superseded(&self, i: u32) -> bool {
        self.superseded.get(i as usize).copied().unwrap_or(false)
    }

    /// Number of records replaced by a later version.
    pub fn replaced(&self) -> u64 {
        self.replaced
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_versions_win_and_keys_are_exact() {
        let mut v = Versions::new();
        assert_eq!(v.push("H1", "C1"), None); // 0
        assert_eq!(v.push("H2", "C1"), None); // 1: another institution's case 1
        assert_eq!(v.push("H1", "C2"), None); // 2
        assert_eq!(v.push("H1", "C1"), Some(0)); // 3 replaces 0
        assert_eq!(v.push("H1", "C1"), Some(3)); // 4 replaces 3
        assert_eq!(v.push("H1C", "1"), None); // 5: not the same key as (H1, C1)
        assert!(v.is_superseded(0) && v.is_superseded(3));
        assert!(!v.is_superseded(1) && !v.is_superseded(2) && !v.is_superseded(4));
        assert_eq!(v.replaced(), 2);
        assert_eq!(v.len(), 6);
        assert_eq!(v.key_of(5), Some(("H1C", "1")));
        assert_eq!(v.key_of(1), Some(("H2", "C1")));
        assert_eq!(v.key_of(6), None);
    }

    #[test]
    fn many_keys() {
        let mut v = Versions::new();
        for i in 0..10_000 {
            assert_eq!(v.push("H", &format!("C{i}")), None);
        }
        for i in 0..10_000u32 {
            assert_eq!(v.push("H", &format!("C{i}")), Some(i));
        }
        assert_eq!(v.replaced(), 10_000);
    }
}
