//! Response: from an alert to an action, safely.
//!
//! [`rules`] loads response rules in Falco Talon's format; the [`Responder`] matches each alert
//! against them and runs their actions through the safety gate: minimum priority, protected
//! namespaces and processes, dry run (global and per rule), deduplication and a rate limit per
//! (rule, action, target). Every action — done, skipped, failed or dry-run — gives an
//! [`Outcome`], which becomes an alert of source `response` for the sinks, and a counter.

pub mod actionners;
pub mod cli;
pub mod config;
pub mod fuzzing;
pub mod kubernetes;
pub mod node;
pub mod rules;
pub mod safety;
pub mod serve;
pub mod stage;
mod yaml;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use harrier_engine::Alert;
use harrier_rules::Priority;
use serde_json::{json, Map, Value as Json};

pub use rules::{load_files, load_strs, Action, LoadError, LoadErrors, Rule, RuleSet};
pub use safety::Protected;

use actionners::Support;
use node::kill::{KillError, Scope};
use rules::field_text;
use safety::{Dedup, Rate, RateLimiter};

/// Response settings (config key `response`).
#[derive(Debug, Clone)]
pub struct Config {
    /// Dry run for every rule: decide and report, touch nothing.
    pub dry_run: bool,
    /// Alerts less severe than this are not acted on.
    pub min_priority: Priority,
    pub protected: Protected,
    /// Actions per minute per (rule, action); 0 = unlimited.
    pub rate_per_minute: u32,
    pub rate_burst: u32,
    /// The same (rule, action, target) is acted on once per window.
    pub dedup_window: Duration,
    pub quarantine_dir: PathBuf,
    /// How long `node:kill` waits for the process to exit, to report it.
    pub kill_wait: Duration,
    /// Where `node:block_network` pins its programs and records its blocks.
    pub block: node::block::Places,
    /// containerd sockets for `node:kill_container` / `node:pause_container`.
    pub containerd_sockets: Vec<PathBuf>,
    /// `harrier run`: how long an event may wait in the kernel ring when the machine is quiet
    /// (the live source's poll interval; 50 ms without response rules). Shorter is faster
    /// response for a little idle CPU (see the live_kill benchmark).
    pub max_delay: Duration,
    /// The Kubernetes API for `kubernetes:*` actionners (kubeconfig, timeouts, log directory).
    pub kube: kubernetes::KubeSettings,
    /// `node:capture`: directory, size cap, concurrency, durations.
    pub capture: node::capture::Settings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dry_run: false,
            min_priority: Priority::Debug,
            protected: Protected::default(),
            rate_per_minute: 60,
            rate_burst: 20,
            dedup_window: Duration::from_secs(5),
            quarantine_dir: PathBuf::from(node::quarantine::DEFAULT_DIR),
            kill_wait: Duration::from_millis(500),
            block: node::block::Places::default(),
            containerd_sockets: node::containerd::default_sockets(),
            max_delay: Duration::from_millis(2),
            kube: kubernetes::KubeSettings::default(),
            capture: node::capture::Settings::default(),
        }
    }
}

/// What became of one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Done,
    DryRun,
    Skipped,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Done => "done",
            Status::DryRun => "dry_run",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        }
    }
}

/// The result of one action on one alert.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Status,
    pub rule: String,
    pub action: String,
    pub actionner: String,
    /// What was (or would have been) acted on: `pid=123`, `file=/x`, `pod=ns/name`.
    pub target: String,
    /// What happened, or why not.
    pub detail: String,
    /// Actions of this (rule, action) refused by the rate limit since the previous outcome.
    pub suppressed: u64,
    /// When the action finished, ns since the epoch.
    pub time_ns: u64,
    /// The alert that caused it.
    pub alert_rule: String,
    pub alert_priority: Priority,
    pub alert_time_ns: u64,
    pub alert_hostname: String,
    /// A few fields of the alert kept for context (container, pod, process).
    pub context: Map<String, Json>,
}

pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

const CONTEXT_FIELDS: &[&str] = &[
    "proc.pid",
    "proc.name",
    "proc.cmdline",
    "container.id",
    "container.name",
    "k8s.ns.name",
    "k8s.pod.name",
    "fd.name",
];

