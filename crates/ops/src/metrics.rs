//! Falco's metrics: a snapshot of counters taken by the live loop, rendered as Falco does — the
//! Prometheus exposition at `/metrics` (Falco's `falcosecurity_*` names, units and labels where
//! Harrier has the value; Harrier's own families under `harrier_*`), the JSON snapshot of
//! `metrics.output_file`, and the `Falco internal: metrics snapshot` alert of
//! `metrics.output_rule`. Values Harrier does not have are omitted, never faked.

use harrier_engine::Alert;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

/// Matches of one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMatches {
    pub rule: String,
    pub priority: harrier_rules::Priority,
    pub source: String,
    pub tags: Vec<String>,
    pub count: u64,
}

/// One sink's delivery counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkCounters {
    pub name: String,
    pub kind: String,
    pub queued_in_memory: u64,
    pub queued_spooled: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub failed: u64,
    pub retries: u64,
    pub spilled: u64,
}

/// What the live loop knows at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub version: String,
    pub hostname: String,
    pub kernel_release: String,
    pub engine_name: String,
    pub evt_source: String,
    /// ns since the epoch.
    pub now_ns: u64,
    pub start_ns: u64,
    pub reload_ns: u64,
    pub host_boot_ns: u64,
    pub host_num_cpus: u64,
    /// Events the kernel sent, and lost (in total and by class).
    pub n_evts: u64,
    pub n_drops: u64,
    pub drops_by_class: Vec<(String, u64)>,
    /// Records the kernel submitted, by class.
    pub events_by_class: Vec<(String, u64)>,
    /// Records the in-kernel pre-filter dropped on purpose (no loaded rule or state uses them).
    pub n_prefiltered: u64,
    /// Records the kernel submitted as urgent, and its forced wake-ups of the reader.
    pub n_urgent: u64,
    pub n_wakeups: u64,
    /// Events per second and drops per second since the previous snapshot.
    pub evts_rate_sec: f64,
    pub drops_rate_sec: f64,
    pub rules: Vec<RuleMatches>,
    pub outputs_queue_num_drops: u64,
    pub rules_files_sha256: Vec<(String, String)>,
    pub config_files_sha256: Vec<(String, String)>,
    /// This process: CPU share of one core since the last snapshot, resident and virtual size.
    pub cpu_usage_ratio: f64,
    pub memory_rss_bytes: u64,
    pub memory_vsz_bytes: u64,
    pub sinks: Vec<SinkCounters>,
    /// Rule-file reloads that took effect / were refused.
    pub reloads_ok: u64,
    pub reloads_failed: u64,
    /// Metrics the hosted plugins report (`get_metrics`).
    pub plugins: Vec<PluginMetric>,
    /// The workload-profile and learned-scorer stage, when `profile:` enables it.
    pub profile: Option<ProfileMetrics>,
}

/// Counters of the workload-profile and learned-scorer stage (`harrier_profile_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileMetrics {
    /// Events the stage was shown.
    pub events_seen: u64,
    /// Observations handed to its worker, and dropped because its queue was full.
    pub queued: u64,
    pub queue_drops: u64,
    /// Events the learned scorer scored, and its alerts.
    pub scored: u64,
    pub scorer_alerts: u64,
    /// Workloads in their learning window, and past it.
    pub workloads_learning: u64,
    pub workloads_enforcing: u64,
    /// Deviations reported, by kind (`exec`, `drift` …).
    pub deviations: Vec<(String, u64)>,
}

/// One metric of a hosted plugin.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginMetric {
    pub plugin: String,
    pub name: String,
    /// Counter (monotonic) or gauge.
    pub monotonic: bool,
    pub value: f64,
}

/// Falco's rule-name sanitising for metric keys: `[^A-Za-z0-9_:]` → `_`, runs collapsed, a
/// trailing `_` dropped.
pub fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' || c == ':' { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    let mut l: Labels = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    l.sort();
    l
}

const FALCO_HELP: &str = "https://falco.org/docs/metrics/";

struct Reg(Registry);

