//! Live detection (`harrier run`, Falco's `engine.kind=modern_ebpf`) and live capture
//! (`harrier capture`).

use crate::config::Settings;
use crate::delivery::{Delivery, SharedDelivery};
use clap::Args;
use harrier_engine::{Alert, Ruleset, Source};
use harrier_pipeline::live::LiveSource;
use harrier_pipeline::{Detector, EventSource, Flow};
use harrier_probe::ProbeConfig;
use harrier_scap::{Writer, WriterOptions};
use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Event names the loaded rules can match (`None`: some rule matches every event type).
pub fn needed_events(rs: &Ruleset) -> Option<Vec<&'static str>> {
    let mut names: Vec<&'static str> = Vec::new();
    for r in rs.rules().iter().filter(|r| r.enabled && r.source == Source::Syscall) {
        if r.evttypes.is_all() {
            return None;
        }
        for info in harrier_event::all_events() {
            if r.evttypes.contains(info.id) && !names.contains(&info.name) {
                names.push(info.name);
            }
        }
        // Syscalls reported as generic events are asked for by name (`madvise`).
        for n in &r.generic_syscalls {
            if let Some(s) = harrier_probe::syscalls::generic().iter().find(|s| s.name == n) {
                if !names.contains(&s.name) {
                    names.push(s.name);
                }
            }
        }
    }
    Some(names)
}

/// Event names whose alerts must go out at once: those of enabled syscall rules at priority
/// CRITICAL or above, and every watched one when response rules are loaded (any alert may
/// trigger an action). The probe wakes the consumer for them within its urgent window.
pub fn urgent_events(rs: &Ruleset, responses: bool, watched: &[&'static str]) -> Vec<&'static str> {
    if responses {
        return watched.to_vec();
    }
    let mut names: Vec<&'static str> = Vec::new();
    for r in rs.rules().iter().filter(|r| r.enabled && r.source == Source::Syscall) {
        if r.priority > harrier_rules::Priority::Critical {
            continue;
        }
        if r.evttypes.is_all() {
            return watched.to_vec();
        }
        for info in harrier_event::all_events() {
            if r.evttypes.contains(info.id) && !names.contains(&info.name) {
                names.push(info.name);
            }
        }
    }
    names
}

/// Which urgent opens the probe may batch: the urgent rules (CRITICAL or above, or every rule
/// when responses are loaded) that watch an open syscall tell, from their conditions, whether
/// they can match only opens with write access, or only paths under some prefixes (the sandbox
/// file's device rule: `/dev/sd`, `/dev/nvme`, …). One urgent rule with neither bound keeps every
/// open of its syscalls urgent. Latency only: every open still reaches the rules.
pub fn open_urgency(rs: &Ruleset, responses: bool) -> harrier_engine::prefilter::OpenUrgency {
    let family = harrier_engine::prefilter::OPEN_FAMILY;
    let ids: Vec<&'static [u16]> = family.iter().map(|n| harrier_engine::event_codes_for_name(n)).collect();
    harrier_engine::prefilter::open_urgency(
        rs.rules()
            .iter()
            .filter(|r| r.enabled && r.source == Source::Syscall)
            .filter(|r| responses || r.priority <= harrier_rules::Priority::Critical)
            .map(|r| harrier_engine::prefilter::UrgentOpenRule {
                opens: ids.iter().enumerate().fold(0u8, |m, (i, codes)| {
                    if r.evttypes.is_all() || codes.iter().any(|c| r.evttypes.contains(*c)) {
                        m | (1 << i)
                    } else {
                        m
                    }
                }),
                read_or_failed: r.read_opens | r.failed_opens,
                prefixes: r.open_prefixes.as_deref(),
            }),
    )
}

/// The start-up log's words for `o` (empty when every watched open is urgent or none is).
fn open_urgency_text(o: &harrier_engine::prefilter::OpenUrgency) -> String {
    let mut t = String::new();
    if !o.writes.is_empty() {
        t += &format!("; {} urgent when opened for writing", o.writes.join(", "));
    }
    if !o.by_path.is_empty() {
        let shown: Vec<&str> = o.prefixes.iter().take(8).map(String::as_str).collect();
        t += &format!(
            "; {} urgent when the path starts with {}{}",
            o.by_path.join(", "),
            shown.join(" "),
            if o.prefixes.len() > shown.len() {
                format!(" (and {} more)", o.prefixes.len() - shown.len())
            } else {
                String::new()
            }
        );
    }
    t
}

/// Open syscalls whose failures some active rule may match (the others are dropped in the
/// kernel by the pre-filter; see `harrier_engine::prefilter`).
pub fn failed_opens_wanted(rs: &Ruleset) -> Vec<&'static str> {
    let m = rs.failed_open_interest();
    harrier_engine::prefilter::OPEN_FAMILY
        .iter()
        .enumerate()
        .filter(|(i, _)| m & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect()
}

fn dedicated_events() -> Vec<&'static str> {
    harrier_probe::syscalls::SYSCALLS.iter().map(|s| s.name).collect()
}

fn all_events() -> Vec<&'static str> {
    harrier_probe::syscalls::all().map(|s| s.name).collect()
}

