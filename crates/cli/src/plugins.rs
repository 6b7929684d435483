//! Glue for Falco plugins: `plugins:`/`load_plugins:` in falco.yaml, `--enable-source`,
//! `--disable-source`, `--list-plugins`, `--plugin-info`, and running the `k8s_audit` source.
//! The logic is in `harrier-plugins` and `harrier-k8saudit`.

use crate::config::{self, RawConfig, Settings};
use crate::Common;
use harrier_engine::Alert;
use harrier_engine::Ruleset;
use harrier_k8saudit::{AuditDetector, AuditSource};
use harrier_plugins::host::HostedPlugin;
use harrier_plugins::{info, AuditFeed, PluginSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn plugin_set(raw: &RawConfig) -> Result<PluginSet, String> {
    PluginSet::from_config(raw.get("plugins"), raw.get("load_plugins"))
}

/// The configured plugins: the set, and the hosted libraries loaded and initialised.
pub struct Loaded {
    pub set: PluginSet,
    pub hosted: Vec<(harrier_plugins::PluginEntry, HostedPlugin)>,
}

/// Load every hosted library (clear error at start for a missing .so, a failing init, a bad
/// init_config or API version).
fn load_hosted(set: PluginSet) -> Result<Loaded, String> {
    let mut hosted = Vec::new();
    for e in &set.hosted {
        let lib = e.library_file()?;
        let p = HostedPlugin::load(&lib, &e.init_config_json()?)?;
        hosted.push((e.clone(), p));
    }
    let is_audit = |p: &HostedPlugin| p.source.as_ref().is_some_and(|s| s.1 == harrier_k8saudit::SOURCE);
    let audit_sources = set.k8saudit.is_some() as usize + hosted.iter().filter(|(_, p)| is_audit(p)).count();
    if audit_sources > 1 {
        return Err("more than one loaded plugin sources k8s_audit events; load one of them".into());
    }
    Ok(Loaded { set, hosted })
}

/// Load the configured plugins and register the sources and fields of hosted ones in the engine,
/// before the rules load (so rules on those sources compile).
pub fn prepare(raw: &RawConfig) -> Result<Loaded, String> {
    let l = plugin_set(raw).and_then(load_hosted)?;
    for (_, p) in &l.hosted {
        harrier_plugins::rules::register(p)?;
    }
    Ok(l)
}

/// Sources available with this configuration: syscall, then the plugins' sources.
fn available(l: &Loaded) -> Vec<String> {
    let mut v = vec!["syscall".to_string()];
    v.extend(l.set.native_sources().into_iter().map(String::from));
    for (_, p) in &l.hosted {
        if let Some((_, src)) = &p.source {
            if !v.contains(src) {
                v.push(src.clone());
            }
        }
    }
    v
}

/// The k8s_audit feed: the native source, or a hosted plugin sourcing k8s_audit.
fn open_feed(l: &mut Loaded) -> Result<AuditFeed, String> {
    if let Some(k) = &l.set.k8saudit {
        return AuditSource::open(&k.open, &k.init)
            .map(AuditFeed::Native)
            .map_err(|e| format!("k8saudit: {e}"));
    }
    let i = l
        .hosted
        .iter()
        .position(|(_, p)| p.source.as_ref().is_some_and(|s| s.1 == harrier_k8saudit::SOURCE))
        .ok_or("no plugin sources k8s_audit events")?;
    let (e, p) = l.hosted.remove(i);
    AuditFeed::hosted(p, e.open_params.as_deref().unwrap_or(""))
}

/// Run the rules over a feed until it ends or `stop` is set.
fn run_feed(det: &mut AuditDetector, feed: &AuditFeed, stop: &AtomicBool, on_alert: &mut dyn FnMut(Alert)) {
    while !stop.load(Ordering::Relaxed) {
        match feed.next_timeout(Duration::from_millis(200)) {
            Ok(Some(ev)) => det.process(&ev, on_alert),
            Ok(None) => break,
            Err(_) => {}
        }
    }
}

/// What the caller does after [`run_plugin_sources`] (built once per run: size does not matter).
#[allow(clippy::large_enum_variant)]
pub enum Next {
    /// A plugin source ran alone: exit with this code.
    Done(u8),
    /// The syscall source runs (as before), with the k8s_audit source beside it when `side` is set.
    Syscall { rs: Ruleset, side: Option<Loaded> },
}

/// Run the plugin sources the configuration and flags ask for.
pub fn run_plugin_sources(loaded: Result<Loaded, String>, s: &Settings, c: &Common, rs: Ruleset) -> Next {
    let mut loaded = match loaded {
        Ok(x) => x,
        Err(e) => {
            eprintln!("harrier: {e}");
            return Next::Done(1);
        }
    };
    let enabled =
        match harrier_plugins::enabled_sources(&available(&loaded), &c.enable_source, &c.disable_source) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("harrier: {e}");
                return Next::Done(1);
            }
        };
    // Sourcing plugins whose source is not enabled do not run (extraction-only ones stay).
    loaded.hosted.retain(|(_, p)| p.source.as_ref().is_none_or(|(_, src)| enabled.contains(src)));
    let audit = enabled.iter().any(|x| x == harrier_k8saudit::SOURCE);
    if !audit {
        loaded.set.k8saudit = None;
    }
    let others = loaded
        .hosted
        .iter()
        .any(|(_, p)| p.source.as_ref().is_some_and(|(_, x)| x != harrier_k8saudit::SOURCE));
    let syscall = enabled.iter().any(|x| x == "syscall");
    match (syscall, audit, others) {
        (_, false, false) => Next::Syscall { rs, side: None },
        (false, true, false) => Next::Done(run_audit(&mut loaded, s, c, rs)),
        (false, _, true) => Next::Done(run_sides_alone(loaded, s, c, rs)),
        // The syscall path runs as usual with the other sources beside it.
        (true, _, _) => Next::Syscall { rs, side: Some(loaded) },
    }
}

