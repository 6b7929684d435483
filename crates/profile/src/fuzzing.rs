//! Entry points for the fuzz targets (`crates/profile/fuzz`): the profile and model files Harrier
//! reads from disk. Must never panic. Not a stable API.

/// Bytes as a profile file and as a model file; what parses is used as the running stage would.
pub fn files(data: &[u8]) {
    if let Ok(mut p) = crate::profile::ProfileSet::parse(data) {
        let o = crate::obs::Observation::from_pairs("execve", "exe:/x", &[("proc.exepath", "/y")]);
        let _ = p.observe(&o);
        p.end_learning();
        let _ = p.observe(&o);
        for w in p.workloads.values_mut() {
            w.accept(None, None);
        }
        let _ = crate::profile::ProfileSet::diff(&p, &p.clone());
        let _ = serde_json::to_vec(&p);
    }
    if let Ok(m) = crate::scorer::Model::parse(data) {
        let _ = m.classify("evt.type=openat fd.name=/etc/shadow");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn odd_files_do_not_panic() {
        for d in [
            &b""[..],
            b"{}",
            br#"{"format":"harrier-profiles","version":1,"learn_window_ns":1,"workloads":{"a":{"first_seen_ns":0,"last_seen_ns":0,"learn_until_ns":18446744073709551615,"learned_events":0,"items":{"exec":["/y"]}}}}"#,
            br#"{"format":"harrier-scorer","version":1,"bits":8,"bias":0,"threshold":0.5,"weights":[[4000000000,1.0]],"centroids":{"r":[[1,1.0]]},"trained_on":{"positives":0,"negatives":0,"epochs":0}}"#,
        ] {
            super::files(d);
        }
    }
}
