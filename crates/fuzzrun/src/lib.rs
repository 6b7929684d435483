//! Every fuzz target of the project, briefly, in the ordinary test suite.
//!
//! The libFuzzer targets (`crates/*/fuzz`, run for minutes by `scripts/fuzz.sh` on the nightly
//! toolchain) call a plain function of their crate (`crates/*/src/fuzzing.rs`). A unit test of that
//! crate calls [`run`] with the same function: it replays the seeds and the corpus kept in the
//! repository (`crates/<crate>/fuzz/corpus/<target>/`: every input libFuzzer found that adds
//! coverage, and every crash once fixed), then feeds it mutations of those inputs for a fixed time
//! (`HARRIER_FUZZ_SECS`, default 2 s). No coverage guidance: this catches regressions and the
//! shallow bugs, `scripts/fuzz.sh` the deep ones.
//!
//! A panic stops the run, writes the input to `crates/<crate>/fuzz/artifacts/<target>/` and
//! fails the test naming the file; reproduce with `HARRIER_FUZZ_SEED` (printed) or add the file
//! to the corpus once fixed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Longest input produced by mutation (the libFuzzer runs use 64 KiB too).
pub const MAX_LEN: usize = 64 << 10;

/// xorshift64*: a small deterministic generator (the seed is printed, so a run can be repeated).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Bytes that often matter to text formats (JSON, YAML, query strings, numbers).
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"\n",
    b"- ",
    b"&",
    b"=",
    b"%",
    b"%ff",
    b"\0",
    b"\xff",
    b"\xc3",
    b"-1",
    b"0",
    b"4294967296",
    b"18446744073709551616",
    b"99999999999999999999",
    b"1e309",
    b"NaN",
    b"null",
    b"true",
    b"~",
    b"*",
    b"&a",
    b"*a",
    b"!!binary",
    b"<<: ",
    b"\t",
    b"\r",
];

fn mutate(rng: &mut Rng, pool: &[Vec<u8>], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&pool[rng.below(pool.len())]);
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = rng.next() as u8;
            }
            2 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(16)).min(len);
                out.drain(a..b);
            }
            3 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                let piece = out[a..b].to_vec();
                let at = rng.below(out.len() + 1);
                for _ in 0..1 + rng.below(3) {
                    out.splice(at..at, piece.iter().copied());
                }
            }
            4 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                let at = rng.below(len + 1);
                out.splice(at..at, t.iter().copied());
            }
            5 if len > 0 => out.truncate(rng.below(len)),
            6 => {
                // Splice the tail of another input.
                let other = &pool[rng.below(pool.len())];
                let from = rng.below(other.len() + 1);
                let at = rng.below(len + 1);
                out.truncate(at);
                out.extend_from_slice(&other[from..]);
            }
            _ => {
                // A decimal number somewhere (lengths, counts, ports, durations).
                let n = match rng.below(3) {
                    0 => rng.below(300) as u64,
                    1 => rng.next() >> rng.below(64),
                    _ => u64::MAX - rng.below(3) as u64,
                };
                let at = rng.below(len + 1);
                out.splice(at..at, n.to_string().into_bytes());
            }
        }
        out.truncate(MAX_LEN);
    }
}

fn corpus_inputs(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names.into_iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// Write `seeds` into a corpus directory (named by content, so writing twice adds nothing), for
/// libFuzzer to start from: `HARRIER_FUZZ_WRITE_SEEDS=1 HARRIER_FUZZ_SECS=0 cargo test -p CRATE fuzz`.
pub fn write_seeds(dir: &Path, seeds: &[Vec<u8>]) {
    use std::hash::{Hash, Hasher};
    let _ = std::fs::create_dir_all(dir);
    for s in seeds {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        s.hash(&mut h);
        let _ = std::fs::write(dir.join(format!("seed-{:016x}", h.finish())), s);
    }
}

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Inputs from the corpus directory.
    pub corpus: usize,
    /// Executions in all (seeds, corpus and mutations).
    pub execs: u64,
}