/// Plugin sources without syscalls (several, or hosted ones): each on its own thread, their
/// alerts written here until every source ends or a signal (or `-M`) stops the run.
fn run_sides_alone(l: Loaded, s: &Settings, c: &Common, rs: Ruleset) -> u8 {
    let mut outs = match crate::replay::outputs(s)
        .and_then(|o| crate::delivery::Delivery::new(o, c.config.as_deref(), true))
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("harrier: {e}");
            return 1;
        }
    };
    let stop = stop_flag(c);
    let mut sides = match Sides::start(l, Arc::new(rs), crate::replay::hostname()) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("harrier: {e}");
            return 1;
        }
    };
    let rx = sides.rx.take().expect("fresh sides");
    while !stop.load(Ordering::Relaxed) {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(a) => outs.send(&a),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    sides.stop();
    while let Ok(a) = rx.try_recv() {
        outs.send(&a);
    }
    outs.finish(Duration::from_secs(5));
    0
}

/// Set on SIGINT/SIGTERM, or after `-M` seconds.
fn stop_flag(c: &Common) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, stop.clone());
    }
    if let Some(secs) = c.stop_after {
        let st = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(secs));
            st.store(true, Ordering::Relaxed);
        });
    }
    stop
}

fn run_audit(l: &mut Loaded, s: &Settings, c: &Common, rs: Ruleset) -> u8 {
    let mut outs = match crate::replay::outputs(s)
        .and_then(|o| crate::delivery::Delivery::new(o, c.config.as_deref(), true))
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("harrier: {e}");
            return 1;
        }
    };
    // `-o engine.kind=replay -o engine.replay.capture_file=X.scap`: the capture's k8saudit plugin
    // events instead of open_params (as Falco replays plugin events).
    if s.engine_kind == "replay" {
        let Some(path) = s.capture_file.clone() else {
            eprintln!("harrier: engine.kind=replay needs engine.replay.capture_file=FILE");
            return 1;
        };
        let mut det = AuditDetector::new(Arc::new(rs), crate::replay::hostname());
        let r = harrier_k8saudit::capture::read_capture(&path, |ev| det.process(&ev, &mut |a| outs.send(&a)));
        outs.finish(Duration::from_secs(5));
        return match r {
            Ok(_) => 0,
            Err(e) => {
                eprintln!("harrier: {}: {e}", path.display());
                1
            }
        };
    }
    let src = match open_feed(l) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("harrier: {e}");
            return 1;
        }
    };
    if let Some(a) = src.webhook_addr() {
        tracing::info!("k8s_audit: webhook listening on {a}");
    }
    let stop = stop_flag(c);
    let mut det = AuditDetector::new(Arc::new(rs), crate::replay::hostname());
    run_feed(&mut det, &src, &stop, &mut |a| outs.send(&a));
    outs.finish(Duration::from_secs(5));
    let counters = match &src {
        AuditFeed::Native(n) => {
            n.counters().snapshot().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
        }
        AuditFeed::Hosted(h) => format!(
            "plugin events={} refused={}",
            h.stats.events.load(Ordering::Relaxed),
            h.stats.bad_events.load(Ordering::Relaxed)
        ),
    };
    tracing::info!("k8s_audit: {} events, {} alerts; {counters}", det.events, det.alerts);
    0
}

fn load(c: &Common) -> Result<PluginSet, String> {
    let (raw, _) = config::from_common(c).map_err(|e| e.to_string())?;
    plugin_set(&raw)
}

/// `--list-plugins`.
pub fn list(c: &Common) -> u8 {
    match load(c).and_then(load_hosted) {
        Ok(l) => {
            let mut infos = info::native_infos(&l.set);
            infos.extend(l.hosted.iter().map(|(_, p)| hosted_info(p)));
            print!("{}", info::list(&infos));
            0
        }
        Err(e) => {
            eprintln!("harrier: {e}");
            1
        }
    }
}

