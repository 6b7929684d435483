//! The detector-side observer and its worker thread.
//!
//! On the detector's thread, per event: a table lookup by event type; for the few kept events a
//! snapshot of some fields, sent on a bounded channel with `try_send` — when the channel is full
//! the observation is dropped and counted, detection never waits. On the worker thread: the
//! workload profiles (learn, check, save) and the scorer; their alerts come back on another
//! channel and the observer hands them to the detector's port between events.

use crate::obs::{EvClass, Extractor, Observation, SNAPSHOT};
use crate::profile::{Deviation, Kind, ProfileSet};
use crate::scorer::Model;
use harrier_engine::testing::MapAccessor;
use harrier_engine::{Alert, Ruleset};
use harrier_pipeline::EventObserver;
use harrier_rules::Priority;
use harrier_state::SyscallEvent;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

/// The `profile:` configuration block.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileConfig {
    /// Workload profiles on (`profile.enabled`; the scorer can run without them).
    pub profiles: bool,
    /// Where profiles are kept (`profile.file`); loaded at start when present, saved every
    /// `save_every` and at the end.
    pub file: Option<PathBuf>,
    /// Learning window per workload (`profile.learn`, default 1h).
    pub learn: Duration,
    /// Checks that raise alerts (`profile.checks`, default all kinds but `family`).
    pub checks: Vec<Kind>,
    /// Bounded queue between the detector and the worker (`profile.queue`, default 8192).
    pub queue: usize,
    pub save_every: Duration,
    /// `profile.scorer.model`: a model file from `harrier profile train`.
    pub model: Option<PathBuf>,
    /// `profile.scorer.threshold`: overrides the model's.
    pub threshold: Option<f32>,
    /// Replays: wait for room in the queue instead of dropping (nothing is live to slow down).
    pub lossless: bool,
}

impl Default for ProfileConfig {
    fn default() -> Self {
        ProfileConfig {
            profiles: true,
            file: None,
            learn: Duration::from_secs(3600),
            checks: Kind::ALL.into_iter().filter(|k| *k != Kind::Family).collect(),
            queue: 8192,
            save_every: Duration::from_secs(60),
            model: None,
            threshold: None,
            lossless: false,
        }
    }
}

/// Parse a duration: `90`, `90s`, `30m`, `12h`, `7d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'h')) => (&s[..i], 3600),
        Some((i, 'd')) => (&s[..i], 86400),
        _ => (s, 1),
    };
    let n: u64 = num.trim().parse().map_err(|_| format!("'{s}' is not a duration (e.g. 30m, 12h, 7d)"))?;
    Ok(Duration::from_secs(n.saturating_mul(mult)))
}