impl Reg {
    fn counter(&mut self, name: &str, help: &str, value: u64) {
        let c: Counter = Counter::default();
        c.inc_by(value);
        self.0.register(name, help, c);
    }
    fn gauge(&mut self, name: &str, help: &str, value: i64) {
        let g: Gauge = Gauge::default();
        g.set(value);
        self.0.register(name, help, g);
    }
    fn gauge_f(&mut self, name: &str, help: &str, value: f64) {
        let g: Gauge<f64, AtomicU64> = Gauge::default();
        g.set(value);
        self.0.register(name, help, g);
    }
    fn info(&mut self, name: &str, help: &str, series: &[Labels]) {
        let f: Family<Labels, Gauge> = Family::default();
        for l in series {
            f.get_or_create(l).set(1);
        }
        self.0.register(name, help, f);
    }
    fn counters(&mut self, name: &str, help: &str, series: Vec<(Labels, u64)>) {
        let f: Family<Labels, Counter> = Family::default();
        for (l, v) in series {
            f.get_or_create(&l).inc_by(v);
        }
        self.0.register(name, help, f);
    }
    fn gauges(&mut self, name: &str, help: &str, series: Vec<(Labels, i64)>) {
        let f: Family<Labels, Gauge> = Family::default();
        for (l, v) in series {
            f.get_or_create(&l).set(v);
        }
        self.0.register(name, help, f);
    }
}

