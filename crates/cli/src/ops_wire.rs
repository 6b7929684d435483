//! `harrier run`'s operations (crate `harrier-ops`): the `webserver` and `metrics` keys, the
//! webserver, the per-second snapshot of counters and the metrics outputs, liveness/readiness
//! beats, and `watch_config_files`. Live only (not replay, not `--dry-run`).

use crate::config::{ConfigError, RawConfig, Settings};
use harrier_engine::Alert;
use harrier_ops::metrics::{self as m, RuleMatches, SinkCounters, Snapshot};
use harrier_ops::{FileWatch, Fingerprints, Health, WebConfig, WebServer, WebState};
use harrier_pipeline::AlertStage;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `metrics` keys.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsCfg {
    pub enabled: bool,
    pub interval: Duration,
    pub output_rule: bool,
    pub output_file: Option<PathBuf>,
    pub include_empty_values: bool,
}

impl Default for MetricsCfg {
    fn default() -> Self {
        MetricsCfg {
            enabled: false,
            interval: Duration::from_secs(15 * 60),
            output_rule: false,
            output_file: None,
            include_empty_values: false,
        }
    }
}

/// The operations keys of a configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct OpsCfg {
    pub web: WebConfig,
    pub metrics: MetricsCfg,
    pub watch_config_files: bool,
}

impl Default for OpsCfg {
    fn default() -> Self {
        OpsCfg { web: WebConfig::default(), metrics: MetricsCfg::default(), watch_config_files: true }
    }
}

/// A Prometheus-style duration (`15m`, `2s`, `1h30m`, `500ms`); Falco refuses a bare number and
/// anything under 100 ms.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let bad = || format!("metrics.interval: '{s}' is not a duration such as 15m, 30s, 1h30m or 500ms");
    if t.is_empty() || t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{} (a unit is required)", bad()));
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if n_end == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..n_end].parse().map_err(|_| bad())?;
        rest = &rest[n_end..];
        let u_end = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..u_end] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "w" => 7.0 * 86400.0,
            "y" => 365.0 * 86400.0,
            _ => return Err(bad()),
        };
        total += n * unit;
        rest = &rest[u_end..];
    }
    let d = Duration::from_secs_f64(total);
    if d < Duration::from_millis(100) {
        return Err(format!("metrics.interval: '{s}' is shorter than the minimum of 100ms"));
    }
    Ok(d)
}