impl ProfileConfig {
    /// From the `profile:` block as JSON (`None`: neither profiles nor scorer enabled).
    pub fn from_json(v: &Json) -> Result<Option<ProfileConfig>, String> {
        let obj = v.as_object().ok_or("config key 'profile': expected a mapping")?;
        const KEYS: &[&str] = &["enabled", "file", "learn", "checks", "queue", "save_every", "scorer"];
        for k in obj.keys() {
            if !KEYS.contains(&k.as_str()) {
                return Err(format!("config key 'profile.{k}' is unknown (known: {})", KEYS.join(", ")));
            }
        }
        let mut c = ProfileConfig::default();
        let as_bool = |k: &str, v: &Json| match v {
            Json::Bool(b) => Ok(*b),
            Json::String(s) if s == "true" || s == "false" => Ok(s == "true"),
            _ => Err(format!("config key '{k}': expected true or false")),
        };
        let as_str = |k: &str, v: &Json| match v {
            Json::String(s) => Ok(s.clone()),
            Json::Number(n) => Ok(n.to_string()),
            _ => Err(format!("config key '{k}': expected a string")),
        };
        c.profiles = match obj.get("enabled") {
            Some(v) => as_bool("profile.enabled", v)?,
            None => false,
        };
        if let Some(v) = obj.get("file") {
            c.file = Some(PathBuf::from(as_str("profile.file", v)?));
        }
        if let Some(v) = obj.get("learn") {
            c.learn = parse_duration(&as_str("profile.learn", v)?)
                .map_err(|e| format!("config key 'profile.learn': {e}"))?;
        }
        if let Some(v) = obj.get("save_every") {
            c.save_every = parse_duration(&as_str("profile.save_every", v)?)
                .map_err(|e| format!("config key 'profile.save_every': {e}"))?;
        }
        if let Some(v) = obj.get("queue") {
            c.queue = as_str("profile.queue", v)?
                .parse()
                .ok()
                .filter(|n| *n > 0 && *n <= 1 << 24)
                .ok_or("config key 'profile.queue': expected a number from 1 to 16777216")?;
        }
        if let Some(v) = obj.get("checks") {
            let list = v.as_array().ok_or("config key 'profile.checks': expected a list")?;
            c.checks = list
                .iter()
                .map(|x| {
                    let s = x.as_str().unwrap_or("");
                    Kind::parse(s).ok_or_else(|| {
                        format!(
                            "config key 'profile.checks': unknown check '{s}' (known: {})",
                            Kind::ALL.map(|k| k.as_str()).join(", ")
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(s) = obj.get("scorer") {
            let so = s.as_object().ok_or("config key 'profile.scorer': expected a mapping")?;
            for k in so.keys() {
                if k != "model" && k != "threshold" {
                    return Err(format!(
                        "config key 'profile.scorer.{k}' is unknown (known: model, threshold)"
                    ));
                }
            }
            if let Some(m) = so.get("model") {
                c.model = Some(PathBuf::from(as_str("profile.scorer.model", m)?));
            }
            if let Some(t) = so.get("threshold") {
                let t: f32 = as_str("profile.scorer.threshold", t)?
                    .parse()
                    .ok()
                    .filter(|t: &f32| (0.0..=1.0).contains(t))
                    .ok_or("config key 'profile.scorer.threshold': expected a number from 0 to 1")?;
                c.threshold = Some(t);
            }
        }
        if !c.profiles && c.model.is_none() {
            return Ok(None);
        }
        Ok(Some(c))
    }
}

/// Counters, shared with metrics and tests.
#[derive(Debug, Default)]
pub struct Counters {
    /// Events the stage was shown (every event the detector processed while it was attached;
    /// published every few hundred events and when the detector is idle).
    pub seen: AtomicU64,
    /// Workloads still in their learning window, and past it (checked), as of the last
    /// observation (updated by the worker about once a second).
    pub learning: AtomicU64,
    pub enforcing: AtomicU64,
    /// Deviations reported, by [`Kind`] (index in [`Kind::ALL`]).
    pub deviations: [AtomicU64; Kind::ALL.len()],
    /// Observations sent to the worker.
    pub sent: AtomicU64,
    /// Observations dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Observations scored by the learned scorer.
    pub scored: AtomicU64,
    pub scorer_alerts: AtomicU64,
}

impl Counters {
    /// Deviations reported so far, by kind name (every kind, zeros included).
    pub fn deviations_by_kind(&self) -> Vec<(&'static str, u64)> {
        Kind::ALL.iter().zip(&self.deviations).map(|(k, n)| (k.as_str(), n.load(Relaxed))).collect()
    }

    /// Profile alerts raised so far: the sum of the per-kind deviation counters, so the total
    /// and the breakdown can never disagree.
    pub fn profile_alerts(&self) -> u64 {
        self.deviations.iter().map(|n| n.load(Relaxed)).sum()
    }
}

enum Msg {
    Obs(Box<Observation>),
    Flush(SyncSender<()>),
}

/// The observer the detector calls (see the module documentation).
pub struct LearnedStage {
    extractor: Extractor,
    /// Events seen not yet added to `counters.seen` (one shared add per [`SEEN_BATCH`]).
    seen_local: u64,
    tx: Option<SyncSender<Msg>>,
    alerts: Receiver<Alert>,
    lossless: bool,
    pub counters: Arc<Counters>,
    worker: Option<std::thread::JoinHandle<()>>,
}

/// The profile set and scorer the worker uses, loaded at start.
pub struct Loaded {
    pub profiles: Option<ProfileSet>,
    pub model: Option<Model>,
}

/// Load what `cfg` names. A damaged or unreadable file is an error for that part only; the
/// caller reports it and runs on without it (never without detection). A profile file that
/// does not exist yet starts empty.
pub fn load(cfg: &ProfileConfig) -> (Loaded, Vec<String>) {
    let mut errors = Vec::new();
    let profiles = if cfg.profiles {
        match &cfg.file {
            Some(f) if f.exists() => match ProfileSet::load(f) {
                Ok(mut p) => {
                    p.learn_window_ns = cfg.learn.as_nanos() as u64;
                    Some(p)
                }
                Err(e) => {
                    errors.push(format!(
                        "{e}; workload profiles are off for this run (the file is left as it is)"
                    ));
                    None
                }
            },
            _ => Some(ProfileSet::new(cfg.learn.as_nanos() as u64)),
        }
    } else {
        None
    };
    let model = match &cfg.model {
        Some(m) => match Model::load(m) {
            Ok(mut m) => {
                if let Some(t) = cfg.threshold {
                    m.threshold = t;
                }
                Some(m)
            }
            Err(e) => {
                errors.push(format!("{e}; the learned scorer is off for this run"));
                None
            }
        },
        None => None,
    };
    (Loaded { profiles, model }, errors)
}

impl LearnedStage {
    /// Start the worker. `rules`: for the nearest rule's output template and priority.
    pub fn start(cfg: &ProfileConfig, loaded: Loaded, rules: Arc<Ruleset>, hostname: String) -> LearnedStage {
        let (tx, rx) = sync_channel::<Msg>(cfg.queue);
        let (atx, arx) = sync_channel::<Alert>(4096);
        let counters = Arc::new(Counters::default());
        let mut extractor = Extractor::new();
        extractor.keep_reads = loaded.model.is_some();
        extractor.keep_other =
            loaded.model.is_some() || (loaded.profiles.is_some() && cfg.checks.contains(&Kind::Family));
        let mut w = Worker {
            profiles: loaded.profiles,
            model: loaded.model,
            rules,
            hostname,
            checks: cfg.checks.clone(),
            file: cfg.file.clone(),
            save_every: cfg.save_every,
            dirty: false,
            last_ts: 0,
            scratch: crate::scorer::Scratch::new(),
            text: String::with_capacity(512),
            counters: counters.clone(),
            out: atx,
        };
        let worker = std::thread::Builder::new()
            .name("harrier-profile".into())
            .spawn(move || w.run(rx))
            .map_err(|e| tracing::error!("cannot start the profile thread: {e}"))
            .ok();
        LearnedStage {
            extractor,
            seen_local: 0,
            tx: worker.as_ref().map(|_| tx),
            alerts: arx,
            lossless: cfg.lossless,
            counters,
            worker,
        }
    }

    /// A stage with no worker behind its queue (tests of the full-queue path).
    #[doc(hidden)]
    pub fn without_worker(queue: usize) -> (LearnedStage, impl Drop) {
        let (tx, rx) = sync_channel::<Msg>(queue);
        let (_atx, arx) = sync_channel::<Alert>(1);
        let s = LearnedStage {
            extractor: Extractor::new(),
            seen_local: 0,
            tx: Some(tx),
            alerts: arx,
            lossless: false,
            counters: Arc::default(),
            worker: None,
        };
        struct Keep(#[allow(dead_code)] Receiver<Msg>);
        impl Drop for Keep {
            fn drop(&mut self) {}
        }
        (s, Keep(rx))
    }

    /// Hand one observation to the worker: never waits (a full queue drops and counts).
    pub fn send(&mut self, o: Observation) {
        self.send_with(o, &mut |_| {});
    }

    /// As [`LearnedStage::send`]; lossless (replays): wait for room, passing the worker's alerts
    /// to `out` meanwhile (the worker may itself be waiting for them to be taken).
    fn send_with(&mut self, o: Observation, out: &mut dyn FnMut(Alert)) {
        // The sender is taken out while sending (not cloned: no shared count touched per event)
        // and put back unless the worker is gone.
        let Some(tx) = self.tx.take() else { return };
        let mut msg = Msg::Obs(Box::new(o));
        loop {
            match tx.try_send(msg) {
                Ok(()) => {
                    self.counters.sent.fetch_add(1, Relaxed);
                    break;
                }
                Err(TrySendError::Full(back)) if self.lossless => {
                    msg = back;
                    self.drain(out);
                    std::thread::yield_now();
                }
                Err(TrySendError::Full(_)) => {
                    self.counters.dropped.fetch_add(1, Relaxed);
                    break;
                }
                Err(TrySendError::Disconnected(_)) => {
                    tracing::error!("the profile thread ended; workload profiles and the scorer are off");
                    return;
                }
            }
        }
        self.tx = Some(tx);
    }

    fn publish_seen(&mut self) {
        if self.seen_local > 0 {
            self.counters.seen.fetch_add(self.seen_local, Relaxed);
            self.seen_local = 0;
        }
    }

    fn drain(&mut self, out: &mut dyn FnMut(Alert)) {
        while let Ok(a) = self.alerts.try_recv() {
            out(a);
        }
    }
}

impl EventObserver for LearnedStage {
    fn name(&self) -> &str {
        "profile"
    }

    #[inline]
    fn observe(&mut self, ev: &SyscallEvent<'_>, matched: Option<&str>, out: &mut dyn FnMut(Alert)) {
        self.seen_local += 1;
        if self.seen_local >= SEEN_BATCH {
            self.publish_seen();
        }
        if self.extractor.class_of(ev).is_some() {
            if let Some(o) = self.extractor.observe(ev, matched) {
                self.send_with(o, out);
            }
        }
        if self.worker.is_some() {
            self.drain(out);
        }
    }

    fn idle(&mut self, out: &mut dyn FnMut(Alert)) {
        self.publish_seen();
        self.drain(out);
    }

    fn flush(&mut self, out: &mut dyn FnMut(Alert)) {
        self.publish_seen();
        if let Some(tx) = &self.tx {
            let (dtx, drx) = sync_channel(1);
            if tx.send_timeout_compat(Msg::Flush(dtx)) {
                // Drain while waiting: the worker may be blocked on a full alert channel.
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while std::time::Instant::now() < deadline {
                    self.drain(out);
                    if drx.recv_timeout(Duration::from_millis(20)).is_ok() {
                        break;
                    }
                }
            }
        }
        self.drain(out);
    }
}

/// Events counted locally before one shared add to [`Counters::seen`].
const SEEN_BATCH: u64 = 256;

impl Drop for LearnedStage {
    fn drop(&mut self) {
        self.publish_seen();
        self.tx = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

trait SendCompat {
    fn send_timeout_compat(&self, m: Msg) -> bool;
}

impl SendCompat for SyncSender<Msg> {
    /// A flush request waits for room in the queue at most 5 s (end of a run).
    fn send_timeout_compat(&self, mut m: Msg) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            match self.try_send(m) {
                Ok(()) => return true,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(back)) => {
                    if std::time::Instant::now() > deadline {
                        return false;
                    }
                    m = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
}

struct Worker {
    profiles: Option<ProfileSet>,
    model: Option<Model>,
    rules: Arc<Ruleset>,
    hostname: String,
    checks: Vec<Kind>,
    file: Option<PathBuf>,
    save_every: Duration,
    dirty: bool,
    /// The latest observation's event time (ns): "now" for the learning gauges.
    last_ts: u64,
    scratch: crate::scorer::Scratch,
    text: String,
    counters: Arc<Counters>,
    out: SyncSender<Alert>,
}

impl Worker {
    fn run(&mut self, rx: Receiver<Msg>) {
        let mut last_save = std::time::Instant::now();
        let mut last_gauges = std::time::Instant::now();
        loop {
            match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(Msg::Obs(o)) => self.handle(&o),
                Ok(Msg::Flush(done)) => {
                    self.update_gauges();
                    self.save();
                    let _ = done.send(());
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if last_gauges.elapsed() >= Duration::from_secs(1) {
                self.update_gauges();
                last_gauges = std::time::Instant::now();
            }
            if self.dirty && last_save.elapsed() >= self.save_every {
                self.save();
                last_save = std::time::Instant::now();
            }
        }
        self.save();
    }

    /// Workloads learning and enforcing as of the latest observation's time.
    fn update_gauges(&mut self) {
        let Some(p) = &self.profiles else { return };
        let learning = p.workloads.values().filter(|w| w.learning(self.last_ts)).count() as u64;
        self.counters.learning.store(learning, Relaxed);
        self.counters.enforcing.store(p.workloads.len() as u64 - learning, Relaxed);
    }

    fn save(&mut self) {
        if !self.dirty {
            return;
        }
        if let (Some(p), Some(f)) = (&self.profiles, &self.file) {
            match p.save(f) {
                Ok(()) => self.dirty = false,
                Err(e) => tracing::warn!("{e}"),
            }
        }
    }

    fn handle(&mut self, o: &Observation) {
        self.last_ts = self.last_ts.max(o.ts);
        if let Some(p) = self.profiles.as_mut() {
            self.dirty = true;
            for d in p.observe(o) {
                if self.checks.contains(&d.kind) {
                    self.counters.deviations[d.kind.index()].fetch_add(1, Relaxed);
                    let _ = self.out.send(profile_alert(o, &d, &self.hostname));
                }
            }
        }
        if o.matched.is_some() {
            return;
        }
        if let Some(m) = &self.model {
            if o.class == EvClass::Open && o.get("evt.is_open_write") != "true" && !scored_read(o) {
                return;
            }
            self.counters.scored.fetch_add(1, Relaxed);
            o.write_text(&mut self.text);
            let (score, nearest) = m.classify_with(&self.text, &mut self.scratch);
            if score >= m.threshold {
                if let Some(a) = scorer_alert(o, score, nearest, &self.rules, &self.hostname) {
                    self.counters.scorer_alerts.fetch_add(1, Relaxed);
                    let _ = self.out.send(a);
                }
            }
        }
    }
}

/// Reads the scorer looks at (the extractor already kept only those under watched prefixes).
fn scored_read(o: &Observation) -> bool {
    !o.get("fd.name").is_empty()
}

fn snapshot_fields(o: &Observation) -> BTreeMap<String, Json> {
    SNAPSHOT
        .iter()
        .zip(&o.fields)
        .filter(|(n, _)| !n.starts_with("evt.is_"))
        .map(|(n, v)| (n.to_string(), if v.is_empty() { Json::Null } else { json!(v) }))
        .collect()
}

/// The alert for a profile deviation (source `profile`, rule `Workload profile deviation`).
pub fn profile_alert(o: &Observation, d: &Deviation, hostname: &str) -> Alert {
    let mut f = snapshot_fields(o);
    f.insert("profile.kind".into(), json!(d.kind.as_str()));
    f.insert("profile.item".into(), json!(d.item));
    f.insert("profile.workload".into(), json!(d.workload));
    let na = |k: &str| {
        let v = o.get(k);
        if v.is_empty() {
            "<NA>".to_string()
        } else {
            v.to_string()
        }
    };
    let output = format!(
        "Workload did something its profile has not seen: {} (profile.kind={} profile.item={} profile.workload={} \
         evt.type={} user.name={} proc.exepath={} proc.cmdline={} proc.pid={} proc.pexepath={} container.id={})",
        d.kind.describe(),
        d.kind.as_str(),
        d.item,
        d.workload,
        o.evt,
        na("user.name"),
        na("proc.exepath"),
        na("proc.cmdline"),
        na("proc.pid"),
        na("proc.pexepath"),
        na("container.id"),
    );
    Alert {
        time_ns: o.ts,
        rule: "Workload profile deviation".into(),
        priority: if d.kind == Kind::Drift { Priority::Critical } else { Priority::Warning },
        source: "profile".into(),
        tags: vec!["profile".into(), d.kind.as_str().into()],
        output,
        output_fields: f,
        hostname: hostname.to_string(),
    }
}

/// The alert for a high score: the nearest rule's output template filled with the event's real
/// fields (those the snapshot holds; others print `<NA>`), plus the score.
pub fn scorer_alert(
    o: &Observation,
    score: f32,
    nearest: Option<&str>,
    rules: &Ruleset,
    hostname: &str,
) -> Option<Alert> {
    let rule = nearest.and_then(|n| rules.rule(n));
    let mut acc = MapAccessor::syscall(o.evt);
    for (n, v) in SNAPSHOT.iter().zip(&o.fields) {
        if !v.is_empty() && *n != "evt.type" {
            acc.str(n, v);
        }
    }
    let (name, priority, tags, text, mut fields) = match rule {
        Some(r) => (
            r.name.clone(),
            r.priority,
            r.tags.clone(),
            r.output.render(&acc),
            r.output.render_fields(&acc, o.ts),
        ),
        None => (
            nearest.unwrap_or("unknown").to_string(),
            Priority::Warning,
            Vec::new(),
            o.text(),
            snapshot_fields(o),
        ),
    };
    fields.insert("profile.kind".into(), json!("learned"));
    fields.insert("profile.item".into(), json!(name));
    fields.insert("profile.workload".into(), json!(o.workload));
    fields.insert("profile.score".into(), json!((score * 1000.0).round() / 1000.0));
    Some(Alert {
        time_ns: o.ts,
        rule: format!("Learned: {name}"),
        priority,
        source: "profile".into(),
        tags: [vec!["profile".to_string(), "learned".to_string()], tags].concat(),
        output: format!("{text} (learned score={score:.3} nearest rule={name})"),
        output_fields: fields,
        hostname: hostname.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_and_rejects_bad_values() {
        assert_eq!(ProfileConfig::from_json(&json!({})).unwrap(), None);
        let c = ProfileConfig::from_json(
            &json!({"enabled": true, "learn": "30m", "file": "/x.json", "checks": ["exec", "drift"]}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.learn, Duration::from_secs(1800));
        assert_eq!(c.checks, [Kind::Exec, Kind::Drift]);
        let c = ProfileConfig::from_json(&json!({"scorer": {"model": "/m.json", "threshold": 0.8}}))
            .unwrap()
            .unwrap();
        assert!(!c.profiles);
        assert_eq!(c.threshold, Some(0.8));
        for (bad, want) in [
            (json!({"enabled": true, "learn": "soon"}), "profile.learn"),
            (json!({"enabled": true, "checks": ["teleport"]}), "unknown check 'teleport'"),
            (json!({"enabled": true, "queue": 0}), "profile.queue"),
            (json!({"enabled": 3}), "profile.enabled"),
            (json!({"enabeld": true}), "profile.enabeld' is unknown"),
            (json!({"scorer": {"model": "/m", "threshold": 2}}), "threshold"),
        ] {
            let e = ProfileConfig::from_json(&bad).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let (mut s, _keep) = LearnedStage::without_worker(2);
        for _ in 0..5 {
            s.send(Observation::from_pairs("execve", "w", &[]));
        }
        assert_eq!(s.counters.sent.load(Relaxed), 2);
        assert_eq!(s.counters.dropped.load(Relaxed), 3);
    }

    #[test]
    fn damaged_files_turn_their_part_off_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let pf = dir.path().join("p.json");
        let mf = dir.path().join("m.json");
        std::fs::write(&pf, b"{\"format\":\"harrier-profiles\",\"version\":1,\"workl").unwrap();
        std::fs::write(&mf, b"garbage").unwrap();
        let cfg = ProfileConfig { file: Some(pf.clone()), model: Some(mf), ..Default::default() };
        let (l, errs) = load(&cfg);
        assert!(l.profiles.is_none() && l.model.is_none());
        assert_eq!(errs.len(), 2);
        assert!(errs[0].contains("p.json") && errs[0].contains("profiles are off"), "{}", errs[0]);
        assert!(errs[1].contains("m.json") && errs[1].contains("scorer is off"), "{}", errs[1]);
        // The damaged file is left for inspection, not overwritten.
        assert!(std::fs::read_to_string(&pf).unwrap().ends_with("workl"));
    }

    #[test]
    fn worker_learns_then_alerts_with_profile_fields_and_saves() {
        let dir = tempfile::tempdir().unwrap();
        let pf = dir.path().join("p.json");
        let cfg = ProfileConfig {
            file: Some(pf.clone()),
            learn: Duration::from_secs(10),
            lossless: true,
            ..Default::default()
        };
        let (l, errs) = load(&cfg);
        assert!(errs.is_empty());
        let rules = Arc::new(Ruleset::compile(&[]).0);
        let mut s = LearnedStage::start(&cfg, l, rules, "h".into());
        let mk = |ts: u64, exe: &str| {
            let mut o = Observation::from_pairs(
                "execve",
                "exe:/usr/sbin/app",
                &[("proc.exepath", exe), ("proc.pexepath", "/usr/sbin/app"), ("proc.pid", "42")],
            );
            o.ts = ts;
            o
        };
        s.send(mk(1_000_000_000, "/usr/bin/env"));
        s.send(mk(20_000_000_000, "/usr/bin/env"));
        s.send(mk(21_000_000_000, "/tmp/dropper"));
        let mut got = Vec::new();
        s.flush(&mut |a| got.push(a));
        let kinds: Vec<&Json> = got.iter().map(|a| &a.output_fields["profile.kind"]).collect();
        assert_eq!(kinds, [&json!("exec"), &json!("spawn")]);
        let a = &got[0];
        assert_eq!((a.source.as_str(), a.rule.as_str()), ("profile", "Workload profile deviation"));
        assert_eq!(a.output_fields["profile.item"], json!("/tmp/dropper"));
        assert_eq!(a.output_fields["profile.workload"], json!("exe:/usr/sbin/app"));
        assert_eq!(a.output_fields["proc.pid"], json!("42"));
        assert!(a.output.contains("a new executable"), "{}", a.output);
        let c = &s.counters;
        assert_eq!(c.sent.load(Relaxed), 3);
        assert_eq!((c.learning.load(Relaxed), c.enforcing.load(Relaxed)), (0, 1));
        let by_kind = c.deviations_by_kind();
        assert!(by_kind.contains(&("exec", 1)) && by_kind.contains(&("spawn", 1)), "{by_kind:?}");
        assert!(by_kind.contains(&("drift", 0)), "{by_kind:?}");
        let saved = ProfileSet::load(&pf).unwrap();
        assert!(saved.workloads["exe:/usr/sbin/app"].pending[&Kind::Exec].contains_key("/tmp/dropper"));
    }
}