/// SIGINT/SIGTERM raise `stop`; SIGHUP raises `hup` (reopen output files).
fn signals(stop: &Arc<AtomicBool>, hup: &Arc<AtomicBool>) {
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, stop.clone());
    }
    let _ = signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone());
}

fn open_live(
    events: &[&str],
    urgent: &[&str],
    with_state_events: bool,
    preset: u32,
    prefilter: Option<harrier_probe::Prefilter<'_>>,
    opens: &harrier_engine::prefilter::OpenUrgency,
) -> Result<LiveSource, String> {
    let prefixes: Vec<&str> = opens.prefixes.iter().map(String::as_str).collect();
    let cfg = ProbeConfig {
        syscalls: events,
        urgent,
        urgent_writes_only: &opens.writes,
        urgent_by_path: &opens.by_path,
        urgent_path_prefixes: &prefixes,
        with_state_events,
        ring_bytes: harrier_probe::ring_bytes_for_preset(preset),
        exclude_pid: Some(std::process::id()),
        prefilter,
        ..Default::default()
    };
    LiveSource::open(&cfg).map_err(|e| {
        format!(
            "cannot start live capture: {e}\n\
             Live capture needs root (or CAP_BPF + CAP_PERFMON + CAP_SYS_ADMIN), a kernel with BTF \
             (/sys/kernel/btf/vmlinux) and eBPF. To work without it, replay a capture: \
             harrier replay FILE.scap"
        )
    })
}

/// Loads the rule files again (SIGHUP, watch_config_files; on the loop's or the watch's thread).
pub type Reload = Arc<dyn Fn() -> Result<Ruleset, String> + Send + Sync>;

/// Reads the configuration again and builds the outputs it names (watch_config_files).
pub type Rebuild = Box<dyn Fn() -> Result<(Settings, Delivery), String>>;

/// What a live run can reload, and from where.
#[derive(Default)]
pub struct LiveCtx {
    pub config: Option<PathBuf>,
    pub rule_files: Vec<PathBuf>,
    pub reload: Option<Reload>,
    pub rebuild: Option<Rebuild>,
    /// Plugin sources beside the syscalls (`plugins:` in falco.yaml): their alerts share the port.
    pub side: Option<crate::plugins::Loaded>,
}