impl Outcome {
    /// The outcome as an alert of source `response`, for the sinks.
    pub fn to_alert(&self) -> Alert {
        let priority = match self.status {
            Status::Done => Priority::Notice,
            Status::Failed => Priority::Error,
            Status::DryRun | Status::Skipped => Priority::Informational,
        };
        let mut f = std::collections::BTreeMap::new();
        f.insert("response.status".into(), json!(self.status.as_str()));
        f.insert("response.rule".into(), json!(self.rule));
        f.insert("response.action".into(), json!(self.action));
        f.insert("response.actionner".into(), json!(self.actionner));
        f.insert("response.target".into(), json!(self.target));
        f.insert("response.detail".into(), json!(self.detail));
        f.insert("response.suppressed".into(), json!(self.suppressed));
        f.insert("alert.rule".into(), json!(self.alert_rule));
        f.insert("alert.priority".into(), json!(self.alert_priority.as_str()));
        f.insert("alert.time".into(), json!(self.alert_time_ns));
        for (k, v) in &self.context {
            f.insert(k.clone(), v.clone());
        }
        Alert {
            time_ns: self.time_ns,
            rule: format!("Response {}", self.status.as_str()),
            priority,
            source: "response".into(),
            tags: vec!["response".into(), self.actionner.clone()],
            output: format!(
                "Response {} {} (response_rule={} action={} target={} detail={} alert_rule={})",
                self.actionner,
                self.status.as_str(),
                self.rule,
                self.action,
                self.target,
                self.detail,
                self.alert_rule
            ),
            output_fields: f,
            hostname: self.alert_hostname.clone(),
        }
    }
}

/// Counters, readable at any time.
#[derive(Debug, Default)]
pub struct Metrics {
    pub alerts: AtomicU64,
    pub below_priority: AtomicU64,
    pub matched: AtomicU64,
    pub done: AtomicU64,
    pub dry_run: AtomicU64,
    pub skipped: AtomicU64,
    pub failed: AtomicU64,
    /// Actions refused by the rate limit (only the first of a run gives an outcome).
    pub rate_limited: AtomicU64,
    pub deduplicated: AtomicU64,
    pub protected: AtomicU64,
}

impl Metrics {
    fn count(&self, s: Status) {
        match s {
            Status::Done => &self.done,
            Status::DryRun => &self.dry_run,
            Status::Skipped => &self.skipped,
            Status::Failed => &self.failed,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// `(name, value)` pairs, Prometheus-style names.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        vec![
            ("harrier_response_alerts_total", g(&self.alerts)),
            ("harrier_response_below_priority_total", g(&self.below_priority)),
            ("harrier_response_matched_total", g(&self.matched)),
            ("harrier_response_done_total", g(&self.done)),
            ("harrier_response_dry_run_total", g(&self.dry_run)),
            ("harrier_response_skipped_total", g(&self.skipped)),
            ("harrier_response_failed_total", g(&self.failed)),
            ("harrier_response_rate_limited_total", g(&self.rate_limited)),
            ("harrier_response_deduplicated_total", g(&self.deduplicated)),
            ("harrier_response_protected_total", g(&self.protected)),
        ]
    }
}

/// Why a cluster action did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterError {
    /// Left alone on purpose (protected, or a Talon `ignore_*` parameter).
    Skipped(String),
    Failed(String),
}

/// Runs cluster actions; implemented by [`kubernetes::Kube`]. Without one, cluster actions
/// fail with a clear message.
pub trait ClusterActions: Send + Sync {
    fn run(&self, actionner: &str, params: &Map<String, Json>, alert: &Alert)
        -> Result<String, ClusterError>;
}

/// The response stage: rules + safety + actionners.
pub struct Responder {
    rules: RwLock<Arc<RuleSet>>,
    config: Config,
    limiter: Mutex<RateLimiter>,
    dedup: Mutex<Dedup>,
    metrics: Arc<Metrics>,
    /// Made at the first rule that needs it (load or reload), kept after.
    cluster: OnceLock<Result<Arc<dyn ClusterActions>, String>>,
    blocker: node::block::Blocker,
    captures: node::capture::Captures,
}

enum ActError {
    Failed(String),
    Skipped(String),
}