/// The Prometheus text exposition of a snapshot (counters carry `_total`; OpenMetrics text).
pub fn render_prometheus(s: &Snapshot) -> String {
    let mut r = Reg(Registry::default());
    let h = FALCO_HELP;
    r.info("falcosecurity_falco_version_info", h, &[labels(&[("version", &s.version)])]);
    if !s.rules_files_sha256.is_empty() {
        let series: Vec<Labels> =
            s.rules_files_sha256.iter().map(|(f, d)| labels(&[("file_name", f), ("sha256", d)])).collect();
        r.info("falcosecurity_falco_sha256_rules_files_info", h, &series);
    }
    if !s.config_files_sha256.is_empty() {
        let series: Vec<Labels> =
            s.config_files_sha256.iter().map(|(f, d)| labels(&[("file_name", f), ("sha256", d)])).collect();
        r.info("falcosecurity_falco_sha256_config_files_info", h, &series);
    }
    let rules: Vec<(Labels, u64)> = s
        .rules
        .iter()
        .filter(|m| m.count > 0)
        .map(|m| {
            let prio = (m.priority as u8).to_string();
            let mut l = vec![
                ("priority".to_string(), prio),
                ("rule_name".to_string(), m.rule.clone()),
                ("source".to_string(), m.source.clone()),
            ];
            for t in &m.tags {
                // A label name has no ':' (a metric name may).
                l.push((format!("tag_{}", sanitize(t).replace(':', "_")), "true".to_string()));
            }
            l.sort();
            // Tags that sanitise to the same name (`a-b` and `a.b`, or two non-ASCII tags) give
            // one label: a series with a label twice makes scrapers refuse the whole exposition.
            l.dedup_by(|a, b| a.0 == b.0);
            (l, m.count)
        })
        .collect();
    if !rules.is_empty() {
        r.counters("falcosecurity_falco_rules_matches", h, rules);
    }
    r.counter("falcosecurity_falco_outputs_queue_num_drops", h, s.outputs_queue_num_drops);
    if s.reload_ns > 0 {
        r.gauge("falcosecurity_falco_reload_timestamp_nanoseconds", h, s.reload_ns as i64);
    }
    r.gauge("falcosecurity_falco_start_timestamp_nanoseconds", h, s.start_ns as i64);
    if s.host_boot_ns > 0 {
        r.gauge("falcosecurity_falco_host_boot_timestamp_nanoseconds", h, s.host_boot_ns as i64);
    }
    r.counter("falcosecurity_falco_duration_seconds", h, s.now_ns.saturating_sub(s.start_ns) / 1_000_000_000);
    r.gauge("falcosecurity_falco_host_num_cpus_total", h, s.host_num_cpus as i64);
    if !s.kernel_release.is_empty() {
        r.info(
            "falcosecurity_falco_kernel_release_info",
            h,
            &[labels(&[("kernel_release", &s.kernel_release)])],
        );
    }
    r.info("falcosecurity_evt_hostname_info", h, &[labels(&[("hostname", &s.hostname)])]);
    r.info(
        "falcosecurity_scap_engine_name_info",
        h,
        &[labels(&[("engine_name", &s.engine_name), ("evt_source", &s.evt_source)])],
    );
    r.gauge_f("falcosecurity_falco_cpu_usage_ratio", h, s.cpu_usage_ratio);
    r.gauge("falcosecurity_falco_memory_rss_bytes", h, s.memory_rss_bytes as i64);
    r.gauge("falcosecurity_falco_memory_vsz_bytes", h, s.memory_vsz_bytes as i64);
    r.counter("falcosecurity_scap_n_evts", h, s.n_evts);
    r.counter("falcosecurity_scap_n_drops", h, s.n_drops);

    // Plugins' own metrics, named as Falco names them (`<plugin>.<metric>`).
    for p in &s.plugins {
        let name = format!("falcosecurity_plugins_{}", sanitize(&format!("{}_{}", p.plugin, p.name)));
        if p.monotonic {
            r.counter(&name, h, p.value.max(0.0) as u64);
        } else {
            r.gauge_f(&name, h, p.value);
        }
    }

    // Harrier's own.
    let drops: Vec<(Labels, u64)> =
        s.drops_by_class.iter().map(|(c, n)| (labels(&[("class", c)]), *n)).collect();
    r.counters("harrier_kernel_drops", "Events lost in the kernel ring buffer, by event class.", drops);
    let sent: Vec<(Labels, u64)> =
        s.events_by_class.iter().map(|(c, n)| (labels(&[("class", c)]), *n)).collect();
    r.counters("harrier_kernel_events", "Events the kernel put on the ring buffer, by event class.", sent);
    r.counters(
        "harrier_kernel_prefiltered",
        "Events the in-kernel pre-filter dropped because no loaded rule or state tracking uses them.",
        vec![(Labels::new(), s.n_prefiltered)],
    );
    r.counters(
        "harrier_kernel_urgent",
        "Events the kernel submitted as urgent (woke the reader within the urgent window).",
        vec![(Labels::new(), s.n_urgent)],
    );
    r.counters(
        "harrier_kernel_wakeups",
        "Times the kernel woke the reader (urgent events, the batch timer, the byte threshold).",
        vec![(Labels::new(), s.n_wakeups)],
    );
    let sink = |f: fn(&SinkCounters) -> u64| -> Vec<(Labels, u64)> {
        s.sinks.iter().map(|k| (labels(&[("sink", &k.name), ("kind", &k.kind)]), f(k))).collect()
    };
    if !s.sinks.is_empty() {
        let depth: Vec<(Labels, i64)> = s
            .sinks
            .iter()
            .map(|k| {
                (
                    labels(&[("sink", &k.name), ("kind", &k.kind)]),
                    (k.queued_in_memory + k.queued_spooled) as i64,
                )
            })
            .collect();
        r.gauges("harrier_sink_queue_depth", "Alerts waiting for a sink, in memory and in its spool.", depth);
        r.counters("harrier_sink_delivered", "Alerts a sink delivered.", sink(|k| k.delivered));
        r.counters("harrier_sink_spilled", "Alerts written to a sink's disk spool.", sink(|k| k.spilled));
        r.counters("harrier_sink_retries", "Delivery attempts a sink retried.", sink(|k| k.retries));
        r.counters(
            "harrier_sink_dropped",
            "Alerts a sink dropped (queue full, when_full: drop_newest).",
            sink(|k| k.dropped),
        );
        r.counters("harrier_sink_failed", "Alerts a sink gave up on.", sink(|k| k.failed));
    }
    if let Some(p) = &s.profile {
        r.counter(
            "harrier_profile_events_seen",
            "Events the workload-profile stage was shown.",
            p.events_seen,
        );
        r.counter(
            "harrier_profile_observations_queued",
            "Observations handed to the profile and scorer thread.",
            p.queued,
        );
        r.counter(
            "harrier_profile_queue_drops",
            "Observations dropped because the profile and scorer queue was full (detection never waits).",
            p.queue_drops,
        );
        r.counter("harrier_profile_scored_events", "Events the learned scorer scored.", p.scored);
        r.counter("harrier_profile_scorer_alerts", "Alerts the learned scorer raised.", p.scorer_alerts);
        r.gauges(
            "harrier_profile_workloads",
            "Workloads with a profile, by state (learning: in their learning window; enforcing: past it).",
            vec![
                (labels(&[("state", "learning")]), p.workloads_learning as i64),
                (labels(&[("state", "enforcing")]), p.workloads_enforcing as i64),
            ],
        );
        r.counters(
            "harrier_profile_deviations",
            "Workload profile deviations reported, by kind.",
            p.deviations.iter().map(|(k, n)| (labels(&[("kind", k)]), *n)).collect(),
        );
    }
    r.counters(
        "harrier_rules_reloads",
        "Rule reloads, by result (a failed reload keeps the running rules).",
        vec![
            (labels(&[("result", "ok")]), s.reloads_ok),
            (labels(&[("result", "failed")]), s.reloads_failed),
        ],
    );
    let mut out = String::new();
    if encode(&mut out, &r.0).is_err() {
        out.clear();
    }
    out
}

