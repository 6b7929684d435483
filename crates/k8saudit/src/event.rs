//! One Kubernetes audit event, parsed once, and the payload grammar of the k8saudit plugin.
//!
//! A payload (a webhook body, a line of a JSON Lines file) is a JSON array (each element read the
//! same way, recursively), an object with `"kind": "EventList"` (every `items[]` element) or
//! `"kind": "Event"` (that object). Anything else drops the whole payload with Falco's message
//! `data not recognized as a k8s audit event`. Each event needs a `stageTimestamp` (RFC 3339), which
//! becomes the event time; the event is kept as compact JSON, and one over `maxEventSize` bytes is
//! dropped and counted. An error in one event skips that event only; the rest of the batch goes on.

use crate::json::Json;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// A parsed audit event: time, compact JSON text (the plugin event payload) and the tree that field
/// extraction reads. Parsed once; every field of every rule reads the same tree.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// `stageTimestamp` in ns since the epoch.
    pub ts: u64,
    /// The event as compact JSON (what Falco's k8saudit plugin puts in the plugin event).
    pub payload: Box<str>,
    pub root: Json,
}

impl AuditEvent {
    /// Rebuild an event from a plugin event payload (a capture, another process). The time comes
    /// from the plugin event header, as in Falco.
    pub fn from_payload(ts: u64, payload: &[u8]) -> Result<AuditEvent, PayloadError> {
        let root = Json::parse(payload).map_err(|e| PayloadError::Json(e.to_string()))?;
        let payload = String::from_utf8_lossy(payload).into_owned().into_boxed_str();
        Ok(AuditEvent { ts, payload, root })
    }
}

/// Why a whole payload was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// Not JSON (serde_json's message).
    Json(String),
    /// JSON, but neither an `EventList`, an `Event` nor an array of them.
    NotAudit,
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayloadError::Json(e) => write!(f, "invalid JSON: {e}"),
            // Falco's k8saudit plugin message, word for word (tests grep for it).
            PayloadError::NotAudit => f.write_str("data not recognized as a k8s audit event"),
        }
    }
}

impl std::error::Error for PayloadError {}

/// Outcome counters of the parser and the inputs, shared between threads and exported as metrics.
#[derive(Debug, Default)]
pub struct Counters {
    /// Events handed on to the rules.
    pub accepted: AtomicU64,
    /// Payloads dropped whole: not JSON.
    pub bad_json: AtomicU64,
    /// Payloads dropped whole: not an audit event (`data not recognized…`).
    pub not_audit: AtomicU64,
    /// Events dropped: compact size over `maxEventSize`.
    pub too_large: AtomicU64,
    /// Events dropped: `stageTimestamp` missing or not RFC 3339.
    pub bad_timestamp: AtomicU64,
    /// Webhook requests answered 503 because the queue to the rules was full.
    pub rejected_busy: AtomicU64,
    /// Webhook requests refused: wrong method, content type, body over `webhookMaxBatchSize`,
    /// missing or wrong bearer token.
    pub rejected_request: AtomicU64,
}

impl Counters {
    /// (name, value) pairs, names as exported (`harrier_k8saudit_<name>_total`).
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        vec![
            ("accepted", g(&self.accepted)),
            ("bad_json", g(&self.bad_json)),
            ("not_audit", g(&self.not_audit)),
            ("too_large", g(&self.too_large)),
            ("bad_timestamp", g(&self.bad_timestamp)),
            ("rejected_busy", g(&self.rejected_busy)),
            ("rejected_request", g(&self.rejected_request)),
        ]
    }
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

/// Parse a payload into events appended to `out`. On a payload error nothing is appended (the
/// plugin drops the whole payload too) and the error is logged and counted here.
pub fn parse_payload(
    bytes: &[u8],
    max_event_size: usize,
    out: &mut Vec<AuditEvent>,
    counters: &Counters,
) -> Result<usize, PayloadError> {
    let root = match Json::parse(bytes) {
        Ok(r) => r,
        Err(e) => {
            bump(&counters.bad_json);
            let err = PayloadError::Json(e.to_string());
            tracing::warn!("k8saudit: {err}");
            return Err(err);
        }
    };
    parse_value(root, max_event_size, out, counters)
}

/// [`parse_payload`] over an already parsed value.
pub fn parse_value(
    root: Json,
    max_event_size: usize,
    out: &mut Vec<AuditEvent>,
    counters: &Counters,
) -> Result<usize, PayloadError> {
    let mut found = Vec::new();
    if let Err(e) = collect(root, &mut found) {
        bump(&counters.not_audit);
        tracing::warn!("k8saudit: {e}");
        return Err(e);
    }
    let before = out.len();
    for ev in found {
        match single(ev, max_event_size) {
            Ok(ev) => out.push(ev),
            Err(SingleError::Timestamp(msg)) => {
                bump(&counters.bad_timestamp);
                tracing::warn!("k8saudit: {msg}");
            }
            Err(SingleError::TooLarge(n)) => {
                bump(&counters.too_large);
                tracing::warn!("k8saudit: event larger than maxEventSize: size={n}");
            }
        }
    }
    let n = out.len() - before;
    counters.accepted.fetch_add(n as u64, Ordering::Relaxed);
    Ok(n)
}