/// Run the rules on the live kernel until SIGINT/SIGTERM (or `stop_after`). SIGHUP reopens the
/// output files and, with `reload`, loads the rules again and swaps them in between two events
/// (the probe stays attached: no gap); invalid new rules are reported and the old ones kept.
/// With `watch_config_files`, a changed rule file reloads the rules the same way, and a changed
/// configuration also rebuilds the outputs (only them).
pub fn run(
    s: &Settings,
    rs: Ruleset,
    outs: Delivery,
    hostname: String,
    stop_after: Option<u64>,
    ctx: LiveCtx,
) -> u8 {
    let LiveCtx { config, rule_files, reload, rebuild, side } = ctx;
    // Webserver and file watch first: the probe answers /healthz as starting while it loads.
    let mut ops = crate::ops_wire::Ops::start(s, config.as_deref(), &rule_files, &hostname);
    // A rule without an event type sees the syscalls with events of their own (as in Falco, it
    // does not widen the set to every syscall); base_syscalls.all and names do reach the generic ones.
    let wanted = needed_events(&rs).or_else(|| Some(dedicated_events()));
    let sel = crate::base_syscalls::select(&s.base_syscalls, wanted, &all_events());
    if !sel.unsupported.is_empty() {
        tracing::warn!(
            "base_syscalls.custom_set: {} cannot be collected live by Harrier's probe (no handler); \
             rules on them still fire on captures that hold them",
            sel.unsupported.join(", ")
        );
    }
    if !sel.with_state_events {
        tracing::warn!(
            "base_syscalls.custom_set without base_syscalls.repair: only these syscalls are collected; \
             the process and file tables may be incomplete (set base_syscalls.repair=true to add what they need)"
        );
    }
    let urgent = urgent_events(&rs, s.response.is_some(), &sel.syscalls);
    // The in-kernel pre-filter, with or without the profile stage: what it drops (failed opens no
    // rule can match, failed close/dup/fcntl calls captured for state only) gives a profile no
    // item (no executable, directory written, destination or port), and the syscall family of
    // such a call is the one its successful calls give; it drops them while a profile learns and
    // after alike, so it cannot make a deviation.
    let failed_wanted = failed_opens_wanted(&rs);
    // Read-only opens no rule can match are dropped too, but not while a profile learns or
    // scores: a process's file reads are part of what it does.
    let keep_all_opens = s.profile.is_some();
    let ro_keep = if keep_all_opens { None } else { rs.read_open_drop() }.filter(|k| probe_keep(k).fits());
    let prefilter = harrier_probe::Prefilter {
        watched: &sel.syscalls,
        failed_opens_wanted: &failed_wanted,
        read_open_keep: ro_keep.as_ref().map(probe_keep),
    };
    tracing::info!(
        "kernel pre-filter: failed opens dropped{}; failed close/dup/fcntl calls dropped unless a rule watches them; {}",
        if failed_wanted.is_empty() {
            String::new()
        } else {
            format!(" except {} (a rule may match them)", failed_wanted.join(", "))
        },
        read_open_text(&rs, ro_keep.as_ref(), keep_all_opens)
    );
    let opens = open_urgency(&rs, s.response.is_some());
    let mut src = match open_live(
        &sel.syscalls,
        &urgent,
        sel.with_state_events,
        s.buf_size_preset,
        Some(prefilter),
        &opens,
    ) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("harrier: {e}");
            return 1;
        }
    };
    let stop = src.stop_flag();
    let hup = Arc::new(AtomicBool::new(false));
    signals(&stop, &hup);
    src.set_duration(stop_after.map(Duration::from_secs));
    if let Some(r) = &s.response {
        // Response rules loaded: a quiet ring is read sooner (response.max_delay_ms).
        src.poll_timeout = src.poll_timeout.min(r.config.max_delay);
    }
    let (n_rules, n_types) = (rs.rules().iter().filter(|r| r.enabled).count(), src.probe().syscalls().len());
    tracing::info!(
        "alert latency: {} of {} watched syscalls wake the reader within {:?} (rules at CRITICAL or above{}{}), the rest within {:?}",
        src.probe().urgent_syscalls().len(),
        n_types,
        harrier_probe::DEFAULT_URGENT_WINDOW,
        if s.response.is_some() { ", response rules loaded" } else { "" },
        open_urgency_text(&opens),
        harrier_probe::DEFAULT_BATCH_WINDOW
    );
    let outs = Rc::new(RefCell::new(outs));
    // The detector's one door for alerts: stages (none yet) and then the outputs and sinks.
    let port = crate::stages::build_with(s, SharedDelivery(outs.clone()), vec![ops.stage()]);
    let rs = Arc::new(rs);
    // k8s_audit beside the syscalls (plugins: in falco.yaml): its alerts share this port.
    let side = side.map(|l| crate::plugins::Sides::start(l, rs.clone(), hostname.clone())).transpose();
    let mut side = match side {
        Ok(x) => x,
        Err(e) => {
            eprintln!("harrier: {e}");
            return 1;
        }
    };
    if let Some(side) = &side {
        ops.plugin_metrics = Some(side.metrics.clone());
    }
    let port = match side.as_mut() {
        Some(side) => side.merge(port),
        None => crate::plugins::Merge::none(port),
    };
    // Session audit beside the syscalls (session_audit.enabled): its alerts share this port too.
    let (mut session, session_rx) = match s.session_audit.clone() {
        Some(cfg) => {
            let (side, rx) = crate::session_cmd::SessionSide::start(cfg, rs.clone(), hostname.clone());
            (Some(side), Some(rx))
        }
        None => (None, None),
    };
    let port = crate::plugins::Merge::with_channel(port, session_rx);
    let mut det = Detector::new(rs.clone(), hostname.clone(), port);
    det.set_runtime_config(s.runtime.clone());
    let profile_counters = crate::stages::attach_profile(s, &mut det, rs.clone(), hostname.clone(), false);
    ops.profile_counters = profile_counters.clone();
    crate::stages::attach_capture(&mut det);
    let slot = det.rules_slot();
    let captured: Vec<&'static str> = src.probe().syscalls().to_vec();
    let filter = Arc::new(ReloadFilter {
        handle: src.probe().prefilter_handle(),
        base: sel.syscalls.clone(),
        keep_all_opens,
    });
    if let Some(load) = reload.clone() {
        let (slot, captured, filter) = (slot.clone(), captured.clone(), filter.clone());
        ops.start_watch(move || reload_rules(&load, &slot, &captured, &filter));
    }
    // The container runtimes are probed (and containerd's event stream subscribed) before
    // detection is announced and ready, so containers started from then on are described.
    if src.live_containers() {
        det.start_runtime_lookup();
    }
    tracing::info!("live detection started ({n_rules} rules, {n_types} event types watched); Ctrl-C to stop");
    ops.health.set_ready(true);
    // Set when the drop policy's `exit` action fires.
    let exit_on_drops = Arc::new(AtomicBool::new(false));
    {
        // Drop accounting: the kernel's per-CPU counters, checked every second. Every increase is
        // logged on stderr; Falco's `syscall_event_drops` policy (threshold, rate-limited actions
        // log / alert / exit) decides the rest.
        let outs = outs.clone();
        let hup = hup.clone();
        let mut last = 0u64;
        let host = hostname.clone();
        let mut monitor = crate::drops::DropMonitor::new(s.drop_policy.clone());
        let mut last_check = std::time::Instant::now();
        let (exit_flag, stop_flag) = (exit_on_drops.clone(), stop.clone());
        let running = s.clone();
        src.on_tick(Duration::from_secs(1), move |probe| {
            let signalled = hup.swap(false, Ordering::Relaxed);
            if signalled {
                outs.borrow_mut().reopen();
            }
            let watched = ops.take_events();
            if watched.config_changed {
                if let Some(rebuild) = rebuild.as_ref() {
                    rebuild_outputs(rebuild, &running, &outs);
                }
            }
            for e in &watched.refused {
                // One alert per refused version (the running rules stay).
                let alert = crate::ops_wire::invalid_rules_alert(e, &host);
                outs.borrow_mut().send(&alert);
            }
            if signalled {
                if let Some(load) = reload.as_ref() {
                    match reload_rules(load, &slot, &captured, &filter) {
                        Ok(()) => ops.reloaded(),
                        Err(e) => {
                            ops.reloads_failed += 1;
                            let alert = crate::ops_wire::invalid_rules_alert(&e, &host);
                            outs.borrow_mut().send(&alert);
                        }
                    }
                }
                crate::stages::reload_response();
            }
            let d = probe.drops();
            let stats = outs.borrow().sink_stats();
            if let Some(alert) = ops.tick(&d, &stats) {
                outs.borrow_mut().send(&alert);
            }
            let total = d.total();
            if total > last {
                let n = total - last;
                last = total;
                tracing::warn!(
                    "syscall event drop: {n} events dropped in the last second \
                     (process {}, file {}, network {}, other {})",
                    d.process,
                    d.file,
                    d.network,
                    d.other
                );
            }
            let v = monitor.check(d.sent, total, last_check.elapsed().as_secs_f64());
            last_check = std::time::Instant::now();
            if v.act.log {
                tracing::warn!(
                    "Falco internal: syscall event drop. {} system calls dropped in last second \
                     ({:.1}% of the events; over syscall_event_drops.threshold)",
                    v.dropped,
                    v.ratio * 100.0
                );
            }
            if v.act.alert {
                let alert = drop_alert(v.dropped, &d, &host);
                outs.borrow_mut().send(&alert);
            }
            if v.act.exit {
                tracing::error!("exiting: syscall_event_drops.actions includes exit");
                exit_flag.store(true, Ordering::Relaxed);
                stop_flag.store(true, Ordering::Relaxed);
            }
            outs.borrow_mut().flush();
        });
    }
    let res = det.run(&mut src);
    if let Some(mut session) = session.take() {
        session.stop();
        det.flush_held();
    }
    if let Some(mut side) = side.take() {
        side.stop();
        det.flush_held();
    }
    let drops = src.drops();
    // The tick closure and the port hold the other references to the outputs: drop them first.
    drop(src);
    let (events, alerts) = (det.stats.events, det.stats.alerts);
    drop(det);
    match Rc::try_unwrap(outs) {
        Ok(d) => d.into_inner().finish(Duration::from_secs(5)),
        Err(shared) => shared.borrow_mut().flush(),
    }
    tracing::info!("stopped: {} events, {} alerts, {} dropped in the kernel", events, alerts, drops.total());
    if let Some(c) = profile_counters {
        use std::sync::atomic::Ordering::Relaxed;
        tracing::info!(
            "profile stage: {} observations, {} dropped (queue full), {} scored, {} profile alerts, {} scorer alerts",
            c.sent.load(Relaxed),
            c.dropped.load(Relaxed),
            c.scored.load(Relaxed),
            c.profile_alerts(),
            c.scorer_alerts.load(Relaxed)
        );
    }
    match res {
        Ok(()) if exit_on_drops.load(Ordering::Relaxed) => 1,
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e}");
            1
        }
    }
}