/// Falco's JSON snapshot fields (`metrics.output_file` lines and the output-rule alert).
pub fn snapshot_fields(s: &Snapshot, include_empty: bool) -> Map<String, Json> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Json| {
        let empty = matches!(&v, Json::Number(n) if n.as_f64() == Some(0.0)) || v == json!("");
        if include_empty || !empty || k == "scap.n_evts" || k == "scap.n_drops" {
            m.insert(k.to_string(), v);
        }
    };
    put("falco.version", json!(s.version));
    put("falco.start_ts", json!(s.start_ns));
    put("falco.duration_sec", json!(s.now_ns.saturating_sub(s.start_ns) / 1_000_000_000));
    put("falco.kernel_release", json!(s.kernel_release));
    put("falco.host_boot_ts", json!(s.host_boot_ns));
    put("falco.host_num_cpus", json!(s.host_num_cpus));
    put("falco.outputs_queue_num_drops", json!(s.outputs_queue_num_drops));
    put("falco.reload_ts", json!(s.reload_ns));
    put("falco.num_evts", json!(s.n_evts));
    put("falco.evts_rate_sec", json!(s.evts_rate_sec));
    for (f, d) in &s.rules_files_sha256 {
        put(&format!("falco.sha256_rules_file.{}", sanitize(f)), json!(d));
    }
    for (f, d) in &s.config_files_sha256 {
        put(&format!("falco.sha256_config_file.{}", sanitize(f)), json!(d));
    }
    let mut total = 0;
    for r in &s.rules {
        total += r.count;
        put(&format!("falco.rules.{}", sanitize(&r.rule)), json!(r.count));
    }
    put("falco.rules.matches_total", json!(total));
    put("falco.cpu_usage_perc", json!((s.cpu_usage_ratio * 10000.0).round() / 100.0));
    put("falco.memory_rss_kb", json!(s.memory_rss_bytes / 1024));
    put("falco.memory_vsz_kb", json!(s.memory_vsz_bytes / 1024));
    put("scap.engine_name", json!(s.engine_name));
    put("scap.n_evts", json!(s.n_evts));
    put("scap.n_drops", json!(s.n_drops));
    put("scap.evts_rate_sec", json!(s.evts_rate_sec));
    put("scap.evts_drop_rate_sec", json!(s.drops_rate_sec));
    let perc =
        if s.n_evts + s.n_drops > 0 { s.n_drops as f64 * 100.0 / (s.n_evts + s.n_drops) as f64 } else { 0.0 };
    put("scap.n_drops_perc", json!(perc));
    for (c, n) in &s.drops_by_class {
        put(&format!("harrier.kernel_drops.{c}"), json!(n));
    }
    for p in &s.plugins {
        put(&format!("plugins.{}.{}", p.plugin, p.name), json!(p.value));
    }
    put("evt.source", json!(s.evt_source));
    put("evt.hostname", json!(s.hostname));
    m
}

