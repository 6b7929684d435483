//! Prometheus text exposition: alerts by rule, priority and source, and every sink's queue
//! counters. Served at `/metrics` by the forwarder; [`crate::prometheus::PrometheusSink`] counts
//! routed alerts into the same registry.

use crate::queue::SinkStats;
use harrier_engine::Alert;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Metrics {
    alerts: Mutex<BTreeMap<(String, String, String), u64>>,
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    pub fn count(&self, a: &Alert) {
        if let Ok(mut m) = self.alerts.lock() {
            *m.entry((a.rule.clone(), a.priority.as_str().to_string(), a.source.clone())).or_default() += 1;
        }
    }

    pub fn render(&self, sinks: &[SinkStats]) -> String {
        let mut o = String::new();
        o.push_str("# HELP harrier_alerts_total Alerts received, by rule, priority and source.\n# TYPE harrier_alerts_total counter\n");
        if let Ok(m) = self.alerts.lock() {
            for ((r, p, s), n) in m.iter() {
                let _ = writeln!(
                    o,
                    "harrier_alerts_total{{priority=\"{}\",rule=\"{}\",source=\"{}\"}} {n}",
                    esc(p),
                    esc(r),
                    esc(s)
                );
            }
        }
        type Get = fn(&SinkStats) -> u64;
        let series: [(&str, &str, &str, Get); 9] = [
            ("harrier_sink_accepted_total", "counter", "Alerts routed to the sink.", |s| s.accepted),
            ("harrier_sink_delivered_total", "counter", "Alerts the sink acknowledged.", |s| s.delivered),
            ("harrier_sink_dropped_total", "counter", "Alerts dropped because the queue was full.", |s| {
                s.dropped
            }),
            ("harrier_sink_failed_total", "counter", "Alerts the receiver rejected.", |s| s.failed),
            ("harrier_sink_retries_total", "counter", "Failed delivery attempts.", |s| s.retries),
            ("harrier_sink_redelivered_total", "counter", "Alerts sent again after a failed attempt.", |s| {
                s.redelivered
            }),
            ("harrier_sink_spilled_total", "counter", "Alerts written to the disk spool.", |s| s.spilled),
            ("harrier_sink_queue_memory", "gauge", "Alerts waiting in memory.", |s| s.in_memory),
            ("harrier_sink_queue_spool", "gauge", "Alerts waiting in the spool.", |s| s.spooled),
        ];
        for (name, ty, help, get) in series {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {ty}");
            for s in sinks {
                let _ =
                    writeln!(o, "{name}{{sink=\"{}\",type=\"{}\"}} {}", esc(&s.name), esc(&s.kind), get(s));
            }
        }
        o
    }
}