/// A changed configuration: build its outputs and swap them in (the old ones are flushed and
/// their sinks given a moment to deliver; what they hold stays in their spools). Keys that need
/// the probe restarted are named.
fn rebuild_outputs(rebuild: &Rebuild, running: &Settings, outs: &Rc<RefCell<Delivery>>) {
    match rebuild() {
        Ok((s, d)) => {
            let old = std::mem::replace(&mut *outs.borrow_mut(), d);
            old.finish(Duration::from_secs(1));
            // The old sinks released their spools: the new ones may open them.
            if let Err(e) = outs.borrow_mut().start() {
                tracing::error!("configuration changed: the forwarding outputs could not start: {e}");
            }
            tracing::info!("configuration changed: outputs restarted");
            let mut restart = Vec::new();
            if s.buf_size_preset != running.buf_size_preset {
                restart.push("buf_size_preset");
            }
            if s.base_syscalls != running.base_syscalls {
                restart.push("base_syscalls");
            }
            if s.ops != running.ops {
                restart.push("webserver/metrics/watch_config_files");
            }
            if !restart.is_empty() {
                tracing::warn!(
                    "configuration changed: {} take effect at the next restart",
                    restart.join(", ")
                );
            }
        }
        Err(e) => tracing::error!("configuration changed but is invalid, nothing of it applied: {e}"),
    }
}

