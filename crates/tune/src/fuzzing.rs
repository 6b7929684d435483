//! Entry point for the fuzz target (`crates/tune/fuzz`): Falco JSON alerts as `harrier tune`
//! reads them (a file or the alert store), through grouping, proposals and the rules overlay it
//! writes. Invariants: every proposal is backed by its group, and the overlay is YAML that gives
//! back exactly the values proposed. Not a stable API.

use crate::{overlay, read_alerts, summary, to_json, tune, Options};

/// The first two bytes pick the options (`min_count` 1..=4, `max_listed` 0..=3), the rest is the
/// alerts file.
pub fn alerts(data: &[u8]) {
    let (opts, rest) = match data {
        [a, b, rest @ ..] => {
            (Options { min_count: 1 + (*a as usize % 4), max_listed: *b as usize % 4 }, rest)
        }
        _ => (Options::default(), data),
    };
    let text = String::from_utf8_lossy(rest);
    let (alerts, _skipped) = read_alerts(&text);
    let report = tune(&alerts, &opts);
    assert_eq!(report.alerts, alerts.len());
    for p in &report.proposals {
        assert!(p.silences >= opts.min_count, "a proposal silences {} < min_count", p.silences);
        let e = &p.exception;
        assert!(e.fields.len() == e.comps.len() && e.comps.len() == e.values.len() && !e.fields.is_empty());
        for (c, v) in e.comps.iter().zip(&e.values) {
            assert!(c == "in" || v.len() == 1);
            if c == "startswith" {
                assert!(v[0].starts_with('/') && v[0].ends_with('/') && v[0].matches('/').count() >= 3);
            }
        }
    }
    let text = overlay(&report, "fuzz");
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("the overlay is not YAML ({e}):\n{text}"));
    let items = doc.as_sequence().map_or(&[][..], |s| s.as_slice());
    let mut rows = 0;
    for item in items {
        let rule = item["rule"].as_str().expect("rule name");
        for exc in item["exceptions"].as_sequence().expect("exceptions") {
            let fields: Vec<&str> = exc["fields"]
                .as_sequence()
                .expect("fields")
                .iter()
                .map(|f| f.as_str().expect("str"))
                .collect();
            for row in exc["values"].as_sequence().expect("values") {
                rows += 1;
                let got: Vec<Vec<String>> = row
                    .as_sequence()
                    .expect("row")
                    .iter()
                    .map(|v| match v {
                        serde_yaml::Value::Sequence(l) => {
                            l.iter().map(|x| x.as_str().expect("str").to_string()).collect()
                        }
                        x => vec![x.as_str().expect("a value is a string").to_string()],
                    })
                    .collect();
                assert!(
                    report.proposals.iter().any(|p| p.rule == rule
                        && p.exception.fields.iter().map(String::as_str).eq(fields.iter().copied())
                        && p.exception.values == got),
                    "overlay row {got:?} of {rule:?} is not a proposal: {:?}\n{text}",
                    report.proposals
                );
            }
        }
    }
    assert_eq!(rows, report.proposals.len(), "every proposal is in the overlay once");
    let _ = summary(&report);
    let _ = to_json(&report);
}

/// Seeds for the corpus.
pub fn seeds() -> Vec<Vec<u8>> {
    let a = |rule: &str, exe: &str, file: &str, extra: &str| {
        format!(
            r#"{{"time":"2026-01-01T00:00:00Z","rule":"{rule}","priority":"Warning","output":"o","output_fields":{{"proc.exepath":"{exe}","proc.pname":"init","container.id":"host","fd.name":"{file}","proc.cmdline":"sh -c x"{extra}}}}}"#
        )
    };
    let mut lines = String::new();
    for i in 0..6 {
        lines.push_str(&a("Read sensitive file", "/usr/bin/cat", &format!("/etc/app/conf.d/{i}.conf"), ""));
        lines.push('\n');
        lines.push_str(&a("Shell \\\"x\\\"", "/bin/sh", "/tmp/x", r#","k8s.ns.name":"ns: #1""#));
        lines.push('\n');
    }
    let mut out = vec![[1u8, 1].iter().copied().chain(lines.bytes()).collect::<Vec<u8>>()];
    out.push(
        format!("\x00\x00[{}, {}, 5, {{}}]", a("r", "/x", "/a/b/c/é", ""), a("r", "/x", "/a/b/c/è", ""))
            .into_bytes(),
    );
    out.push(b"\x02\x00{\"rule\":\"r\",\"output_fields\":{\"proc.name\":\"p\x7f\",\"fd.name\":\"/a\\u0085\"}}\n{\"rule\":\"r\",\"output_fields\":{\"proc.name\":\"p\x7f\",\"fd.name\":\"/a\\u0085\"}}".to_vec());
    out
}

#[cfg(test)]
mod brief_fuzz {
    #[test]
    fn fuzz_alerts() {
        harrier_fuzzrun::run(env!("CARGO_MANIFEST_DIR"), "alerts", &super::seeds(), super::alerts);
    }

    #[test]
    fn seeds_reach_proposals() {
        let s = &super::seeds()[0];
        let (alerts, skipped) = crate::read_alerts(std::str::from_utf8(&s[2..]).unwrap());
        assert_eq!((alerts.len(), skipped), (12, 0));
        let r = crate::tune(&alerts, &crate::Options { min_count: 2, max_listed: 1 });
        assert_eq!(r.proposals.len(), 2, "{r:?}");
    }
}