fn hosted_info(p: &HostedPlugin) -> harrier_plugins::PluginInfo {
    harrier_plugins::PluginInfo {
        name: p.name.clone(),
        description: p.description.clone(),
        contact: p.contact.clone(),
        version: p.version.clone(),
        required_api_version: p.required_api.clone(),
        sourcing: p.source.clone(),
        extraction: !p.fields.is_empty(),
        init_schema: p.init_schema.clone(),
        open_params_help: vec![],
        native: false,
    }
}

/// `--plugin-info NAME`: a loaded plugin, or a built-in one by name.
pub fn info(c: &Common, name: &str) -> u8 {
    let set = match load(c) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("harrier: {e}");
            return 1;
        }
    };
    match info::builtin(name) {
        Some(p) => {
            print!("{}", info::detail(&p, set.entries.iter().find(|e| e.name == name)));
            0
        }
        None => {
            eprintln!("harrier: plugin '{name}' is not loaded (built in: k8saudit, json, container)");
            1
        }
    }
}

/// The plugin sources running beside live syscall detection (k8s_audit, hosted plugins' own
/// sources), or without it: each on its own thread with its own detector, their alerts handed to
/// the syscall detector's port (so they pass the same stages, outputs and sinks).
pub struct Sides {
    rx: Option<std::sync::mpsc::Receiver<harrier_engine::Alert>>,
    /// The hosted plugins' latest metrics, refreshed by their threads about once a second.
    pub metrics: PluginMetricsBoard,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Latest metrics of the hosted plugins, for `/metrics` and the metrics outputs.
pub type PluginMetricsBoard = Arc<std::sync::Mutex<Vec<harrier_ops::metrics::PluginMetric>>>;

/// Put `p`'s current metrics on the board (replacing its previous ones).
fn publish_metrics(p: &mut HostedPlugin, board: &PluginMetricsBoard) {
    let now: Vec<harrier_ops::metrics::PluginMetric> = p
        .metrics()
        .into_iter()
        .map(|m| harrier_ops::metrics::PluginMetric {
            plugin: p.name.clone(),
            name: m.name,
            monotonic: m.monotonic,
            value: m.value,
        })
        .collect();
    if let Ok(mut b) = board.lock() {
        b.retain(|m| m.plugin != p.name);
        b.extend(now);
    }
}

/// Alerts of the side sources wait here at most this many before their detectors slow down (and
/// the audit webhook answers 503): nothing is dropped.
const SIDE_ALERTS: usize = 10_000;

impl Sides {
    pub fn start(mut l: Loaded, rs: Arc<Ruleset>, hostname: String) -> Result<Sides, String> {
        let (tx, rx) = std::sync::mpsc::sync_channel(SIDE_ALERTS);
        let stop = Arc::new(AtomicBool::new(false));
        let metrics = PluginMetricsBoard::default();
        let mut threads = Vec::new();
        let is_audit = |p: &HostedPlugin| p.source.as_ref().is_some_and(|s| s.1 == harrier_k8saudit::SOURCE);
        if l.set.k8saudit.is_some() || l.hosted.iter().any(|(_, p)| is_audit(p)) {
            let src = open_feed(&mut l)?;
            if let Some(a) = src.webhook_addr() {
                tracing::info!("k8s_audit: webhook listening on {a}");
            }
            let (st, tx, rs, hostname) = (stop.clone(), tx.clone(), rs.clone(), hostname.clone());
            let t = std::thread::Builder::new()
                .name("k8saudit-rules".into())
                .spawn(move || {
                    let mut det = AuditDetector::new(rs, hostname);
                    run_feed(&mut det, &src, &st, &mut |a| {
                        let _ = tx.send(a);
                    });
                    tracing::info!("k8s_audit: {} events, {} alerts", det.events, det.alerts);
                })
                .map_err(|e| e.to_string())?;
            threads.push(t);
        }
        for (e, mut p) in l.hosted.into_iter().filter(|(_, p)| p.source.is_some() && !is_audit(p)) {
            let name = p.source.as_ref().map(|s| s.1.clone()).unwrap_or_default();
            let source = harrier_engine::Source::from_name(&name)
                .ok_or_else(|| format!("plugin {}: source {name} is not registered", p.name))?;
            let params = e.open_params.clone().unwrap_or_default();
            let (st, tx, rs, hostname) = (stop.clone(), tx.clone(), rs.clone(), hostname.clone());
            let board = metrics.clone();
            let t = std::thread::Builder::new()
                .name(format!("plugin-{name}"))
                .spawn(move || {
                    let mut det = harrier_plugins::rules::PluginDetector::new(rs, source, hostname);
                    let stats = harrier_plugins::host::SourceStats::default();
                    let mut published = std::time::Instant::now();
                    publish_metrics(&mut p, &board);
                    let r = p.run_source(&params, &st, &stats, &mut |p, raw| {
                        det.process(p, raw, &mut |a| {
                            let _ = tx.send(a);
                        });
                        if published.elapsed() >= Duration::from_secs(1) {
                            publish_metrics(p, &board);
                            published = std::time::Instant::now();
                        }
                        true
                    });
                    publish_metrics(&mut p, &board);
                    if let Err(e) = r {
                        tracing::error!("{e}");
                    }
                    tracing::info!(
                        "{name}: {} events, {} alerts, {} refused, {} extraction errors",
                        det.events,
                        det.alerts,
                        stats.bad_events.load(Ordering::Relaxed),
                        det.extract_errors
                    );
                })
                .map_err(|e| e.to_string())?;
            threads.push(t);
        }
        Ok(Sides { rx: Some(rx), metrics, stop, threads })
    }

