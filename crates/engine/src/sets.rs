//! Lookup sets used by compiled checks: byte-string sets (`in`), number sets and path-prefix sets
//! (`pmatch`).

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// A small, fast, non-cryptographic hasher (FxHash-style multiply/rotate) for short keys.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

const K: u64 = 0x517c_c1b7_2722_0a95;

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            h = (h.rotate_left(5) ^ b as u64).wrapping_mul(K);
        }
        self.0 = h;
    }
    fn write_u8(&mut self, i: u8) {
        self.0 = (self.0.rotate_left(5) ^ i as u64).wrapping_mul(K);
    }
    fn write_usize(&mut self, i: usize) {
        self.0 = (self.0.rotate_left(5) ^ i as u64).wrapping_mul(K);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FastSet<T> = HashSet<T, BuildHasherDefault<FastHasher>>;

/// Sets with fewer members are scanned linearly.
const SMALL: usize = 8;

/// A set of byte strings.
#[derive(Debug, Clone)]
pub enum StrSet {
    Small(Vec<Box<[u8]>>),
    Hashed(FastSet<Box<[u8]>>),
}

impl StrSet {
    pub fn new(items: Vec<Box<[u8]>>) -> StrSet {
        if items.len() < SMALL {
            StrSet::Small(items)
        } else {
            StrSet::Hashed(items.into_iter().collect())
        }
    }
    #[inline]
    pub fn contains(&self, v: &[u8]) -> bool {
        match self {
            StrSet::Small(items) => items.iter().any(|i| &**i == v),
            StrSet::Hashed(set) => set.contains(v),
        }
    }
}

/// A set of integers (sorted for binary search).
#[derive(Debug, Clone)]
pub struct NumSet(Vec<i128>);

impl NumSet {
    pub fn new(mut items: Vec<i128>) -> NumSet {
        items.sort_unstable();
        items.dedup();
        NumSet(items)
    }
    #[inline]
    pub fn contains(&self, v: i128) -> bool {
        if self.0.len() < SMALL {
            self.0.contains(&v)
        } else {
            self.0.binary_search(&v).is_ok()
        }
    }
    pub fn contains_f64(&self, v: f64) -> bool {
        self.0.iter().any(|&n| n as f64 == v)
    }
}

/// Path prefixes for `pmatch`: a value matches when one of the paths equals it or is a parent
/// directory of it, component-wise (`/var/run` matches `/var/run/docker`, not `/var/runx`).
#[derive(Debug, Clone)]
pub struct PathSet {
    paths: Vec<Box<[u8]>>,
    has_root: bool,
}

impl PathSet {
    pub fn new(items: Vec<Box<[u8]>>) -> PathSet {
        let mut has_root = false;
        let mut paths: Vec<Box<[u8]>> = Vec::with_capacity(items.len());
        for p in items {
            let mut s: &[u8] = &p;
            while s.len() > 1 && s.ends_with(b"/") {
                s = &s[..s.len() - 1];
            }
            if s == b"/" {
                has_root = true;
            }
            paths.push(s.into());
        }
        paths.sort();
        paths.dedup();
        PathSet { paths, has_root }
    }
    fn has(&self, p: &[u8]) -> bool {
        self.paths.binary_search_by(|x| (**x).cmp(p)).is_ok()
    }
    pub fn matches(&self, v: &[u8]) -> bool {
        if self.paths.is_empty() {
            return false;
        }
        if self.has_root && v.starts_with(b"/") {
            return true;
        }
        if self.has(v) {
            return true;
        }
        let mut v2 = v;
        while v2.len() > 1 && v2.ends_with(b"/") {
            v2 = &v2[..v2.len() - 1];
        }
        if v2.len() != v.len() && self.has(v2) {
            return true;
        }
        for (i, &b) in v2.iter().enumerate() {
            if b == b'/' && i > 0 && self.has(&v2[..i]) {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ps(items: &[&str]) -> PathSet {
        PathSet::new(items.iter().map(|s| s.as_bytes().into()).collect())
    }

    #[test]
    fn pmatch_semantics() {
        let s = ps(&["/var/run", "/etc/"]);
        assert!(s.matches(b"/var/run"));
        assert!(s.matches(b"/var/run/docker.sock"));
        assert!(!s.matches(b"/var/runx"));
        assert!(!s.matches(b"/var"));
        assert!(s.matches(b"/etc/passwd"));
        assert!(s.matches(b"/etc"));
        assert!(!ps(&[]).matches(b"/a"));
        assert!(ps(&["/"]).matches(b"/anything"));
    }

    #[test]
    fn strset_small_and_hashed() {
        let small = StrSet::new(vec![b"a".as_slice().into(), b"bb".as_slice().into()]);
        assert!(small.contains(b"bb"));
        assert!(!small.contains(b"b"));
        let big = StrSet::new((0..100).map(|i| format!("item{i}").into_bytes().into_boxed_slice()).collect());
        assert!(big.contains(b"item42"));
        assert!(!big.contains(b"item100"));
        let n = NumSet::new((0..20).collect());
        assert!(n.contains(7));
        assert!(!n.contains(70));
    }
}
