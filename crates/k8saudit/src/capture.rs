//! Audit events in `.scap` captures, as Falco stores them: plugin events (`PPME_PLUGINEVENT_E`,
//! type 322) carrying the plugin id (1 = k8saudit) and the event's compact JSON, the time in the
//! event header, tid `u64::MAX`. Captures written here replay in Falco with the k8saudit plugin, and
//! Falco's replay here. Ids of the k8saudit variants (eks 9, gke 16, aks 21, ovh 22) map to the
//! same source; other plugin ids are not audit events.

use crate::event::{AuditEvent, PayloadError};
use harrier_event::{Event, EventBuf};
use harrier_scap::{Header, Reader, ScapError, Writer, WriterOptions};
use std::path::Path;

/// `PPME_PLUGINEVENT_E`.
pub const PLUGIN_EVENT: u16 = harrier_event::table::ids::PPME_PLUGINEVENT_E;

/// Plugin ids whose events are k8s audit events (k8saudit and its cloud variants).
pub const K8S_AUDIT_PLUGIN_IDS: [u32; 5] = [1, 9, 16, 21, 22];

/// Build the plugin event of `ev` in `buf`.
pub fn plugin_event<'b>(buf: &'b mut EventBuf, ev: &AuditEvent) -> Result<Event<'b>, String> {
    buf.begin(ev.ts, u64::MAX, PLUGIN_EVENT).push_u32(crate::config::PLUGIN_ID).push(ev.payload.as_bytes());
    buf.finish().map_err(|e| e.to_string())
}

/// The audit event carried by a capture event: `None` when it is not a k8s audit plugin event.
pub fn audit_event(ev: &Event<'_>) -> Option<Result<AuditEvent, PayloadError>> {
    if ev.etype() != PLUGIN_EVENT {
        return None;
    }
    let id = ev.param(0).filter(|p| p.len() == 4).map(|p| u32::from_le_bytes([p[0], p[1], p[2], p[3]]))?;
    if !K8S_AUDIT_PLUGIN_IDS.contains(&id) {
        return None;
    }
    Some(AuditEvent::from_payload(ev.ts(), ev.param(1).unwrap_or(&[])))
}

/// Write audit events to a new capture file.
pub struct CaptureWriter {
    w: Writer,
    buf: EventBuf,
}

impl CaptureWriter {
    pub fn create(path: &Path, gzip: bool) -> Result<CaptureWriter, ScapError> {
        let mut w = Writer::create(path, WriterOptions { gzip, ..Default::default() })?;
        w.write_header(&Header::default())?;
        Ok(CaptureWriter { w, buf: EventBuf::new() })
    }

    pub fn write(&mut self, ev: &AuditEvent) -> Result<(), String> {
        let e = plugin_event(&mut self.buf, ev)?;
        self.w.write_event(&e).map_err(|e| e.to_string())
    }

    pub fn events_written(&self) -> u64 {
        self.w.events_written()
    }

    pub fn finish(self) -> Result<(), ScapError> {
        self.w.finish()
    }
}

/// Read every k8s audit event of a capture (other events are skipped; a plugin event whose payload
/// is not JSON is logged and skipped).
pub fn read_capture(path: &Path, mut f: impl FnMut(AuditEvent)) -> Result<u64, ScapError> {
    let mut r = Reader::open(path)?;
    let mut n = 0;
    while let Some(ev) = r.next_event()? {
        match audit_event(&ev) {
            None => {}
            Some(Ok(a)) => {
                n += 1;
                f(a)
            }
            Some(Err(e)) => tracing::warn!("k8saudit: capture event skipped: {e}"),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_a_capture_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.scap");
        let c = crate::Counters::default();
        let mut evs = Vec::new();
        let line = r#"{"kind":"EventList","items":[{"kind":"Event","auditID":"1","b":1,"a":[2],"stageTimestamp":"2024-01-01T00:00:00.25Z"},{"kind":"Event","auditID":"2","stageTimestamp":"2024-01-01T00:00:01Z"}]}"#;
        crate::parse_payload(line.as_bytes(), 1 << 20, &mut evs, &c).unwrap();
        let mut w = CaptureWriter::create(&p, false).unwrap();
        for e in &evs {
            w.write(e).unwrap();
        }
        assert_eq!(w.events_written(), 2);
        w.finish().unwrap();
        // The event layout Falco expects: payload at byte 38 (26-byte header, 2 × u32 lengths, id).
        let mut buf = EventBuf::new();
        let e = plugin_event(&mut buf, &evs[0]).unwrap();
        assert_eq!(&e.raw()[38..], evs[0].payload.as_bytes());
        assert_eq!(e.tid(), u64::MAX);

        let mut back = Vec::new();
        assert_eq!(read_capture(&p, |e| back.push(e)).unwrap(), 2);
        for (a, b) in evs.iter().zip(&back) {
            assert_eq!((a.ts, &a.payload, &a.root), (b.ts, &b.payload, &b.root));
        }
        // Another plugin's id is not an audit event.
        buf.begin(1, u64::MAX, PLUGIN_EVENT).push_u32(2).push(b"{}");
        assert!(audit_event(&buf.finish().unwrap()).is_none());
    }
}