/// The running probe's pre-filter and the event names the first rules and `base_syscalls`
/// watched: what a rules reload widens.
pub struct ReloadFilter {
    handle: harrier_probe::PrefilterHandle,
    base: Vec<&'static str>,
    /// No read-only open is dropped (a profile stage runs).
    keep_all_opens: bool,
}

fn probe_keep(k: &harrier_engine::prefilter::OpenKeep) -> harrier_probe::OpenKeep<'_> {
    harrier_probe::OpenKeep { paths: &k.paths, comms: &k.comms }
}

/// The start-up log's words for the drop of read-only opens.
fn read_open_text(rs: &Ruleset, keep: Option<&harrier_engine::prefilter::OpenKeep>, profile: bool) -> String {
    match keep {
        Some(k) => format!(
            "successful read-only opens dropped (with their close) unless their path starts with one of {} \
             prefixes{} or the path is relative or not clean",
            k.paths.len(),
            if k.comms.is_empty() {
                String::new()
            } else {
                format!(" or the process is {}", k.comms.join(", "))
            }
        ),
        None if profile => "every successful open kept (the profile stage learns from them)".into(),
        None => {
            let b = rs.read_open_drop_blockers();
            match b.first() {
                Some((name, why)) => format!(
                    "every successful open kept: rule '{name}' {why}{}",
                    if b.len() > 1 { format!(" (and {} more rules)", b.len() - 1) } else { String::new() }
                ),
                None => format!(
                    "every successful open kept (the rules' bound has more than {} paths or {} process names)",
                    harrier_probe::abi::PREFIXES_MAX,
                    harrier_probe::abi::KEEP_COMMS
                ),
            }
        }
    }
}