impl Responder {
    pub fn new(rules: RuleSet, config: Config) -> Self {
        let r = Responder {
            blocker: node::block::Blocker::new(config.block.clone()),
            captures: node::capture::Captures::new(config.capture.clone()),
            rules: RwLock::new(Arc::new(rules)),
            limiter: Mutex::new(RateLimiter::new(config.rate_per_minute, config.rate_burst)),
            dedup: Mutex::new(Dedup::new(config.dedup_window)),
            config,
            metrics: Arc::new(Metrics::default()),
            cluster: OnceLock::new(),
        };
        r.prepare();
        r
    }

    /// Load what the rules' actionners need ahead of the first alert (the block programs).
    fn prepare(&self) {
        let uses_cluster = self.rules().rules.iter().any(|r| {
            r.actions
                .iter()
                .any(|a| actionners::lookup(&a.actionner).is_some_and(|i| i.support == Support::Cluster))
        });
        if uses_cluster {
            if let Err(e) = self.cluster() {
                tracing::warn!("kubernetes actionners will fail: {e}");
            }
        }
        let uses_block =
            self.rules().rules.iter().any(|r| r.actions.iter().any(|a| a.actionner == "node:block_network"));
        if uses_block && !self.config.dry_run {
            if let Err(e) = self.blocker.prepare() {
                tracing::warn!(
                    "node:block_network programs not loaded yet (retried at the first block): {e}"
                );
            }
        }
    }

    /// Plug in the Kubernetes side.
    pub fn with_cluster(self, c: Arc<dyn ClusterActions>) -> Self {
        let mut s = self;
        s.cluster = OnceLock::new();
        let _ = s.cluster.set(Ok(c));
        s
    }

    /// The Kubernetes client, made on first use from the config's `kube` settings.
    fn cluster(&self) -> Result<&Arc<dyn ClusterActions>, &String> {
        self.cluster
            .get_or_init(|| {
                #[cfg(feature = "kubernetes")]
                return kubernetes::Kube::connect(&self.config.kube, self.config.protected.clone())
                    .map(|k| Arc::new(k) as Arc<dyn ClusterActions>);
                #[cfg(not(feature = "kubernetes"))]
                Err(harrier_sinks::not_built("kubernetes", "kubernetes:* actionners"))
            })
            .as_ref()
    }

    /// Replace the rules (reload); in-flight alerts finish with the old ones.
    pub fn set_rules(&self, rules: RuleSet) {
        *self.rules.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(rules);
        self.prepare();
    }

    pub fn rules(&self) -> Arc<RuleSet> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The running `node:capture`s; attach [`node::capture::Captures::tap`] to the detector so
    /// they see events.
    pub fn captures(&self) -> &node::capture::Captures {
        &self.captures
    }

    /// Whether any rule could act on this alert (cheap; for callers that want to skip work).
    pub fn wants(&self, alert: &Alert) -> bool {
        alert.priority <= self.config.min_priority
            && self.rules().rules.iter().any(|r| r.matcher.matches(alert))
    }

    /// Act on one alert; returns the outcomes (also counted). Alerts of source `response`
    /// are never acted on (no loops).
    pub fn handle(&self, alert: &Alert) -> Vec<Outcome> {
        let mut out = Vec::new();
        if alert.source == "response" {
            return out;
        }
        self.metrics.alerts.fetch_add(1, Ordering::Relaxed);
        if alert.priority > self.config.min_priority {
            self.metrics.below_priority.fetch_add(1, Ordering::Relaxed);
            return out;
        }
        let rules = self.rules();
        for rule in &rules.rules {
            if !rule.matcher.matches(alert) {
                continue;
            }
            self.metrics.matched.fetch_add(1, Ordering::Relaxed);
            for action in &rule.actions {
                let Some(o) = self.run_action(rule, action, alert) else {
                    // A repeated rate-limit refusal: counted, not reported.
                    continue;
                };
                let stop = match o.status {
                    Status::Failed => !action.ignore_errors,
                    _ => false,
                };
                self.metrics.count(o.status);
                out.push(o);
                if stop || !action.continue_ {
                    break;
                }
            }
            if !rule.continue_ {
                break;
            }
        }
        out
    }