impl OpsCfg {
    pub fn from_raw(raw: &RawConfig) -> Result<Self, ConfigError> {
        let d = WebConfig::default();
        let port = match raw.string("webserver.listen_port")? {
            None => d.listen_port,
            Some(p) => p.parse::<u16>().map_err(|_| {
                ConfigError(format!(
                    "config key 'webserver.listen_port': expected a port number (0-65535), got '{p}'"
                ))
            })?,
        };
        let listen_address = match raw.string("webserver.listen_address")? {
            None => d.listen_address,
            Some(a) => harrier_ops::parse_listen_address(&a).map_err(ConfigError)?,
        };
        let threadiness = match raw.string("webserver.threadiness")? {
            None => 0,
            Some(t) => t.parse::<usize>().map_err(|_| {
                ConfigError(format!("config key 'webserver.threadiness': expected a number, got '{t}'"))
            })?,
        };
        let ssl = raw.bool("webserver.ssl_enabled", false)?;
        let ssl_certificate = ssl.then(|| {
            raw.string("webserver.ssl_certificate")
                .ok()
                .flatten()
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/etc/falco/falco.pem"))
        });
        let metrics_enabled = raw.bool("metrics.enabled", false)?;
        let prometheus = raw.bool("webserver.prometheus_metrics_enabled", false)?;
        let web = WebConfig {
            enabled: raw.bool("webserver.enabled", d.enabled)?,
            listen_address,
            listen_port: port,
            k8s_healthz_endpoint: raw
                .string("webserver.k8s_healthz_endpoint")?
                .unwrap_or(d.k8s_healthz_endpoint),
            ssl_certificate,
            threadiness,
            prometheus_metrics: metrics_enabled && prometheus,
        };
        let metrics = MetricsCfg {
            enabled: metrics_enabled,
            interval: match raw.string("metrics.interval")? {
                None => MetricsCfg::default().interval,
                Some(i) => parse_interval(&i).map_err(ConfigError)?,
            },
            output_rule: raw.bool("metrics.output_rule", false)?,
            output_file: raw.string("metrics.output_file")?.filter(|f| !f.is_empty()).map(PathBuf::from),
            include_empty_values: raw.bool("metrics.include_empty_values", false)?,
        };
        if metrics.enabled && !metrics.output_rule && metrics.output_file.is_none() && !web.prometheus_metrics
        {
            return Err(ConfigError(
                "metrics.enabled is true but no metrics output is: set metrics.output_rule, metrics.output_file, \
                 or webserver.prometheus_metrics_enabled (with the webserver enabled)"
                    .into(),
            ));
        }
        // `outputs_queue.capacity`: Falco's queue between the engine and the outputs. Harrier's
        // outputs are written on the loop and every sink has its own bounded queue, so nothing is
        // dropped there (the drop counter stays 0); the key is validated and kept.
        if let Some(c) = raw.string("outputs_queue.capacity")? {
            c.parse::<u64>().map_err(|_| {
                ConfigError(format!(
                    "config key 'outputs_queue.capacity': expected a number (0: unbounded), got '{c}'"
                ))
            })?;
        }
        Ok(OpsCfg { web, metrics, watch_config_files: raw.bool("watch_config_files", true)? })
    }
}

/// Counts matches by rule (the `rules_matches` metric), as a stage behind the detector's port.
struct MatchCounter(Arc<Mutex<BTreeMap<String, RuleMatches>>>);