/// The grammar: arrays recurse, `EventList` yields its items, `Event` itself.
fn collect(v: Json, found: &mut Vec<Json>) -> Result<(), PayloadError> {
    match v {
        Json::Array(items) => {
            for it in items {
                collect(it, found)?;
            }
            Ok(())
        }
        Json::Object(mut m) => {
            let kind = m.iter().find(|(k, _)| k == "kind").and_then(|(_, v)| v.as_str().map(str::to_owned));
            match kind.as_deref() {
                Some("EventList") => {
                    let items = m.iter().position(|(k, _)| k == "items");
                    match items.map(|i| m.swap_remove(i).1) {
                        Some(Json::Array(items)) => {
                            found.extend(items);
                            Ok(())
                        }
                        _ => Err(PayloadError::NotAudit),
                    }
                }
                Some("Event") => {
                    found.push(Json::Object(m));
                    Ok(())
                }
                _ => Err(PayloadError::NotAudit),
            }
        }
        _ => Err(PayloadError::NotAudit),
    }
}

enum SingleError {
    Timestamp(String),
    TooLarge(usize),
}

fn single(root: Json, max_event_size: usize) -> Result<AuditEvent, SingleError> {
    let ts = match root.get("stageTimestamp") {
        None => return Err(SingleError::Timestamp("can't read stageTimestamp".into())),
        Some(v) => {
            let s = v.as_str().unwrap_or("");
            parse_rfc3339_ns(s).ok_or_else(|| {
                SingleError::Timestamp(format!("cannot parse stageTimestamp {s:?} as RFC 3339"))
            })?
        }
    };
    let payload = root.to_compact();
    if payload.len() > max_event_size {
        return Err(SingleError::TooLarge(payload.len()));
    }
    Ok(AuditEvent { ts, payload: payload.into_boxed_str(), root })
}

/// RFC 3339 with optional fraction → ns since the epoch (`None` before 1970 or unparsable).
pub fn parse_rfc3339_ns(s: &str) -> Option<u64> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    u64::try_from(t.timestamp_nanos_opt()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> (Result<usize, PayloadError>, Vec<AuditEvent>, Counters) {
        let c = Counters::default();
        let mut out = Vec::new();
        let r = parse_payload(s.as_bytes(), 262144, &mut out, &c);
        (r, out, c)
    }

    const EV: &str = r#"{"kind":"Event","auditID":"a","stage":"ResponseComplete","stageTimestamp":"2018-10-25T13:58:49.730588Z"}"#;

    #[test]
    fn grammar() {
        let (r, out, _) = parse(EV);
        assert_eq!(r, Ok(1));
        assert_eq!(out[0].ts, 1540475929730588000);
        assert_eq!(&*out[0].payload, EV);

        let list = format!(r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{EV},{EV}]}}"#);
        assert_eq!(parse(&list).0, Ok(2));
        assert_eq!(parse(&format!("[{EV}, [{EV}], {list}]")).0, Ok(4));
        assert_eq!(parse("[]").0, Ok(0));
    }

    #[test]
    fn not_audit_drops_whole_payload_with_falcos_message() {
        for bad in [r#"{"kind": 0}"#, r#"{"kind":"Pod"}"#, "3", r#"{"kind":"EventList"}"#, r#"{"no":"kind"}"#]
        {
            let (r, out, c) = parse(bad);
            assert_eq!(r, Err(PayloadError::NotAudit), "{bad}");
            assert_eq!(r.unwrap_err().to_string(), "data not recognized as a k8s audit event");
            assert!(out.is_empty());
            assert_eq!(c.not_audit.load(Ordering::Relaxed), 1);
        }
        // One bad element drops the whole array, as in the plugin.
        let (r, out, _) = parse(&format!(r#"[{EV}, {{"kind": 0}}]"#));
        assert_eq!(r, Err(PayloadError::NotAudit));
        assert!(out.is_empty());
        let (r, _, c) = parse("{not json");
        assert!(matches!(r, Err(PayloadError::Json(_))));
        assert_eq!(c.bad_json.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn per_event_errors_skip_only_that_event() {
        let no_ts = r#"{"kind":"Event","auditID":"b"}"#;
        let bad_ts = r#"{"kind":"Event","auditID":"b","stageTimestamp":"yesterday"}"#;
        let (r, out, c) = parse(&format!("[{EV},{no_ts},{bad_ts},{EV}]"));
        assert_eq!(r, Ok(2));
        assert_eq!(out.len(), 2);
        assert_eq!(c.bad_timestamp.load(Ordering::Relaxed), 2);
        assert_eq!(c.accepted.load(Ordering::Relaxed), 2);

        let c = Counters::default();
        let mut out = Vec::new();
        let r = parse_payload(format!("[{EV}]").as_bytes(), EV.len() - 1, &mut out, &c);
        assert_eq!(r, Ok(0));
        assert_eq!(c.too_large.load(Ordering::Relaxed), 1);
        let r = parse_payload(format!("[{EV}]").as_bytes(), EV.len(), &mut out, &c);
        assert_eq!(r, Ok(1));
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_rfc3339_ns("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(parse_rfc3339_ns("1970-01-01T01:00:01.5+01:00"), Some(1_500_000_000));
        assert_eq!(parse_rfc3339_ns("2018-10-25T13:58:49"), None);
    }
}
