//! Entry points for the fuzz targets (`crates/ops/fuzz`): what operations read from outside — a
//! rules source given on the command line (`-r https://…`, `oci://…`), an OCI manifest and rules
//! layer as a registry serves them, and rule names and tags (from rules files) as they reach the
//! Prometheus exposition. Invariants checked; never panics. Not a stable API.

use crate::metrics::{render_prometheus, sanitize, RuleMatches, Snapshot};
use crate::remote::{rules_from_layer, rules_layer_digest, RemoteRules, MAX_BYTES};
use std::io::Write;

/// A `-r` argument: parsed or refused; the cache file name stays inside the cache directory.
pub fn remote_source(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let Some(r) = RemoteRules::parse(&s) else {
        assert!(!s.starts_with("http://") && !s.starts_with("https://") && !s.starts_with("oci://"));
        return;
    };
    if let Ok(r) = r {
        let name = r.cache_name();
        assert!(name.ends_with(".yaml"), "{name}");
        // One file name inside the cache directory (never `.`, `..` or a path).
        assert!(!name.contains('/') && name != "." && name != "..", "cache name {name:?} escapes");
        assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)), "{name:?}");
        if let RemoteRules::Url { sha256: Some(h), .. } = &r {
            assert_eq!(h.len(), 64);
        }
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).expect("memory");
    gz.finish().expect("memory")
}

/// A registry's answers: the input as an OCI manifest, and as a rules layer (raw, and gzipped so
/// the tar reader sees it).
pub fn oci_artifact(data: &[u8]) {
    if let Ok(hex) = rules_layer_digest(data) {
        assert!(hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }
    for blob in [data.to_vec(), gzip(data)] {
        if let Ok(rules) = rules_from_layer(&blob) {
            assert!(!rules.is_empty() && rules.len() <= MAX_BYTES + 64 * 1024);
        }
    }
}

/// Check an OpenMetrics text: every sample line is `name{label="value",…} number` with label
/// names unique in the series and values escaped (no raw quote or newline inside).
fn check_exposition(text: &str) {
    assert!(text.ends_with("# EOF\n"), "no # EOF at the end");
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("sample without a value: {line:?}"));
        let name = &line[..name_end];
        assert!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'),
            "metric name {name:?}"
        );
        let mut rest = &line[name_end..];
        if let Some(r) = rest.strip_prefix('{') {
            let mut seen = Vec::new();
            let mut r = r;
            loop {
                if let Some(after) = r.strip_prefix('}') {
                    r = after;
                    break;
                }
                let eq = r.find('=').unwrap_or_else(|| panic!("label without '=': {line:?}"));
                let lname = &r[..eq];
                assert!(
                    !lname.is_empty() && lname.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                    "label name {lname:?} in {line:?}"
                );
                assert!(!seen.contains(&lname), "label {lname} twice in {line:?}");
                seen.push(lname);
                r = r[eq + 1..].strip_prefix('"').unwrap_or_else(|| panic!("unquoted label value: {line:?}"));
                // The value: up to the first unescaped quote.
                let mut end = None;
                let mut esc = false;
                for (i, c) in r.char_indices() {
                    match (esc, c) {
                        (true, '\\' | '"' | 'n') => esc = false,
                        (true, _) => panic!("bad escape in {line:?}"),
                        (false, '\\') => esc = true,
                        (false, '"') => {
                            end = Some(i);
                            break;
                        }
                        _ => {}
                    }
                }
                let end = end.unwrap_or_else(|| panic!("unterminated label value: {line:?}"));
                r = &r[end + 1..];
                r = r.strip_prefix(',').unwrap_or(r);
            }
            rest = r;
        }
        let value = rest.strip_prefix(' ').unwrap_or_else(|| panic!("no value: {line:?}"));
        let value = value.split(' ').next().unwrap_or("");
        assert!(value.parse::<f64>().is_ok(), "value {value:?} in {line:?}");
    }
}

/// Rule names, sources and tags (lines of the input: `rule`, `source`, then tags) through the
/// metric-key sanitising and the Prometheus exposition, which must stay well-formed.
pub fn metric_names(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let rule = lines.next().unwrap_or("").to_string();
    let source = lines.next().unwrap_or("").to_string();
    let tags: Vec<String> = lines.map(str::to_string).collect();
    let s = sanitize(&rule);
    assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':') && !s.ends_with('_'));
    assert!(!s.contains("__"));
    let snap = Snapshot {
        version: rule.clone(),
        hostname: source.clone(),
        rules: vec![
            RuleMatches {
                rule: rule.clone(),
                priority: harrier_rules::Priority::Warning,
                source: source.clone(),
                tags: tags.clone(),
                count: 3,
            },
            RuleMatches {
                rule: source,
                priority: harrier_rules::Priority::Emergency,
                source: rule,
                tags,
                count: 1,
            },
        ],
        rules_files_sha256: vec![(text.to_string(), "00".into())],
        ..Default::default()
    };
    check_exposition(&render_prometheus(&snap));
    let line = crate::metrics::output_file_line(&snap, 1, true);
    assert!(!line.contains('\n'), "an output file line holds a newline");
    serde_json::from_str::<serde_json::Value>(&line).expect("the output file line is JSON");
}

/// Seeds for the corpus: (target, bytes).
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.cncf.falco.rulesfile.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/vnd.cncf.falco.rulesfile.layer.v1+tar.gz","digest":"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855","size":0}]}"#;
    let mut tar = tar::Builder::new(Vec::new());
    let body = b"- rule: r\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: WARNING\n";
    let mut h = tar::Header::new_gnu();
    h.set_size(body.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "falco_rules.yaml", &body[..]).expect("memory");
    let tar = tar.into_inner().expect("memory");
    vec![
        ("remote_source", b"https://example.org/rules/falco_rules.yaml#sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".to_vec()),
        ("remote_source", b"oci://ghcr.io/falcosecurity/rules/falco-rules:3".to_vec()),
        ("remote_source", b"oci+http://127.0.0.1:5000/r@sha256:00".to_vec()),
        ("oci_artifact", manifest.to_vec()),
        ("oci_artifact", tar.clone()),
        ("oci_artifact", gzip(&tar)),
        ("metric_names", b"Terminal shell in container\nsyscall\ncontainer\nshell\nmitre_execution\nT1059".to_vec()),
        ("metric_names", "r \"q\" \\ é\nk8s_audit\n\n日本\n-".as_bytes().to_vec()),
    ]
}

#[cfg(test)]
mod brief_fuzz {
    fn run(target: &str, f: fn(&[u8])) {
        harrier_fuzzrun::run_seeded(env!("CARGO_MANIFEST_DIR"), target, super::seeds(), f);
    }

    #[test]
    fn fuzz_remote_source() {
        run("remote_source", super::remote_source);
    }

    #[test]
    fn fuzz_oci_artifact() {
        run("oci_artifact", super::oci_artifact);
    }

    #[test]
    fn fuzz_metric_names() {
        run("metric_names", super::metric_names);
    }

    #[test]
    fn seeds_exercise_the_parsers() {
        // The manifest seed names a well-formed (upper-case) digest; the tar seeds hold rules.
        let s = super::seeds();
        assert!(crate::remote::rules_layer_digest(&s[3].1).is_ok());
        assert!(crate::remote::rules_from_layer(&s[5].1).is_ok());
        assert!(crate::remote::rules_from_layer(&s[4].1).is_err(), "not gzipped");
    }
}
