//! The fields every event has whatever its source (`evt.num`, `evt.time*`, `evt.source`…), for
//! sources without syscall state: k8s audit events and hosted plugins' events.

use crate::fields::FieldId as F;
use crate::output::{format_time_hms, format_time_iso8601};
use crate::values::{BoundField, Values};

/// What the generic fields of one event are computed from.
pub struct GenFields<'a> {
    /// Event time, ns since the epoch.
    pub ts: u64,
    /// Event number (1-based).
    pub num: u64,
    /// Time of the source's first event (for `evt.reltime*`).
    pub first_ts: u64,
    pub hostname: &'a str,
    pub source: &'a str,
    /// Name of the plugin that produced the event.
    pub plugin: &'a str,
}

impl GenFields<'_> {
    /// Append a generic field's value: `Some(true)`; `None` when `field` is not one of them.
    pub fn extract(&self, field: &BoundField, out: &mut Values) -> Option<bool> {
        let ts = self.ts;
        match field.id {
            F::EvtNum => out.push_uint(self.num),
            F::EvtTime => out.push_str(&format_time_hms(ts, 0)),
            F::EvtTimeS => out.push_str(&format_time_hms(ts, 0)[..8]),
            F::EvtTimeIso8601 => out.push_str(&format_time_iso8601(ts, 0)),
            F::EvtDatetime | F::EvtDatetimeS => {
                let s = format_time_iso8601(ts, 0);
                let end = if field.id == F::EvtDatetime { 29 } else { 19 };
                out.push_str_with(|b| {
                    b.extend_from_slice(&s.as_bytes()[..10]);
                    b.push(b' ');
                    b.extend_from_slice(&s.as_bytes()[11..end.min(s.len())]);
                })
            }
            F::EvtRawtime => out.push_uint(ts),
            F::EvtRawtimeS => out.push_uint(ts / 1_000_000_000),
            F::EvtRawtimeNs => out.push_uint(ts % 1_000_000_000),
            F::EvtReltime => out.push_uint(ts.saturating_sub(self.first_ts)),
            F::EvtReltimeS => out.push_uint(ts.saturating_sub(self.first_ts) / 1_000_000_000),
            F::EvtReltimeNs => out.push_uint(ts.saturating_sub(self.first_ts) % 1_000_000_000),
            F::EvtPluginname => out.push_str(self.plugin),
            F::EvtSource => out.push_str(self.source),
            F::EvtIsAsync => out.push_bool(false),
            F::EvtHostname => out.push_str(self.hostname),
            _ => return None,
        }
        Some(true)
    }
}