impl AlertStage for MatchCounter {
    fn name(&self) -> &str {
        "metrics"
    }
    fn on_alert(&mut self, a: Alert, next: &mut dyn FnMut(Alert)) {
        if let Ok(mut m) = self.0.lock() {
            // Known rules (nearly every alert) are counted without allocating.
            match m.get_mut(&a.rule) {
                Some(r) => r.count += 1,
                None => {
                    let r = RuleMatches {
                        rule: a.rule.clone(),
                        priority: a.priority,
                        source: a.source.clone(),
                        tags: a.tags.clone(),
                        count: 1,
                    };
                    m.insert(a.rule.clone(), r);
                }
            }
        }
        next(a)
    }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The live loop's operations.
pub struct Ops {
    pub health: Arc<Health>,
    snapshot: Arc<Mutex<Snapshot>>,
    matches: Arc<Mutex<BTreeMap<String, RuleMatches>>>,
    _web: Option<WebServer>,
    cfg: OpsCfg,
    base: Snapshot,
    prev: (Instant, u64, u64, u64),
    last_metrics: Instant,
    sample: u64,
    rules_fp: Arc<Mutex<Fingerprints>>,
    config_fp: Arc<Mutex<Fingerprints>>,
    events: Arc<Mutex<WatchEvents>>,
    _watch: Option<FileWatch>,
    pub reloads_ok: u64,
    pub reloads_failed: u64,
    /// The hosted plugins' latest metrics (written by their source threads).
    pub plugin_metrics: Option<crate::plugins::PluginMetricsBoard>,
    /// The workload-profile stage's counters, when `profile:` enables it.
    pub profile_counters: Option<Arc<harrier_profile::stage::Counters>>,
}

/// What the file watch did since the last tick.
#[derive(Debug, Default)]
pub struct WatchEvents {
    /// The configuration changed (the outputs are rebuilt on the loop's thread).
    pub config_changed: bool,
    /// Rule reloads that took effect.
    pub reloaded: u64,
    /// Refused reloads, with the error (one alert each).
    pub refused: Vec<String>,
}

impl Ops {
    /// Start the webserver (a failure to bind is logged: detection goes on) and the file watch.
    pub fn start(s: &Settings, config: Option<&Path>, rule_files: &[PathBuf], hostname: &str) -> Ops {
        let cfg = s.ops.clone();
        let health = Arc::new(Health::new(Duration::from_secs(10)));
        let base = Snapshot {
            version: env!("CARGO_PKG_VERSION").into(),
            hostname: hostname.into(),
            kernel_release: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .into(),
            engine_name: "modern_bpf".into(),
            evt_source: "syscall".into(),
            start_ns: now_ns(),
            host_boot_ns: m::host_boot_ns(),
            host_num_cpus: std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1),
            ..Default::default()
        };
        let snapshot = Arc::new(Mutex::new(base.clone()));
        let web = if cfg.web.enabled {
            let st = WebState {
                health: health.clone(),
                snapshot: snapshot.clone(),
                versions: harrier_ops::versions_json(env!("CARGO_PKG_VERSION"), &[]),
            };
            match harrier_ops::start(&cfg.web, st) {
                Ok(w) => {
                    tracing::info!(
                        "Starting health webserver with threadiness {}, listening on {}{}",
                        if cfg.web.threadiness == 0 { 2 } else { cfg.web.threadiness },
                        w.addr,
                        if w.tls { " (TLS)" } else { "" }
                    );
                    Some(w)
                }
                Err(e) => {
                    tracing::error!("{e}; /healthz and /metrics are not served (detection goes on)");
                    None
                }
            }
        } else {
            None
        };
        let config_files: Vec<PathBuf> = config.map(|c| vec![c.to_path_buf()]).unwrap_or_default();
        let (_, _, ticks) = m::self_usage();
        Ops {
            health,
            snapshot,
            matches: Arc::default(),
            _web: web,
            cfg,
            base,
            prev: (Instant::now(), 0, 0, ticks),
            last_metrics: Instant::now(),
            sample: 0,
            rules_fp: Arc::new(Mutex::new(Fingerprints::new(rule_files))),
            config_fp: Arc::new(Mutex::new(Fingerprints::new(&config_files))),
            events: Arc::default(),
            _watch: None,
            reloads_ok: 0,
            reloads_failed: 0,
            plugin_metrics: None,
            profile_counters: None,
        }
    }

    /// `watch_config_files`: watch the configuration and rule files; when their content changed,
    /// `reload` runs on the watch's thread (rules swap in between two events, so a reload never
    /// waits for the loop's tick) and the configuration change is noted for the loop.
    pub fn start_watch(&mut self, reload: impl Fn() -> Result<(), String> + Send + Sync + 'static) {
        if !self.cfg.watch_config_files {
            return;
        }
        let mut files: Vec<PathBuf> = self.config_fp.lock().map(|f| f.files()).unwrap_or_default();
        files.extend(self.rules_fp.lock().map(|f| f.files()).unwrap_or_default());
        let (rules_fp, config_fp, events) =
            (self.rules_fp.clone(), self.config_fp.clone(), self.events.clone());
        let on_change = Arc::new(move || {
            let rules = rules_fp.lock().map(|mut f| !f.changed().is_empty()).unwrap_or(false);
            let config = config_fp.lock().map(|mut f| !f.changed().is_empty()).unwrap_or(false);
            if !rules && !config {
                return;
            }
            let res = reload();
            if let Ok(mut ev) = events.lock() {
                ev.config_changed |= config;
                match res {
                    Ok(()) => ev.reloaded += 1,
                    Err(e) => ev.refused.push(e),
                }
            }
        });
        let check = on_change.clone();
        match harrier_ops::watch_files(
            &files,
            Duration::from_millis(100),
            Duration::from_millis(500),
            std::env::var_os("HARRIER_WATCH_POLL").is_some(),
            move || on_change(),
        ) {
            Ok(w) => {
                tracing::info!(
                    "watch_config_files: watching {} file(s) ({})",
                    files.len(),
                    if w.mode == harrier_ops::WatchMode::Inotify { "inotify" } else { "polling" }
                );
                self._watch = Some(w);
                // A change between reading the files and watching them is not missed.
                check();
            }
            Err(e) => {
                tracing::error!("{e}; configuration and rule files are not watched (SIGHUP still reloads)")
            }
        }
    }