/// A `metrics.output_file` line: `{"sample": N, "output_fields": {…}}`.
pub fn output_file_line(s: &Snapshot, sample: u64, include_empty: bool) -> String {
    json!({"sample": sample, "output_fields": Json::Object(snapshot_fields(s, include_empty))}).to_string()
}

/// The `metrics.output_rule` alert.
pub fn snapshot_alert(s: &Snapshot, include_empty: bool) -> Alert {
    let fields: BTreeMap<String, Json> = snapshot_fields(s, include_empty).into_iter().collect();
    Alert {
        time_ns: s.now_ns,
        rule: "Falco internal: metrics snapshot".into(),
        priority: harrier_rules::Priority::Informational,
        source: "internal".into(),
        tags: Vec::new(),
        output: "Falco metrics snapshot".into(),
        output_fields: fields,
        hostname: s.hostname.clone(),
    }
}

/// sha256 of a file, hex (for the `sha256_*_files` metrics).
pub fn sha256_file(path: &std::path::Path) -> Option<String> {
    let data = std::fs::read(path).ok()?;
    let d = ring::digest::digest(&ring::digest::SHA256, &data);
    Some(d.as_ref().iter().map(|b| format!("{b:02x}")).collect())
}

/// This process's resident and virtual size (bytes) and CPU time (ticks), from /proc.
pub fn self_usage() -> (u64, u64, u64) {
    let page = 4096u64;
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let mut it = statm.split_whitespace().map(|x| x.parse::<u64>().unwrap_or(0));
    let vsz = it.next().unwrap_or(0) * page;
    let rss = it.next().unwrap_or(0) * page;
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let ticks = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            let f: Vec<u64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
            // utime and stime are fields 14 and 15 (1-based); after "pid (comm)" they are 11, 12.
            f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
        })
        .unwrap_or(0);
    (rss, vsz, ticks)
}

