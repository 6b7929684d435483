//! Entry point for the fuzz target (`crates/fold/fuzz`): the `fold:` settings as text (window
//! durations, keys, rule patterns) and a stream of alerts through the folding stage.
//! Invariant: nothing is lost — every alert in comes out as itself or is counted in exactly one
//! summary. Not a stable API.

use crate::{parse_duration, Fold, FoldConfig, RuleFold};
use harrier_engine::Alert;
use harrier_pipeline::AlertStage;
use serde_json::Value as Json;

/// Lines: a window, the keys (`,`-separated), a per-rule entry `pattern|window|fold`, the group
/// bound; then one alert per line, `rule|seconds|field=value,…`.
pub fn fold(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines();
    let mut cfg = FoldConfig::default();
    if let Ok(w) = parse_duration(lines.next().unwrap_or("")) {
        assert!(w > std::time::Duration::ZERO);
        cfg.window = w;
    }
    if let Some(k) = lines.next() {
        cfg.keys = k.split(',').map(str::to_string).collect();
    }
    if let Some(r) = lines.next() {
        let mut p = r.split('|');
        let rule = p.next().unwrap_or("").to_string();
        let window = p.next().and_then(|w| parse_duration(w).ok());
        let fold = p.next() != Some("false");
        cfg.rules.push(RuleFold { rule, keys: None, window, fold });
    }
    cfg.max_groups = lines.next().and_then(|n| n.trim().parse().ok()).unwrap_or(4).clamp(1, 64);
    let mut f = Fold::new(cfg);
    let counters = f.counters();
    let mut out: Vec<Alert> = Vec::new();
    let mut n_in = 0u64;
    for (i, line) in lines.enumerate() {
        let mut p = line.splitn(3, '|');
        let rule = p.next().unwrap_or("").to_string();
        let secs: u64 = p.next().and_then(|s| s.trim().parse().ok()).unwrap_or(i as u64);
        let mut fields = std::collections::BTreeMap::new();
        for kv in p.next().unwrap_or("").split(',') {
            if let Some((k, v)) = kv.split_once('=') {
                fields.insert(k.to_string(), if v == "null" { Json::Null } else { Json::from(v) });
            }
        }
        let a = Alert {
            time_ns: secs.saturating_mul(1_000_000_000),
            rule,
            priority: harrier_rules::Priority::Warning,
            source: "syscall".into(),
            tags: vec![],
            output: format!("alert {i}"),
            output_fields: fields,
            hostname: String::new(),
        };
        n_in += 1;
        f.on_alert(a, &mut |x| out.push(x));
        if i % 7 == 6 {
            f.idle(&mut |x| out.push(x));
        }
    }
    f.flush(&mut |x| out.push(x));
    assert_eq!(f.groups(), 0, "flush leaves no group");
    let mut accounted = 0u64;
    for a in &out {
        match a.output_fields.get("harrier.fold.count") {
            Some(n) => {
                let n = n.as_u64().expect("a count");
                assert!(n >= 1);
                // The summary is the last repeat itself.
                accounted += n;
            }
            None => accounted += 1,
        }
    }
    assert_eq!(accounted, n_in, "alerts in {n_in}, accounted for {accounted}: {out:?}");
    let c = |x: &std::sync::atomic::AtomicU64| x.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(c(&counters.passed) + c(&counters.folded) + c(&counters.overflow), n_in);
}

/// Seeds for the corpus.
pub fn seeds() -> Vec<Vec<u8>> {
    vec![
        b"10s\ncontainer.id,proc.exepath|proc.name\nTerminal*|5s|true\n8\nTerminal shell|1|container.id=abc,proc.name=bash\nTerminal shell|2|container.id=abc,proc.name=bash\nTerminal shell|3|container.id=abc,proc.exepath=/bin/bash\nother|3|proc.name=null\nTerminal shell|30|container.id=abc,proc.name=bash\n".to_vec(),
        b"500ms\n\nNoisy*rule|1h|false\n1\na|0|\nb|0|\na|0|\nb|0|\nNoisy x rule|0|\n".to_vec(),
        b"7d\nx\n*|99999999999999999999999d\n2\nr|18446744073709551615|x=1\nr|0|x=1\n".to_vec(),
    ]
}

#[cfg(test)]
mod brief_fuzz {
    #[test]
    fn fuzz_fold() {
        harrier_fuzzrun::run(env!("CARGO_MANIFEST_DIR"), "fold", &super::seeds(), super::fold);
    }

    #[test]
    fn durations_out_of_range_are_errors_not_panics() {
        for s in
            ["99999999999999999999999d", "18446744073709551616", "9999999999999999999", "1e9", "-1s", "0"]
        {
            assert!(crate::parse_duration(s).is_err(), "{s}");
        }
        assert_eq!(crate::parse_duration("3650d").unwrap().as_secs(), 3650 * 86400);
    }
}
