//! Lookup sets used by compiled checks: byte-string sets (`in`), number sets and path-prefix sets
//! (`pmatch`).

use std::hash::Hasher;

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

/// Sets with fewer members are scanned linearly.
const SMALL: usize = 8;

#[inline(always)]
fn load_u64(s: &[u8], at: usize) -> u64 {
    match s.get(at..at + 8) {
        Some(b) => {
            let mut w = [0u8; 8];
            w.copy_from_slice(b);
            u64::from_le_bytes(w)
        }
        None => 0,
    }
}

#[inline(always)]
fn load_u32(s: &[u8], at: usize) -> u32 {
    match s.get(at..at + 4) {
        Some(b) => {
            let mut w = [0u8; 4];
            w.copy_from_slice(b);
            u32::from_le_bytes(w)
        }
        None => 0,
    }
}

/// Equality of two byte strings of the same length, inlined for short strings (no call into
/// `memcmp` for the names and paths rules compare against).
#[inline(always)]
fn same_len_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n >= 8 {
        if n <= 16 {
            return load_u64(a, 0) == load_u64(b, 0) && load_u64(a, n - 8) == load_u64(b, n - 8);
        }
        return a == b;
    }
    if n >= 4 {
        return load_u32(a, 0) == load_u32(b, 0) && load_u32(a, n - 4) == load_u32(b, n - 4);
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

/// Byte-string equality (inlined for short strings).
#[inline(always)]
pub fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && same_len_eq(a, b)
}

/// `v` starts with `prefix` (inlined for short prefixes).
#[inline(always)]
pub fn starts_with(v: &[u8], prefix: &[u8]) -> bool {
    match v.get(..prefix.len()) {
        Some(head) => same_len_eq(head, prefix),
        None => false,
    }
}

/// `v` ends with `suffix` (inlined for short suffixes).
#[inline(always)]
pub fn ends_with(v: &[u8], suffix: &[u8]) -> bool {
    match v.len().checked_sub(suffix.len()).and_then(|at| v.get(at..)) {
        Some(tail) => same_len_eq(tail, suffix),
        None => false,
    }
}

/// A key as (length, first bytes, last bytes): up to 16 bytes this is the whole key (the two
/// loads overlap), so comparing the parts is comparing the keys; longer keys also compare bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parts {
    len: u64,
    a: u64,
    b: u64,
}

/// Keys up to this length are fully described by their [`Parts`].
const EXACT: usize = 16;

#[inline(always)]
fn parts(v: &[u8]) -> Parts {
    let n = v.len();
    let (a, b) = if n >= 8 {
        (load_u64(v, 0), load_u64(v, n - 8))
    } else if n >= 4 {
        (load_u32(v, 0) as u64, load_u32(v, n - 4) as u64)
    } else {
        let x = v.first().copied().unwrap_or(0) as u64
            | (v.get(n / 2).copied().unwrap_or(0) as u64) << 8
            | (v.last().copied().unwrap_or(0) as u64) << 16;
        (x, 0)
    };
    Parts { len: n as u64, a, b }
}

#[inline(always)]
fn parts_hash(p: Parts) -> u64 {
    let h = (p.a ^ p.len.rotate_left(40)).wrapping_mul(K);
    (h.rotate_left(23) ^ p.b).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Bit of a length in the length filter (lengths from 63 up share the last bit).
#[inline(always)]
fn len_bit(n: usize) -> u64 {
    1u64 << n.min(63)
}

const EMPTY: u32 = u32::MAX;

/// A set of byte strings: a filter on lengths, then a linear scan (small sets) or an
/// open-addressing table hashed on length and first/last bytes (larger sets). Keys up to 16
/// bytes are compared as three words, without touching their bytes.
#[derive(Debug, Clone)]
pub struct StrSet {
    items: Vec<Box<[u8]>>,
    /// `parts` of each item (same order).
    keys: Vec<Parts>,
    /// Bit `len` set when some member has that length (`len_bit`).
    lens: u64,
    /// Indices into `items` (EMPTY when free); empty for small sets. Power-of-two size.
    table: Box<[u32]>,
    shift: u32,
}

impl StrSet {
    pub fn new(mut items: Vec<Box<[u8]>>) -> StrSet {
        items.sort();
        items.dedup();
        let lens = items.iter().fold(0u64, |m, i| m | len_bit(i.len()));
        let keys = items.iter().map(|i| parts(i)).collect();
        let mut set = StrSet { items, keys, lens, table: Box::default(), shift: 64 };
        if set.items.len() >= SMALL {
            let size = (set.items.len() * 2).next_power_of_two().max(16);
            set.shift = 64 - size.trailing_zeros();
            let mut table = vec![EMPTY; size];
            let mask = size - 1;
            for (i, k) in set.keys.iter().enumerate() {
                let mut at = (parts_hash(*k) >> set.shift) as usize & mask;
                while table[at] != EMPTY {
                    at = (at + 1) & mask;
                }
                table[at] = i as u32;
            }
            set.table = table.into();
        }
        set
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// The members, sorted.
    pub fn items(&self) -> &[Box<[u8]>] {
        &self.items
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    #[inline(always)]
    fn is_item(&self, i: usize, k: Parts, v: &[u8]) -> bool {
        self.keys.get(i) == Some(&k) && (v.len() <= EXACT || self.items.get(i).is_some_and(|x| **x == *v))
    }
    #[inline]
    pub fn contains(&self, v: &[u8]) -> bool {
        if self.lens & len_bit(v.len()) == 0 {
            return false;
        }
        let k = parts(v);
        if self.table.is_empty() {
            return (0..self.keys.len()).any(|i| self.is_item(i, k, v));
        }
        let mask = self.table.len() - 1;
        let mut at = (parts_hash(k) >> self.shift) as usize & mask;
        loop {
            let Some(&slot) = self.table.get(at) else { return false };
            if slot == EMPTY {
                return false;
            }
            if self.is_item(slot as usize, k, v) {
                return true;
            }
            at = (at + 1) & mask;
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
    /// The paths, without trailing `/` (but `/` itself), sorted: every value the set matches
    /// starts with one of them.
    pub fn paths(&self) -> &[Box<[u8]>] {
        &self.paths
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
        // same length, first and last 8 bytes: only the middle differs
        let long = |i: u32| format!("/a/very/long/{i:03}/path/common/name").into_bytes().into_boxed_slice();
        for n in [3, 20] {
            let s = StrSet::new((0..n).map(long).collect());
            assert!((0..n).all(|i| s.contains(&long(i))));
            assert!(!s.contains(&long(n)));
        }
        let tiny = StrSet::new(vec![b"".as_slice().into(), b"a".as_slice().into(), b"abc".as_slice().into()]);
        assert!(tiny.contains(b"") && tiny.contains(b"a") && tiny.contains(b"abc"));
        assert!(!tiny.contains(b"ab") && !tiny.contains(b"aac") && !tiny.contains(b"abd"));
        let big = StrSet::new((0..100).map(|i| format!("item{i}").into_bytes().into_boxed_slice()).collect());
        assert!(big.contains(b"item42"));
        assert!(!big.contains(b"item100"));
        let n = NumSet::new((0..20).collect());
        assert!(n.contains(7));
        assert!(!n.contains(70));
    }
}