/// SIGHUP or a changed file: load the rules again and hand them to the running detector. An
/// error keeps the running rules and comes back (for the alert). The kernel pre-filter is widened
/// first to what the new rules may match, so nothing they need is dropped once they run.
fn reload_rules(
    load: &Reload,
    slot: &harrier_pipeline::RulesSlot,
    captured: &[&str],
    f: &ReloadFilter,
) -> Result<(), String> {
    match load() {
        Ok(rs) => {
            let mut watched: Vec<&str> = f.base.clone();
            watched.extend(needed_events(&rs).unwrap_or_else(|| captured.to_vec()));
            let failed = failed_opens_wanted(&rs);
            let keep =
                if f.keep_all_opens { None } else { rs.read_open_drop() }.filter(|k| probe_keep(k).fits());
            let p = harrier_probe::Prefilter {
                watched: &watched,
                failed_opens_wanted: &failed,
                read_open_keep: keep.as_ref().map(probe_keep),
            };
            if let Err(e) = f.handle.widen(Some(&p)) {
                // Fail safe: let everything through rather than drop what the rules need.
                tracing::warn!("kernel pre-filter: {e}; turning it off");
                let _ = f.handle.set(None);
            }
            let n = rs.rules().iter().filter(|r| r.enabled).count();
            let missing: Vec<&str> = match needed_events(&rs) {
                Some(names) => names
                    .into_iter()
                    .filter(|e| harrier_probe::syscalls::SYSCALLS.iter().any(|s| s.name == *e))
                    .filter(|e| !captured.contains(e))
                    .collect(),
                None => Vec::new(),
            };
            if !missing.is_empty() {
                tracing::warn!(
                    "the reloaded rules also watch {}; the kernel does not capture them yet (restart to capture them)",
                    missing.join(", ")
                );
            }
            if let Ok(mut g) = slot.lock() {
                *g = Some(Arc::new(rs));
            }
            tracing::info!("rules reloaded ({n} rules)");
            Ok(())
        }
        Err(e) => {
            tracing::error!(
                "the reloaded rules are invalid; the previous rules stay active:\n{}",
                e.trim_end()
            );
            Err(e)
        }
    }
}

fn drop_alert(n: u64, d: &harrier_probe::DropCounters, host: &str) -> Alert {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_nanos() as u64)
        .unwrap_or(0);
    let mut fields = std::collections::BTreeMap::new();
    fields.insert("n_drops".to_string(), serde_json::json!(n));
    fields.insert("n_drops_process".to_string(), serde_json::json!(d.process));
    fields.insert("n_drops_file".to_string(), serde_json::json!(d.file));
    fields.insert("n_drops_network".to_string(), serde_json::json!(d.network));
    fields.insert("n_drops_other".to_string(), serde_json::json!(d.other));
    Alert {
        time_ns: now,
        rule: "Falco internal: syscall event drop".to_string(),
        priority: harrier_rules::Priority::Debug,
        source: "internal".to_string(),
        tags: Vec::new(),
        output: format!("{n} system calls dropped in last second."),
        output_fields: fields,
        hostname: host.to_string(),
    }
}

#[derive(Args, Debug)]
pub struct CaptureArgs {
    /// The capture file to write.
    #[arg(short = 'w', value_name = "FILE")]
    pub write: PathBuf,
    /// Keep only events matching this condition (state is still tracked from every event).
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// gzip-compress the file.
    #[arg(long)]
    pub gzip: bool,
    /// Ring buffer size preset (0–7, as Falco's buf_size_preset).
    #[arg(long, default_value_t = 4)]
    pub buf_size_preset: u32,
}