    fn target_of(action: &Action, alert: &Alert) -> String {
        let f = |k: &str| field_text(alert, k).unwrap_or_default();
        match action.actionner.as_str() {
            "node:kill" => format!("pid={}", f("proc.pid")),
            "node:kill_container"
            | "node:pause_container"
            | "node:block_network"
            | "node:capture"
            | "kubernetes:sysdig" => {
                format!("container={}", f("container.id"))
            }
            "node:quarantine" => {
                let field = action.parameters.get("field").and_then(Json::as_str).unwrap_or("fd.name");
                format!("file={}", f(field))
            }
            "node:script" => format!("alert={}:{}", alert.rule, alert.time_ns),
            "kubernetes:delete" => {
                format!("{}={}/{}", f("ka.target.resource"), f("ka.target.namespace"), f("ka.target.name"))
            }
            a if a.starts_with("kubernetes:") => format!("pod={}/{}", f("k8s.ns.name"), f("k8s.pod.name")),
            _ => format!("alert={}:{}", alert.rule, alert.time_ns),
        }
    }

    fn run_action(&self, rule: &Rule, action: &Action, alert: &Alert) -> Option<Outcome> {
        let target = Self::target_of(action, alert);
        let mut context = Map::new();
        for k in CONTEXT_FIELDS {
            if let Some(v) = alert.output_fields.get(*k).filter(|v| !v.is_null()) {
                context.insert((*k).to_string(), v.clone());
            }
        }
        let mut o = Outcome {
            status: Status::Skipped,
            rule: rule.name.clone(),
            action: action.name.clone(),
            actionner: action.actionner.clone(),
            target: target.clone(),
            detail: String::new(),
            suppressed: 0,
            time_ns: 0,
            alert_rule: alert.rule.clone(),
            alert_priority: alert.priority,
            alert_time_ns: alert.time_ns,
            alert_hostname: alert.hostname.clone(),
            context,
        };
        let finish = |mut o: Outcome, s: Status, d: String| {
            o.status = s;
            o.detail = d;
            o.time_ns = now_ns();
            o
        };
        if let Some(why) = self.config.protected.namespace_reason(field_text(alert, "k8s.ns.name").as_deref())
        {
            self.metrics.protected.fetch_add(1, Ordering::Relaxed);
            return Some(finish(o, Status::Skipped, why));
        }
        let now = Instant::now();
        let key = format!("{}\u{1}{}\u{1}{}", rule.name, action.name, target);
        if let Some(age) = self.dedup.lock().unwrap_or_else(|e| e.into_inner()).check(&key, now) {
            self.metrics.deduplicated.fetch_add(1, Ordering::Relaxed);
            return Some(finish(
                o,
                Status::Skipped,
                format!("duplicate: {target} was handled {} ms ago (see that outcome)", age.as_millis()),
            ));
        }
        let rkey = format!("{}\u{1}{}", rule.name, action.name);
        match self.limiter.lock().unwrap_or_else(|e| e.into_inner()).check(&rkey, now) {
            Rate::Allowed { suppressed_before } => o.suppressed = suppressed_before,
            Rate::Limited { first } => {
                self.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
                if !first {
                    return None;
                }
                return Some(finish(
                    o,
                    Status::Skipped,
                    "rate limited (further refusals are counted, not reported one by one)".into(),
                ));
            }
        }
        if self.config.dry_run || rule.dry_run {
            let d = format!("dry run: would run {} on {target}", action.actionner);
            return Some(finish(o, Status::DryRun, d));
        }
        Some(match self.execute(action, alert) {
            Ok(d) => finish(o, Status::Done, d),
            Err(ActError::Skipped(d)) => {
                self.metrics.protected.fetch_add(1, Ordering::Relaxed);
                finish(o, Status::Skipped, d)
            }
            Err(ActError::Failed(d)) => finish(o, Status::Failed, d),
        })
    }