    /// The stage counting rule matches.
    pub fn stage(&self) -> Box<dyn AlertStage> {
        Box::new(MatchCounter(self.matches.clone()))
    }

    /// What the watch did since the last call; reloads are counted here.
    pub fn take_events(&mut self) -> WatchEvents {
        let ev = self.events.lock().map(|mut e| std::mem::take(&mut *e)).unwrap_or_default();
        for _ in 0..ev.reloaded {
            self.reloaded();
        }
        self.reloads_failed += ev.refused.len() as u64;
        ev
    }

    /// Once a second on the live loop: beat, take a snapshot, and emit the metrics outputs when
    /// their interval is due (the returned alert goes to the outputs).
    pub fn tick(
        &mut self,
        drops: &harrier_probe::DropCounters,
        sinks: &[harrier_sinks::queue::SinkStats],
    ) -> Option<Alert> {
        self.health.beat();
        let now = Instant::now();
        let (rss, vsz, ticks) = m::self_usage();
        let (t0, evts0, drops0, ticks0) = self.prev;
        let secs = now.duration_since(t0).as_secs_f64().max(1e-3);
        let mut s = self.base.clone();
        s.now_ns = now_ns();
        s.n_evts = drops.sent;
        s.n_drops = drops.total();
        s.drops_by_class = vec![
            ("process".into(), drops.process),
            ("file".into(), drops.file),
            ("network".into(), drops.network),
            ("other".into(), drops.other),
        ];
        s.events_by_class = ["process", "file", "network", "other"]
            .iter()
            .zip(drops.sent_by_class)
            .map(|(c, n)| (c.to_string(), n))
            .collect();
        s.n_prefiltered = drops.filtered;
        s.n_urgent = drops.urgent;
        s.n_wakeups = drops.wakeups;
        s.evts_rate_sec = s.n_evts.saturating_sub(evts0) as f64 / secs;
        s.drops_rate_sec = s.n_drops.saturating_sub(drops0) as f64 / secs;
        // CPU time in clock ticks (100 per second on Linux).
        s.cpu_usage_ratio = ticks.saturating_sub(ticks0) as f64 / 100.0 / secs;
        s.memory_rss_bytes = rss;
        s.memory_vsz_bytes = vsz;
        s.rules = self.matches.lock().map(|m| m.values().cloned().collect()).unwrap_or_default();
        s.rules_files_sha256 = self.rules_fp.lock().map(|f| f.digests()).unwrap_or_default();
        s.config_files_sha256 = self.config_fp.lock().map(|f| f.digests()).unwrap_or_default();
        s.reloads_ok = self.reloads_ok;
        s.reloads_failed = self.reloads_failed;
        if let Some(board) = &self.plugin_metrics {
            s.plugins = board.lock().map(|b| b.clone()).unwrap_or_default();
        }
        if let Some(c) = &self.profile_counters {
            use std::sync::atomic::Ordering::Relaxed;
            s.profile = Some(m::ProfileMetrics {
                events_seen: c.seen.load(Relaxed),
                queued: c.sent.load(Relaxed),
                queue_drops: c.dropped.load(Relaxed),
                scored: c.scored.load(Relaxed),
                scorer_alerts: c.scorer_alerts.load(Relaxed),
                workloads_learning: c.learning.load(Relaxed),
                workloads_enforcing: c.enforcing.load(Relaxed),
                deviations: c.deviations_by_kind().into_iter().map(|(k, n)| (k.to_string(), n)).collect(),
            });
        }
        s.sinks = sinks
            .iter()
            .map(|k| SinkCounters {
                name: k.name.clone(),
                kind: k.kind.clone(),
                queued_in_memory: k.in_memory,
                queued_spooled: k.spooled,
                delivered: k.delivered,
                dropped: k.dropped,
                failed: k.failed,
                retries: k.retries,
                spilled: k.spilled,
            })
            .collect();
        self.prev = (now, s.n_evts, s.n_drops, ticks);
        if let Ok(mut g) = self.snapshot.lock() {
            *g = s.clone();
        }
        let mc = &self.cfg.metrics;
        if !mc.enabled || now.duration_since(self.last_metrics) < mc.interval {
            return None;
        }
        self.last_metrics = now;
        self.sample += 1;
        if let Some(f) = &mc.output_file {
            let line = m::output_file_line(&s, self.sample, mc.include_empty_values);
            let res = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(f)
                .and_then(|mut h| writeln!(h, "{line}"));
            if let Err(e) = res {
                tracing::error!("metrics.output_file {}: {e}", f.display());
            }
        }
        mc.output_rule.then(|| m::snapshot_alert(&s, mc.include_empty_values))
    }