/// `harrier capture -w FILE`.
pub fn capture(a: CaptureArgs) -> u8 {
    match capture_inner(a) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("harrier: {e}");
            1
        }
    }
}

fn capture_inner(a: CaptureArgs) -> Result<(), String> {
    let filter = match &a.filter {
        Some(text) => {
            let ast = harrier_condition::parse(text).map_err(|e| {
                format!("--filter: {} (line {}, column {})", e.message, e.pos.line, e.pos.col)
            })?;
            Some(
                harrier_engine::compile_condition(Source::Syscall, &ast)
                    .map_err(|e| format!("--filter: {e}"))?
                    .0,
            )
        }
        None => None,
    };
    let mut src = open_live(&dedicated_events(), &[], true, a.buf_size_preset, None, &Default::default())?;
    let stop = src.stop_flag();
    let hup = Arc::new(AtomicBool::new(false));
    signals(&stop, &hup);
    if let Some(d) = a.duration {
        if !(d > 0.0 && d.is_finite()) {
            return Err(format!("--duration must be a positive number of seconds, got {d}"));
        }
        src.set_duration(Some(Duration::from_secs_f64(d)));
    }
    let mut w = Writer::create(&a.write, WriterOptions { gzip: a.gzip, ..Default::default() })
        .map_err(|e| format!("cannot write {}: {e}", a.write.display()))?;
    w.write_header(src.header()).map_err(|e| e.to_string())?;
    let mut state = harrier_state::State::new();
    src.seed(&mut state);
    let mut scratch = harrier_engine::Scratch::new();
    scratch.ensure(filter.as_ref().map(|f| f.depth()).unwrap_or(1));
    let (mut seen, mut written) = (0u64, 0u64);
    let mut err: Option<String> = None;
    eprintln!("harrier: capturing to {} (Ctrl-C to stop)", a.write.display());
    src.run(&mut |num, ev| {
        seen += 1;
        state.apply(ev);
        let keep = filter
            .as_ref()
            .is_none_or(|f| f.eval(&harrier_state::SyscallEvent::new(&state, *ev, num), &mut scratch));
        if keep {
            if let Err(e) = w.write_event(ev) {
                err = Some(e.to_string());
                return Flow::Stop;
            }
            written += 1;
        }
        Flow::Continue
    })
    .map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    if let Some(e) = err {
        return Err(format!("writing {} failed: {e}", a.write.display()));
    }
    eprintln!(
        "harrier: {written} of {seen} events written to {}; {} dropped in the kernel",
        a.write.display(),
        src.drops().total()
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Actions to perform (see --list).
    pub actions: Vec<String>,
    /// Perform every action.
    #[arg(long)]
    pub all: bool,
    /// List the actions and the rule each should raise.
    #[arg(long)]
    pub list: bool,
    /// With --list: a JSON array of {"action", "rule"}.
    #[arg(long)]
    pub json: bool,
    /// Pause between actions, in milliseconds (lets alerts arrive in order).
    #[arg(long, default_value_t = 200)]
    pub pause_ms: u64,
}

/// `harrier generate`.
pub fn generate(a: GenerateArgs) -> u8 {
    use harrier_generate::{action, Outcome, ACTIONS};
    if a.list {
        if a.json {
            let v: Vec<_> = ACTIONS
                .iter()
                .map(|x| {
                    let c = x.context.as_str();
                    serde_json::json!({"action": x.name, "rule": x.rule, "description": x.description, "context": c})
                })
                .collect();
            println!("{}", serde_json::Value::Array(v));
        } else {
            let w = ACTIONS.iter().map(|x| x.name.len()).max().unwrap_or(6);
            for x in ACTIONS {
                println!("{:<w$}  {}  ({})", x.name, x.rule, x.description);
            }
        }
        return 0;
    }
    let chosen: Vec<&harrier_generate::Action> = if a.all {
        ACTIONS.iter().collect()
    } else if a.actions.is_empty() {
        eprintln!("harrier generate: name actions to perform, or --all (harrier generate --list shows them)");
        return 1;
    } else {
        let mut v = Vec::new();
        for n in &a.actions {
            match action(n) {
                Some(x) => v.push(x),
                None => {
                    eprintln!("harrier generate: unknown action '{n}' (harrier generate --list shows them)");
                    return 1;
                }
            }
        }
        v
    };
    let mut failed = 0;
    for x in chosen {
        match x.perform() {
            Outcome::Done => eprintln!("done     {:<24} → {}", x.name, x.rule),
            Outcome::Skipped(why) => {
                // An action named on the command line that cannot run is an error.
                failed += usize::from(!a.all);
                eprintln!("skipped  {:<24} ({why})", x.name)
            }
            Outcome::Failed(why) => {
                failed += 1;
                eprintln!("FAILED   {:<24} {why}", x.name);
            }
        }
        std::thread::sleep(Duration::from_millis(a.pause_ms));
    }
    u8::from(failed > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn official() -> Ruleset {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/falco-rules");
        let files: Vec<PathBuf> =
            ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"]
                .iter()
                .map(|f| dir.join(f))
                .collect();
        let loaded = crate::rules_files::load(&files);
        assert!(!loaded.has_errors(), "{}", loaded.to_text());
        let (rs, errors) = Ruleset::compile(&loaded.rules);
        assert!(errors.is_empty(), "{errors:?}");
        rs
    }

    #[test]
    fn official_rules_need_no_failed_open_and_their_urgent_opens_are_writes_or_devices() {
        let rs = official();
        // As in Falco, two official rules can match a failed open: "Directory traversal monitored
        // file read" (fd.typechar 'f' and fd.num -1: openat and openat2; a failed open's
        // fd.typechar is 'o') and the incubating "Create files below dev" (fd.directory of the
        // path tried, any open with O_CREAT); every other official open rule tests the descriptor.
        let rule_of =
            |i: usize| rs.rules().iter().filter(|r| r.enabled && r.failed_opens & (1 << i) != 0).count();
        assert_eq!(failed_opens_wanted(&rs), ["open", "openat", "openat2", "creat"]);
        assert_eq!((rule_of(0), rule_of(1), rule_of(2), rule_of(3)), (1, 2, 2, 1));
        let mut without = official();
        without.set_enabled_by_name("Directory traversal monitored file read", false);
        without.set_enabled_by_name("Create files below dev", false);
        assert_eq!(failed_opens_wanted(&without), Vec::<&str>::new());
        assert!(urgent_events(&rs, false, &["openat", "execve"]).contains(&"openat"));
        // the sandbox file's CRITICAL "Privileged Container Device Access" matches read-only opens
        // of block devices: those paths only are urgent; the other CRITICAL open rule
        // (release_agent) needs open_write
        let o = open_urgency(&rs, false);
        assert_eq!(o.writes, ["open", "openat"]);
        // (openat2 stays urgent: its access mode is not checked in the kernel, and release_agent's
        // rule watches it too)
        assert_eq!(o.by_path, ["open", "openat"]);
        assert_eq!(o.prefixes, ["/dev/kmem", "/dev/mem", "/dev/nvme", "/dev/sd", "/dev/vd", "/dev/xvd"]);
        let mut rs = rs;
        rs.set_enabled_by_name("Privileged Container Device Access", false);
        let o = open_urgency(&rs, false);
        assert_eq!(o.writes, ["open", "openat"]);
        assert!(o.by_path.is_empty() && o.prefixes.is_empty());
        // with response rules every rule is urgent, and many match any read-only open
        let o = open_urgency(&rs, true);
        assert!(o.writes.is_empty() && !o.by_path.iter().any(|n| n.starts_with("open")), "{o:?}");
    }

    #[test]
    fn a_rule_on_failed_opens_keeps_them() {
        let text = "- rule: failed\n  desc: d\n  condition: evt.type = openat and evt.failed = true\n  output: o\n  priority: CRITICAL\n";
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("r.yaml");
        std::fs::write(&f, text).unwrap();
        let loaded = crate::rules_files::load(&[f]);
        let (rs, _) = Ruleset::compile(&loaded.rules);
        assert_eq!(failed_opens_wanted(&rs), ["openat"]);
        assert_eq!(open_urgency(&rs, false), Default::default());
    }
}