/// Host boot time, ns since the epoch (`btime` of /proc/stat).
pub fn host_boot_ns() -> u64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse::<u64>().ok()))
        })
        .map(|s| s * 1_000_000_000)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Snapshot {
        Snapshot {
            version: "0.1.0".into(),
            hostname: "node-1".into(),
            kernel_release: "6.1.0".into(),
            engine_name: "modern_bpf".into(),
            evt_source: "syscall".into(),
            now_ns: 100_000_000_000,
            start_ns: 40_000_000_000,
            n_evts: 1234,
            n_drops: 5,
            drops_by_class: vec![("file".into(), 3), ("network".into(), 2)],
            rules: vec![
                RuleMatches {
                    rule: "Read sensitive file".into(),
                    priority: harrier_rules::Priority::Warning,
                    source: "syscall".into(),
                    tags: vec!["host".into(), "T1555".into()],
                    count: 7,
                },
                RuleMatches {
                    rule: "Never".into(),
                    priority: harrier_rules::Priority::Error,
                    source: "syscall".into(),
                    tags: vec![],
                    count: 0,
                },
            ],
            sinks: vec![SinkCounters {
                name: "nats".into(),
                kind: "nats".into(),
                queued_in_memory: 2,
                queued_spooled: 3,
                delivered: 9,
                ..Default::default()
            }],
            plugins: vec![
                PluginMetric {
                    plugin: "harrier-test".into(),
                    name: "events_emitted".into(),
                    monotonic: true,
                    value: 40.0,
                },
                PluginMetric {
                    plugin: "okta".into(),
                    name: "queue_depth".into(),
                    monotonic: false,
                    value: 2.5,
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn plugin_metrics_are_named_as_falco_names_them() {
        let text = render_prometheus(&sample());
        assert!(text.contains("# TYPE falcosecurity_plugins_harrier_test_events_emitted counter"), "{text}");
        assert!(text.contains("falcosecurity_plugins_harrier_test_events_emitted_total 40\n"), "{text}");
        assert!(text.contains("# TYPE falcosecurity_plugins_okta_queue_depth gauge"), "{text}");
        assert!(text.contains("falcosecurity_plugins_okta_queue_depth 2.5\n"), "{text}");
        let f = snapshot_fields(&sample(), false);
        assert_eq!(f["plugins.harrier-test.events_emitted"], json!(40.0));
    }

    #[test]
    fn names_types_units_and_labels_follow_falco() {
        let text = render_prometheus(&sample());
        for line in [
            "# TYPE falcosecurity_scap_n_evts counter",
            "falcosecurity_scap_n_evts_total 1234",
            "falcosecurity_scap_n_drops_total 5",
            "# TYPE falcosecurity_falco_version_info gauge",
            "falcosecurity_falco_version_info{version=\"0.1.0\"} 1",
            "falcosecurity_falco_rules_matches_total{priority=\"4\",rule_name=\"Read sensitive file\",source=\"syscall\",tag_T1555=\"true\",tag_host=\"true\"} 7",
            "falcosecurity_scap_engine_name_info{engine_name=\"modern_bpf\",evt_source=\"syscall\"} 1",
            "falcosecurity_falco_duration_seconds_total 60",
            "falcosecurity_evt_hostname_info{hostname=\"node-1\"} 1",
            "harrier_kernel_drops_total{class=\"file\"} 3",
            "harrier_sink_queue_depth{kind=\"nats\",sink=\"nats\"} 5",
            // prometheus-client ends every HELP text with a period.
            "# HELP falcosecurity_scap_n_evts https://falco.org/docs/metrics/.",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
        }
        assert!(!text.contains("rule_name=\"Never\""), "rules without a match are not exported");
    }

    #[test]
    fn json_snapshot_keys_and_empty_values() {
        let s = sample();
        let m = snapshot_fields(&s, false);
        assert_eq!(m["falco.rules.Read_sensitive_file"], json!(7));
        assert_eq!(m["falco.rules.matches_total"], json!(7));
        assert_eq!(m["scap.n_evts"], json!(1234));
        assert!(!m.contains_key("falco.rules.Never"), "zero values omitted");
        assert!(snapshot_fields(&s, true).contains_key("falco.rules.Never"));
        let line: Json = serde_json::from_str(&output_file_line(&s, 3, false)).unwrap();
        assert_eq!(line["sample"], 3);
        let a = snapshot_alert(&s, false);
        assert_eq!(
            (a.rule.as_str(), a.output.as_str(), a.source.as_str()),
            ("Falco internal: metrics snapshot", "Falco metrics snapshot", "internal")
        );
        assert_eq!(a.priority, harrier_rules::Priority::Informational);
    }

    #[test]
    fn profile_families_only_when_the_stage_runs() {
        assert!(!render_prometheus(&sample()).contains("harrier_profile_"));
        let mut s = sample();
        s.profile = Some(ProfileMetrics {
            events_seen: 1000,
            queued: 40,
            queue_drops: 2,
            scored: 30,
            scorer_alerts: 1,
            workloads_learning: 3,
            workloads_enforcing: 4,
            deviations: vec![("exec".into(), 5), ("drift".into(), 1)],
        });
        let text = render_prometheus(&s);
        for line in [
            "# TYPE harrier_profile_events_seen counter",
            "harrier_profile_events_seen_total 1000",
            "harrier_profile_observations_queued_total 40",
            "harrier_profile_queue_drops_total 2",
            "harrier_profile_scored_events_total 30",
            "harrier_profile_scorer_alerts_total 1",
            "harrier_profile_workloads{state=\"learning\"} 3",
            "harrier_profile_workloads{state=\"enforcing\"} 4",
            "harrier_profile_deviations_total{kind=\"exec\"} 5",
            "harrier_profile_deviations_total{kind=\"drift\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
        }
    }

    #[test]
    fn sanitizing_rule_names() {
        assert_eq!(sanitize("Read sensitive file (untrusted)"), "Read_sensitive_file_untrusted");
        assert_eq!(sanitize("a::b--c__"), "a::b_c");
    }
}