    /// Wrap the syscall detector's port so the sides' alerts go through it.
    pub fn merge<P: harrier_pipeline::AlertPort>(&mut self, inner: P) -> Merge<P> {
        Merge { inner, rx: self.rx.take() }
    }

    /// Stop the side sources and wait for their threads.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Sides {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port that also delivers the alerts of a side source (drained at every alert and idle moment).
pub struct Merge<P> {
    inner: P,
    rx: Option<std::sync::mpsc::Receiver<harrier_engine::Alert>>,
}

impl<P: harrier_pipeline::AlertPort> Merge<P> {
    /// A port without a side source.
    pub fn none(inner: P) -> Merge<P> {
        Merge { inner, rx: None }
    }

    /// A port that also delivers the alerts arriving on `rx` (a side source of another crate).
    pub fn with_channel(inner: P, rx: Option<std::sync::mpsc::Receiver<harrier_engine::Alert>>) -> Merge<P> {
        Merge { inner, rx }
    }

    fn drain(&mut self) {
        if let Some(rx) = &self.rx {
            while let Ok(a) = rx.try_recv() {
                self.inner.put(a);
            }
        }
    }
}

impl<P: harrier_pipeline::AlertPort> harrier_pipeline::AlertPort for Merge<P> {
    fn put(&mut self, alert: harrier_engine::Alert) {
        self.drain();
        self.inner.put(alert);
    }
    fn idle(&mut self) {
        self.drain();
        self.inner.idle();
    }
    fn flush(&mut self) {
        self.drain();
        self.inner.flush();
    }
}

/// `harrier k8saudit-capture`: write the configured k8saudit source's events to a capture.
#[derive(clap::Args, Debug)]
pub struct CaptureArgs {
    /// Configuration with the k8saudit plugin (its open_params and init_config are used).
    #[arg(short = 'c', value_name = "FILE")]
    pub config: std::path::PathBuf,
    /// The capture file to write (plugin events, id 1, readable by Falco with the k8saudit plugin).
    #[arg(short = 'w', value_name = "FILE")]
    pub write: std::path::PathBuf,
    /// gzip-compress the file.
    #[arg(long)]
    pub gzip: bool,
    /// Stop after this many seconds (a file replay stops at its end anyway).
    #[arg(short = 'M', value_name = "SECONDS")]
    pub stop_after: Option<u64>,
}

pub fn capture(a: CaptureArgs) -> u8 {
    let c = Common { config: Some(a.config.clone()), ..Default::default() };
    let set = match load(&c) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("harrier: {e}");
            return 1;
        }
    };
    let Some(k) = &set.k8saudit else {
        eprintln!("harrier: {}: no k8saudit plugin in plugins/load_plugins", a.config.display());
        return 1;
    };
    let src = match AuditSource::open(&k.open, &k.init) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("harrier: k8saudit: {e}");
            return 1;
        }
    };
    let mut w = match harrier_k8saudit::capture::CaptureWriter::create(&a.write, a.gzip) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("harrier: {}: {e}", a.write.display());
            return 1;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, stop.clone());
    }
    let deadline = a.stop_after.map(|s| std::time::Instant::now() + Duration::from_secs(s));
    while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| std::time::Instant::now() < d) {
        match src.next_timeout(Duration::from_millis(200)) {
            Ok(Some(ev)) => {
                if let Err(e) = w.write(&ev) {
                    eprintln!("harrier: {}: {e}", a.write.display());
                    return 1;
                }
            }
            Ok(None) => break,
            Err(_) => {}
        }
    }
    let n = w.events_written();
    if let Err(e) = w.finish() {
        eprintln!("harrier: {}: {e}", a.write.display());
        return 1;
    }
    eprintln!("harrier: wrote {n} k8s audit events to {}", a.write.display());
    0
}