    /// A reload that took effect (`reload_ts`).
    pub fn reloaded(&mut self) {
        self.reloads_ok += 1;
        self.base.reload_ns = now_ns();
    }
}

/// The alert raised once per refused rules version.
pub fn invalid_rules_alert(error: &str, host: &str) -> Alert {
    let mut fields = BTreeMap::new();
    fields.insert("error".to_string(), serde_json::json!(error.trim()));
    Alert {
        time_ns: now_ns(),
        rule: "Harrier internal: rules reload refused".into(),
        priority: harrier_rules::Priority::Error,
        source: "internal".into(),
        tags: Vec::new(),
        output: "The changed rules are invalid and were not loaded; the previous rules stay active".into(),
        output_fields: fields,
        hostname: host.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_as_falco_reads_them() {
        assert_eq!(parse_interval("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_interval("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_interval("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_interval("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_interval("60").unwrap_err().contains("unit"));
        assert!(parse_interval("50ms").unwrap_err().contains("100ms"));
        assert!(parse_interval("5x").is_err());
    }

    fn cfg(text: &str) -> Result<OpsCfg, ConfigError> {
        OpsCfg::from_raw(&RawConfig::parse(text).unwrap())
    }

    #[test]
    fn keys_defaults_and_fatal_combinations() {
        let d = cfg("").unwrap();
        assert!(d.web.enabled && d.web.listen_port == 8765 && d.web.k8s_healthz_endpoint == "/healthz");
        assert!(!d.web.prometheus_metrics && !d.metrics.enabled && d.watch_config_files);
        let e = cfg("metrics:\n  enabled: true\n").unwrap_err();
        assert!(e.0.contains("no metrics output"), "{}", e.0);
        let c =
            cfg("metrics: {enabled: true, interval: 2s}\nwebserver: {prometheus_metrics_enabled: true}\n")
                .unwrap();
        assert!(c.web.prometheus_metrics);
        assert!(cfg("webserver: {listen_address: nowhere}\n").unwrap_err().0.contains("IPv4"));
        assert!(cfg("webserver: {listen_port: 99999}\n").unwrap_err().0.contains("listen_port"));
        assert!(cfg("metrics: {enabled: true, output_rule: true, interval: 10}\n")
            .unwrap_err()
            .0
            .contains("unit"));
        let t = cfg("webserver: {ssl_enabled: true}\n").unwrap();
        assert_eq!(t.web.ssl_certificate.as_deref(), Some(Path::new("/etc/falco/falco.pem")));
    }
}
