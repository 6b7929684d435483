//! What the profile stage costs the detector: `cargo bench -p harrier-profile --bench overhead
//! [-- SECONDS]`.
//!
//! Replays the reference captures through the detector with the official Falco syscall rules,
//! again and again for a few seconds per configuration, in the same run: no observer; workload
//! profiles (live semantics: `try_send`, drop and count when the queue is full); profiles and the
//! learned scorer. Prints events/s of the detector's thread for each, the observations sent and
//! dropped, and the scorer's own throughput (events/s on one core). Nothing is asserted.

use harrier_engine::{Checker, Ruleset};
use harrier_event::NormalizeMode;
use harrier_pipeline::{Detector, Discard, ScapSource};
use harrier_profile::offline::{examples, observe_capture};
use harrier_profile::{LearnedStage, Model, ProfileConfig};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn reference() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference")
}

fn rules() -> Arc<Ruleset> {
    let mut loader = harrier_rules::Loader::new(harrier_rules::LoaderOptions::default());
    loader.load_file(reference().join("falco-rules/falco_rules.yaml"));
    let rs = loader.finish(Some(&Checker));
    let (compiled, errors) = Ruleset::compile(&rs.rules);
    assert!(errors.is_empty() && !rs.has_errors(), "official rules load");
    Arc::new(compiled)
}

const CAPTURES: &[&str] = &[
    "sample.scap",
    "run_as_user_0_container.scap",
    "curl_google.scap",
    "open-multiple-files.scap",
    "cat_write.scap",
];

/// Events/s of the detector over the captures for `secs`, with `stage` built fresh per pass.
fn run(rules: &Arc<Ruleset>, secs: f64, mut stage: impl FnMut() -> Option<LearnedStage>) -> (f64, u64, u64) {
    let (mut events, mut sent, mut dropped) = (0u64, 0u64, 0u64);
    let mut busy = Duration::ZERO;
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < secs {
        for c in CAPTURES {
            let mut src =
                ScapSource::open(&reference().join("scap").join(c), NormalizeMode::WithEnter).unwrap();
            let mut det = Detector::new(rules.clone(), "bench", Discard);
            let st = stage();
            let counters = st.as_ref().map(|s| s.counters.clone());
            if let Some(s) = st {
                det.set_observer(Box::new(s));
            }
            let t = Instant::now();
            det.run(&mut src).unwrap();
            busy += t.elapsed();
            events += det.stats.events;
            if let Some(c) = counters {
                sent += c.sent.load(Relaxed);
                dropped += c.dropped.load(Relaxed);
            }
        }
    }
    (events as f64 / busy.as_secs_f64(), sent, dropped)
}

fn main() {
    let secs: f64 = std::env::args().filter_map(|a| a.parse().ok()).next().unwrap_or(4.0);
    let rules = rules();
    // A model trained on the captures' own observations (rule hits positive).
    let mut all = Vec::new();
    for c in CAPTURES {
        all.extend(observe_capture(&reference().join("scap").join(c), rules.clone()).unwrap().0);
    }
    let (pos, neg): (Vec<_>, Vec<_>) = all.iter().cloned().partition(|o| o.matched.is_some());
    let mut ex = examples(&pos, &neg);
    if pos.is_empty() {
        // No rule hit in these captures: label sensitive-file reads as positives so the model has both classes.
        for e in &mut ex {
            if e.text.contains("/etc/") {
                e.rule = Some("Read sensitive file untrusted".into());
            }
        }
    }
    let dir = std::env::temp_dir().join(format!("harrier-profile-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model_path = dir.join("m.json");
    Model::train(&ex, 0.9).save(&model_path).unwrap();

    let base = ProfileConfig { file: None, ..Default::default() };
    let with_model = ProfileConfig { model: Some(model_path.clone()), ..base.clone() };
    let mk = |cfg: &ProfileConfig| {
        let (loaded, errs) = harrier_profile::load(cfg);
        assert!(errs.is_empty(), "{errs:?}");
        Some(LearnedStage::start(cfg, loaded, rules.clone(), "bench".into()))
    };
    println!(
        "profile stage overhead: {} captures, official falco_rules.yaml, {secs} s per configuration",
        CAPTURES.len()
    );
    let mut rows = Vec::new();
    for round in 0..2 {
        let none = run(&rules, secs, || None);
        let prof = run(&rules, secs, || mk(&base));
        let both = run(&rules, secs, || mk(&with_model));
        rows.push((round, none, prof, both));
    }
    for (round, none, prof, both) in &rows {
        println!(
            "round {round}: no observer {:>10.0} ev/s | profiles {:>10.0} ev/s ({:+.1}%; {} sent, {} dropped) | profiles+scorer {:>10.0} ev/s ({:+.1}%; {} sent, {} dropped)",
            none.0,
            prof.0,
            (prof.0 / none.0 - 1.0) * 100.0,
            prof.1,
            prof.2,
            both.0,
            (both.0 / none.0 - 1.0) * 100.0,
            both.1,
            both.2
        );
    }
    // The scorer alone, one core: the sorted sparse vector per event (before) and the reused
    // dense-count scratch (after, what the worker runs), alternating, in the same run.
    let m = Model::load(&model_path).unwrap();
    let texts: Vec<String> = all.iter().map(|o| o.text()).collect();
    let mut scratch = harrier_profile::Scratch::new();
    for round in 0..2 {
        let mut rate = |fast: bool| {
            let t = Instant::now();
            let (mut n, mut acc) = (0u64, 0f32);
            while t.elapsed().as_secs_f64() < secs / 2.0 {
                for s in &texts {
                    acc += if fast { m.classify_with(s, &mut scratch).0 } else { m.classify(s).0 };
                    n += 1;
                }
            }
            (n as f64 / t.elapsed().as_secs_f64(), acc / n as f32)
        };
        let (slow, a1) = rate(false);
        let (fast, a2) = rate(true);
        println!(
            "scorer alone, round {round}: sorted features {slow:.0} events/s, scratch {fast:.0} events/s ({:.2}x) on one core ({} distinct observations, mean text {} bytes, {} weights; mean scores {a1:.4} / {a2:.4})",
            fast / slow,
            texts.len(),
            texts.iter().map(|s| s.len()).sum::<usize>() / texts.len().max(1),
            m.weights.len()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