    fn execute(&self, action: &Action, alert: &Alert) -> Result<String, ActError> {
        let info = actionners::lookup(&action.actionner)
            .ok_or_else(|| ActError::Failed(format!("unknown actionner {}", action.actionner)))?;
        let p = &action.parameters;
        match info.support {
            Support::Unsupported(why) => {
                return Err(ActError::Failed(format!(
                    "actionner {} is not supported by Harrier: {why}",
                    action.actionner
                )))
            }
            Support::Cluster => {
                return match self.cluster() {
                    Ok(c) => c.run(&action.actionner, p, alert).map_err(|e| match e {
                        ClusterError::Skipped(d) => ActError::Skipped(d),
                        ClusterError::Failed(d) => ActError::Failed(d),
                    }),
                    Err(e) => {
                        Err(ActError::Failed(format!("{} needs the Kubernetes API: {e}", action.actionner)))
                    }
                };
            }
            Support::Node => {}
        }
        match action.actionner.as_str() {
            "node:kill" => {
                let pid: u32 =
                    field_text(alert, "proc.pid").and_then(|s| s.parse().ok()).ok_or_else(|| {
                        ActError::Failed(
                            "the alert has no proc.pid (add %proc.pid to the detection rule's output)".into(),
                        )
                    })?;
                let sig = p
                    .get("signal")
                    .and_then(Json::as_str)
                    .and_then(node::kill::signal_number)
                    .unwrap_or(libc::SIGKILL);
                let scope = match p.get("scope").and_then(Json::as_str) {
                    Some("process_group") => Scope::ProcessGroup,
                    Some("session") => Scope::Session,
                    _ => Scope::Process,
                };
                let comm = field_text(alert, "proc.name");
                match node::kill::kill(
                    pid,
                    alert.time_ns,
                    comm.as_deref(),
                    sig,
                    scope,
                    &self.config.protected,
                    self.config.kill_wait,
                ) {
                    Ok(k) => {
                        let mut d = format!("signal {sig} sent to {:?}", k.signalled);
                        if let Some(t) = k.exited_after {
                            d.push_str(&format!("; exited after {} us", t.as_micros()));
                        }
                        if !k.skipped_protected.is_empty() {
                            d.push_str(&format!("; protected, not touched: {:?}", k.skipped_protected));
                        }
                        Ok(d)
                    }
                    Err(KillError::Protected(w)) => Err(ActError::Skipped(format!("protected: {w}"))),
                    Err(KillError::Gone(w)) => Err(ActError::Failed(format!("target gone: {w}"))),
                    Err(KillError::Failed(w)) => Err(ActError::Failed(w)),
                }
            }
            "node:script" => {
                let cmd = p.get("command").and_then(Json::as_str).unwrap_or_default();
                let args: Vec<String> = p
                    .get("args")
                    .and_then(Json::as_array)
                    .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                    .unwrap_or_default();
                let timeout =
                    Duration::from_secs(p.get("timeout_seconds").and_then(Json::as_u64).unwrap_or(10));
                node::script::run(cmd, &args, alert, timeout).map_err(ActError::Failed)
            }
            "node:quarantine" => {
                let field = p.get("field").and_then(Json::as_str).unwrap_or("fd.name");
                let path = field_text(alert, field)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| ActError::Failed(format!("the alert has no {field}")))?;
                let dir = p
                    .get("directory")
                    .and_then(Json::as_str)
                    .map(PathBuf::from)
                    .unwrap_or_else(|| self.config.quarantine_dir.clone());
                let id = node::quarantine::quarantine(std::path::Path::new(&path), &dir, &alert.rule)
                    .map_err(ActError::Failed)?;
                Ok(format!("{path} quarantined as {id} in {} (harrier respond restore {id})", dir.display()))
            }
            "node:kill_container" | "node:pause_container" => {
                use node::containerd::{full_id_from_cgroup, task_op, TaskOp};
                let cid = field_text(alert, "container.id").unwrap_or_default();
                if cid.is_empty() || cid == "host" {
                    return Err(ActError::Skipped(
                        "protected: this alert is from the host, not a container".into(),
                    ));
                }
                let cgroup = match field_text(alert, "proc.pid")
                    .and_then(|s| s.parse::<u32>().ok())
                    .map(node::block::cgroup_of_pid)
                {
                    Some(Ok(c)) => Some(c),
                    _ => node::block::cgroup_of_container(&cid).ok(),
                };
                // A container holding a protected process (Harrier's own, a node agent) is never touched.
                if let Some(cg) = &cgroup {
                    if let Ok(procs) = std::fs::read_to_string(cg.join("cgroup.procs")) {
                        for pid in procs.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
                            if let Some(why) = self.config.protected.pid_reason(pid) {
                                return Err(ActError::Skipped(format!(
                                    "protected: container {cid} holds a protected process: {why}"
                                )));
                            }
                        }
                    }
                }
                let full = field_text(alert, "container.full_id")
                    .filter(|f| f.len() == 64)
                    .or_else(|| cgroup.as_deref().and_then(full_id_from_cgroup))
                    .ok_or_else(|| ActError::Failed(format!("target gone: cannot find container {cid}'s full id (add %container.full_id to the rule's output)")))?;
                let op = if action.actionner == "node:kill_container" {
                    let sig = p
                        .get("signal")
                        .and_then(Json::as_str)
                        .and_then(node::kill::signal_number)
                        .unwrap_or(libc::SIGKILL);
                    TaskOp::Kill(sig as u32)
                } else {
                    TaskOp::Pause
                };
                let ns = task_op(&self.config.containerd_sockets, &full, op, Duration::from_secs(5))
                    .map_err(ActError::Failed)?;
                Ok(match op {
                    TaskOp::Kill(s) => format!(
                        "container {cid} (containerd namespace {ns}): signal {s} sent to all its processes"
                    ),
                    _ => format!(
                        "container {cid} (containerd namespace {ns}) paused (harrier respond resume {full})"
                    ),
                })
            }
            "node:block_network" => {
                use node::block::{self, BlockError};
                let cid = field_text(alert, "container.id").unwrap_or_default();
                if cid.is_empty() || cid == "host" {
                    return Err(ActError::Skipped(
                        "protected: node:block_network cuts off containers; this alert is from the host"
                            .into(),
                    ));
                }
                let pid = field_text(alert, "proc.pid").and_then(|s| s.parse::<u32>().ok());
                let cgroup = match pid.map(block::cgroup_of_pid) {
                    Some(Ok(c)) => c,
                    _ => block::cgroup_of_container(&cid)
                        .map_err(|e| ActError::Failed(format!("target gone: {e}")))?,
                };
                match self.blocker.block(&cgroup, &cid, &self.config.protected) {
                    Ok(id) => Ok(format!(
                        "container {cid} cut off (cgroup {}, block {id}; harrier respond unblock {cid})",
                        cgroup.display()
                    )),
                    Err(BlockError::Protected(w)) => Err(ActError::Skipped(format!("protected: {w}"))),
                    Err(BlockError::Already(w)) => Ok(w),
                    Err(BlockError::Gone(w)) => Err(ActError::Failed(format!("target gone: {w}"))),
                    Err(BlockError::Failed(w)) => Err(ActError::Failed(w)),
                }
            }
            // Talon's kubernetes:sysdig records the pod's syscalls; here the node does it.
            "node:capture" | "kubernetes:sysdig" => {
                use node::capture::Target;
                let cid = field_text(alert, "container.id").unwrap_or_default();
                let pid = field_text(alert, "proc.pid").and_then(|s| s.parse::<i64>().ok());
                let scope = p.get("scope").and_then(Json::as_str).unwrap_or("container");
                let target = if !cid.is_empty() && cid != "host" && scope != "process" {
                    Target::Container(cid)
                } else {
                    match pid {
                        Some(pid) => Target::Process(pid),
                        None => {
                            return Err(ActError::Failed(
                                "the alert has neither container.id nor proc.pid (add them to the detection rule's output)"
                                    .into(),
                            ))
                        }
                    }
                };
                let duration = p.get("duration").and_then(Json::as_u64).map(Duration::from_secs);
                let dir = p.get("directory").and_then(Json::as_str).map(PathBuf::from);
                let max_bytes = p.get("max_bytes").and_then(Json::as_u64);
                match self.captures.start(target.clone(), &alert.rule, duration, dir.as_deref(), max_bytes) {
                    Ok(s) => Ok(format!(
                        "capturing {} s of {}'s events to {} (header: {} threads)",
                        s.duration.as_secs(),
                        match &target {
                            Target::Container(c) => format!("container {c}"),
                            Target::Process(p) => format!("process {p}"),
                        },
                        s.path.display(),
                        s.header_threads
                    )),
                    Err(e) => Err(ActError::Failed(e)),
                }
            }
            other => Err(ActError::Failed(format!("{other} is not available in this build of Harrier"))),
        }
    }
}