fn seconds() -> Duration {
    let s: f64 = std::env::var("HARRIER_FUZZ_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(2.0);
    Duration::from_secs_f64(s.clamp(0.0, 86_400.0))
}

/// [`run`] with the seeds of `target` picked from a crate's `(target, seed)` list (a crate's
/// `fuzzing::seeds()`); panics when the list has none for it.
pub fn run_seeded(
    manifest_dir: &str,
    target: &str,
    seeds: Vec<(&str, Vec<u8>)>,
    f: impl Fn(&[u8]),
) -> Report {
    let mine: Vec<Vec<u8>> = seeds.into_iter().filter(|(t, _)| *t == target).map(|(_, s)| s).collect();
    assert!(!mine.is_empty(), "no seeds for fuzz target {target}");
    run(manifest_dir, target, &mine, f)
}

/// Run the fuzz target `target` of the crate at `manifest_dir` (pass `env!("CARGO_MANIFEST_DIR")`)
/// through `f`: `seeds`, then the corpus kept in the repository, then mutations for
/// `HARRIER_FUZZ_SECS` seconds. Panics (failing the test) when `f` panics, naming the input saved.
pub fn run(manifest_dir: &str, target: &str, seeds: &[Vec<u8>], f: impl Fn(&[u8])) -> Report {
    let fuzz = Path::new(manifest_dir).join("fuzz");
    if std::env::var("HARRIER_FUZZ_WRITE_SEEDS").is_ok_and(|v| v == "1") {
        write_seeds(&fuzz.join("corpus").join(target), seeds);
    }
    let mut pool: Vec<Vec<u8>> = seeds.to_vec();
    let corpus = corpus_inputs(&fuzz.join("corpus").join(target));
    let n_corpus = corpus.len();
    pool.extend(corpus);
    if pool.is_empty() {
        pool.push(Vec::new());
    }
    let seed: u64 =
        std::env::var("HARRIER_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        }) | 1;
    let try_one = |input: &[u8]| {
        if catch_unwind(AssertUnwindSafe(|| f(input))).is_err() {
            let dir = fuzz.join("artifacts").join(target);
            let _ = std::fs::create_dir_all(&dir);
            let file = dir.join(format!("crash-fuzzrun-{seed}"));
            let _ = std::fs::write(&file, input);
            panic!(
                "fuzz target {target} panicked (HARRIER_FUZZ_SEED={seed}) on {} bytes, saved in {}: {:?}",
                input.len(),
                file.display(),
                String::from_utf8_lossy(&input[..input.len().min(512)])
            );
        }
    };
    let mut execs = 0u64;
    for input in &pool {
        try_one(input);
        execs += 1;
    }
    let mut rng = Rng(seed);
    let budget = seconds();
    let t0 = Instant::now();
    let mut buf = Vec::new();
    while t0.elapsed() < budget {
        mutate(&mut rng, &pool, &mut buf);
        try_one(&buf);
        execs += 1;
    }
    println!(
        "fuzzrun {target}: {execs} executions ({} seeds, {n_corpus} corpus inputs, seed {seed}) in {:.1} s",
        seeds.len(),
        t0.elapsed().as_secs_f64()
    );
    Report { corpus: n_corpus, execs }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_stay_bounded_and_vary() {
        let mut rng = Rng(7);
        let pool = vec![b"{\"a\": [1, 2]}".to_vec(), Vec::new()];
        let mut seen = std::collections::HashSet::new();
        let mut buf = Vec::new();
        for _ in 0..2000 {
            mutate(&mut rng, &pool, &mut buf);
            assert!(buf.len() <= MAX_LEN);
            seen.insert(buf.clone());
        }
        assert!(seen.len() > 500, "only {} distinct inputs", seen.len());
    }

    #[test]
    fn a_panic_is_reported_with_the_input_saved() {
        let dir = std::env::temp_dir().join(format!("fuzzrun-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("fuzz/corpus/t")).unwrap();
        std::fs::write(dir.join("fuzz/corpus/t/a"), b"boom").unwrap();
        let d = dir.to_str().unwrap().to_string();
        let r = catch_unwind(|| {
            run(&d, "t", &[b"ok".to_vec()], |x| assert!(x != b"boom"));
        });
        let msg = r.unwrap_err();
        let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("panicked") && msg.contains("artifacts"), "{msg}");
        let saved: Vec<_> = std::fs::read_dir(dir.join("fuzz/artifacts/t")).unwrap().collect();
        assert_eq!(saved.len(), 1);
        let ok = run(&d, "none", &[b"ok".to_vec()], |_| {});
        assert_eq!(ok.corpus, 0);
        assert!(ok.execs >= 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
