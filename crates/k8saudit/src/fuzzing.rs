//! Entry points for the fuzz targets (`crates/k8saudit/fuzz`): a webhook body and a JSON Lines
//! stream, through the same code the inputs run, with the invariants the rules rely on checked;
//! every field of every event extracted. Also the seeds ([`seeds`]). Not a stable API.

use crate::event::{parse_payload, AuditEvent, Counters};
use crate::fields::AuditAccessor;
use crate::files::{read_jsonl, LineCounters, ReadLimits};
use harrier_engine::fields::{ArgKind, FieldClass, FIELDS};
use harrier_engine::{BoundField, EventAccessor, FieldArg, Values};
use std::sync::atomic::Ordering;

/// Extract every k8s audit / json field (with and without arguments) from `ev`.
fn extract_all(ev: &AuditEvent) {
    let acc = AuditAccessor::new(ev, 1);
    let mut v = Values::new();
    for f in
        FIELDS.iter().filter(|f| matches!(f.class, FieldClass::K8sAudit | FieldClass::Json | FieldClass::Gen))
    {
        let args: &[FieldArg] = match f.arg {
            ArgKind::None => &[FieldArg::None],
            _ => &[FieldArg::None, FieldArg::Index(0), FieldArg::Index(1), FieldArg::Index(-1)],
        };
        for a in args {
            v.clear();
            let _ = acc.extract(&BoundField::with_arg(f.id, a.clone()), &mut v);
        }
        for k in ["/", "", "/kind", "/items/0", "/a~1b/~0", "x*", "/requestObject/spec/volumes"] {
            v.clear();
            let _ = acc.extract(&BoundField::with_arg(f.id, FieldArg::Key(k.into())), &mut v);
        }
    }
}

fn check(ev: &AuditEvent, max_event_size: usize) {
    assert!(ev.payload.len() <= max_event_size);
    // The payload is what a capture stores: it must read back to the same tree.
    let back = AuditEvent::from_payload(ev.ts, ev.payload.as_bytes()).expect("payload re-parses");
    assert_eq!(back.root, ev.root);
}

/// A webhook body, as the handler parses it.
pub fn webhook_body(data: &[u8]) {
    let c = Counters::default();
    let mut out = Vec::new();
    let max = 4096;
    let r = parse_payload(data, max, &mut out, &c);
    assert_eq!(r.is_ok(), c.bad_json.load(Ordering::Relaxed) + c.not_audit.load(Ordering::Relaxed) == 0);
    if r.is_err() {
        assert!(out.is_empty(), "a refused payload yields no event");
    }
    for ev in &out {
        check(ev, max);
        extract_all(ev);
    }
}

/// A JSON Lines stream, as a file replay reads it.
pub fn jsonl(data: &[u8]) {
    let c = Counters::default();
    let lines = LineCounters::default();
    let limits = ReadLimits { max_event_size: 2048, max_line: 8192 };
    let mut n = 0usize;
    read_jsonl(data, limits, &c, &lines, |evs| {
        for ev in &evs {
            check(ev, limits.max_event_size);
        }
        n += evs.len();
        true
    })
    .expect("reading memory cannot fail");
    assert_eq!(n as u64, c.accepted.load(Ordering::Relaxed));
}

/// Seed inputs for both targets: (name, bytes).
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let ev = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"1","stage":"ResponseComplete","verb":"create","user":{"username":"u","groups":["g"]},"objectRef":{"resource":"pods","namespace":"default"},"requestObject":{"spec":{"containers":[{"name":"a","image":"nginx:1","securityContext":{"privileged":true},"ports":[{"hostPort":80}]}],"volumes":[{"name":"v","hostPath":{"path":"/"}}]}},"stageTimestamp":"2024-01-01T00:00:00.000001Z"}"#;
    vec![
        ("event".into(), ev.as_bytes().to_vec()),
        ("eventlist".into(), format!(r#"{{"kind":"EventList","items":[{ev},{ev}]}}"#).into_bytes()),
        ("array".into(), format!("[{ev},[{ev}]]").into_bytes()),
        ("not_audit".into(), br#"{"kind": 0}"#.to_vec()),
        ("jsonl".into(), format!("{ev}\n\n{{\"kind\":\"Event\"}}\n{ev}").into_bytes()),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeds_pass_both_targets() {
        for (_, s) in super::seeds() {
            super::webhook_body(&s);
            super::jsonl(&s);
        }
        super::webhook_body(b"\xff\xfe");
        super::jsonl(b"\n\n\xff\n[[[[");
    }
}

/// Every target briefly in the unit tests: seeds, the corpus kept in the repository, then
/// mutations for `HARRIER_FUZZ_SECS` (see `harrier-fuzzrun`).
#[cfg(test)]
mod brief_fuzz {
    fn seeds() -> Vec<Vec<u8>> {
        super::seeds().into_iter().map(|(_, s)| s).collect()
    }
    #[test]
    fn webhook_body() {
        harrier_fuzzrun::run(env!("CARGO_MANIFEST_DIR"), "webhook_body", &seeds(), super::webhook_body);
    }
    #[test]
    fn jsonl() {
        harrier_fuzzrun::run(env!("CARGO_MANIFEST_DIR"), "jsonl", &seeds(), super::jsonl);
    }
}
