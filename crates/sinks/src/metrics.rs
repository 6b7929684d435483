//! The forwarder's Prometheus exposition, on `prometheus-client` (as the main webserver's):
//! alerts by rule, priority and source, and every sink's queue counters. Served at `/metrics`
//! by the forwarder; [`crate::prometheus::PrometheusSink`] counts routed alerts into the same
//! registry. The text is OpenMetrics (`# EOF` at the end), which Prometheus reads.

use crate::queue::SinkStats;
use harrier_engine::Alert;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(String, String)>;

#[derive(Debug, Default)]
pub struct Metrics {
    /// `harrier_alerts_total{priority, rule, source}`.
    alerts: Family<Labels, Counter>,
}

impl Metrics {
    pub fn count(&self, a: &Alert) {
        let l: Labels = vec![
            ("priority".into(), a.priority.as_str().to_string()),
            ("rule".into(), a.rule.clone()),
            ("source".into(), a.source.clone()),
        ];
        self.alerts.get_or_create(&l).inc();
    }

    pub fn render(&self, sinks: &[SinkStats]) -> String {
        let mut reg = Registry::default();
        reg.register("harrier_alerts", "Alerts received, by rule, priority and source.", self.alerts.clone());
        type Get = fn(&SinkStats) -> u64;
        let labels = |s: &SinkStats| -> Labels {
            vec![("sink".into(), s.name.clone()), ("type".into(), s.kind.clone())]
        };
        let counters: [(&str, &str, Get); 7] = [
            ("harrier_sink_accepted", "Alerts routed to the sink.", |s| s.accepted),
            ("harrier_sink_delivered", "Alerts the sink acknowledged.", |s| s.delivered),
            ("harrier_sink_dropped", "Alerts dropped because the queue was full.", |s| s.dropped),
            ("harrier_sink_failed", "Alerts the receiver rejected.", |s| s.failed),
            ("harrier_sink_retries", "Failed delivery attempts.", |s| s.retries),
            ("harrier_sink_redelivered", "Alerts sent again after a failed attempt.", |s| s.redelivered),
            ("harrier_sink_spilled", "Alerts written to the disk spool.", |s| s.spilled),
        ];
        for (name, help, get) in counters {
            let f: Family<Labels, Counter> = Family::default();
            for s in sinks {
                f.get_or_create(&labels(s)).inc_by(get(s));
            }
            reg.register(name, help, f);
        }
        let gauges: [(&str, &str, Get); 2] = [
            ("harrier_sink_queue_memory", "Alerts waiting in memory.", |s| s.in_memory),
            ("harrier_sink_queue_spool", "Alerts waiting in the spool.", |s| s.spooled),
        ];
        for (name, help, get) in gauges {
            let f: Family<Labels, Gauge> = Family::default();
            for s in sinks {
                f.get_or_create(&labels(s)).set(i64::try_from(get(s)).unwrap_or(i64::MAX));
            }
            reg.register(name, help, f);
        }
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &reg) {
            tracing::warn!("cannot encode the metrics: {e}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_labels_and_escaping() {
        let m = Metrics::default();
        let mut a = crate::alert::test_alert();
        a.rule = "A \"q\"\nb\\".into();
        m.count(&a);
        m.count(&a);
        let s = SinkStats {
            name: "hook".into(),
            kind: "webhook".into(),
            delivered: 5,
            in_memory: 3,
            ..Default::default()
        };
        let t = m.render(&[s]);
        assert!(t.contains("# TYPE harrier_alerts counter"), "{t}");
        assert!(
            t.contains(&format!(
                "harrier_alerts_total{{priority=\"{}\",rule=\"A \\\"q\\\"\\nb\\\\\",source=\"{}\"}} 2",
                a.priority.as_str(),
                a.source
            )),
            "{t}"
        );
        assert!(t.contains("harrier_sink_delivered_total{sink=\"hook\",type=\"webhook\"} 5"), "{t}");
        assert!(t.contains("# TYPE harrier_sink_queue_memory gauge"), "{t}");
        assert!(t.contains("harrier_sink_queue_memory{sink=\"hook\",type=\"webhook\"} 3"), "{t}");
        assert!(t.contains("harrier_sink_failed_total{sink=\"hook\",type=\"webhook\"} 0"), "{t}");
        assert!(t.trim_end().ends_with("# EOF"), "{t}");
        // Nothing counted and no sinks: no series (prometheus-client leaves empty families out).
        let t = Metrics::default().render(&[]);
        assert_eq!(t.trim(), "# EOF");
    }
}
