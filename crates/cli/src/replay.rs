//! Running rules over events: the Falco-compatible form (`-o engine.kind=replay …`), `harrier run`,
//! and the friendly `harrier replay`.

use crate::config::{self, RuleMatching as CfgMatching, Settings};
use crate::{rules_files, Common};
use clap::Args;
use harrier_engine::{compile_condition, OutputTemplate, RuleMatching, Ruleset, Source};
use harrier_event::NormalizeMode;
use harrier_pipeline::{filter_source, AlertPort, Detector, EventSource, ScapSource};
use harrier_scap::{Writer, WriterOptions};
use harrier_sinks::{AlertFormat, FileOutput, Outputs, ProgramOutput, StdoutOutput};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The capture file (.scap, plain or gzip).
    pub file: PathBuf,
    /// Rules file or directory (repeatable). Default: Harrier's default rules, unless --filter is
    /// given alone.
    #[arg(long = "rules", short = 'r', value_name = "FILE|DIR")]
    pub rules: Vec<PathBuf>,
    /// Select events with a condition. Alone, prints the matching events (like `sysdig -r FILE FILTER`);
    /// with --rules, only the selected events go to the rules.
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Print alerts (or selected events) as JSON.
    #[arg(long)]
    pub json: bool,
    /// Format of selected events, with %field placeholders (default: number, time, process, type, args).
    #[arg(short = 'p', long = "print", value_name = "FORMAT")]
    pub print: Option<String>,
    /// Write the selected events to a new capture file.
    #[arg(short = 'w', value_name = "OUT")]
    pub write: Option<PathBuf>,
    /// gzip-compress the file written with -w.
    #[arg(long)]
    pub gzip: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[arg(short = 'o', value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

fn build_ruleset(files: &[PathBuf], s: &Settings, c: &Common) -> Result<Ruleset, String> {
    let loaded = rules_files::load(files);
    let text = loaded.to_text();
    if loaded.has_errors() {
        return Err(text);
    }
    if loaded.has_warnings() {
        // Warnings are reported once at start-up, as Falco does.
        eprint!("{text}");
    }
    let (mut rs, errors) = Ruleset::compile(&loaded.rules);
    if let Some(e) = errors.first() {
        return Err(format!("{e:?}"));
    }
    rs.set_rule_matching(match s.rule_matching {
        CfgMatching::First => RuleMatching::First,
        CfgMatching::All => RuleMatching::All,
    });
    rs.set_min_priority(s.priority);
    for sel in &s.selection {
        if sel.by_tag {
            rs.set_enabled_by_tag(&sel.pattern, sel.enable);
        } else {
            rs.set_enabled_by_name(&sel.pattern, sel.enable);
        }
    }
    if !c.tags.is_empty() {
        let t: Vec<&str> = c.tags.iter().map(String::as_str).collect();
        rs.enable_only_tags(&t);
    }
    if !c.disable_tags.is_empty() {
        let t: Vec<&str> = c.disable_tags.iter().map(String::as_str).collect();
        rs.disable_tags(&t);
    }
    Ok(rs)
}

pub(crate) fn outputs(s: &Settings) -> Result<Outputs, String> {
    let mut o = Outputs::new(AlertFormat {
        json: s.json_output,
        include_output: s.json_include_output_property,
        include_tags: s.json_include_tags_property,
        iso8601: s.time_format_iso_8601,
    });
    if s.stdout_enabled {
        o.add(Box::new(StdoutOutput::new(s.buffered_outputs)));
    }
    if let Some(f) = &s.file_output {
        o.add(Box::new(FileOutput::new(f, s.file_keep_alive).map_err(|e| format!("file_output: {e}"))?));
    }
    if let Some(p) = &s.program_output {
        o.add(Box::new(ProgramOutput::new(p, s.program_keep_alive)));
    }
    Ok(o)
}

/// Falco's local outputs as the detector's last port (`harrier replay`).
struct OutputsPort(Outputs);

impl AlertPort for OutputsPort {
    fn put(&mut self, alert: harrier_engine::Alert) {
        self.0.send(&alert);
    }
    fn flush(&mut self) {
        self.0.flush();
    }
}

/// The rules `harrier session` evaluates: `-r`, else the config's `rules_files`, else the
/// default rules (their syscall rules never match session records).
pub(crate) fn session_ruleset(c: &Common, s: &Settings) -> Result<Ruleset, String> {
    let (paths, _) = rules_files::resolve_remote(&rule_paths_for(c, s), false)?;
    let files = rules_files::expand(&paths)?;
    build_ruleset(&files, s, c)
}

pub(crate) fn hostname() -> String {
    std::env::var("FALCO_HOSTNAME")
        .or_else(|_| std::env::var("HARRIER_HOSTNAME"))
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|s| s.trim().to_string()))
        .unwrap_or_default()
}

/// The ruleset a command's `-r`/`-c` would run (default rules without `-r`).
pub(crate) fn load_ruleset(c: &Common) -> Result<Ruleset, String> {
    let (_, s) = config::from_common(c).map_err(|e| e.to_string())?;
    let files = rules_files::expand(&rule_paths_for(c, &s))?;
    build_ruleset(&files, &s, c)
}

/// The rule paths of a run: `-r`, else the config's `rules_files`, else the default rules.
fn rule_paths_for(c: &Common, s: &Settings) -> Vec<PathBuf> {
    if !c.rules.is_empty() {
        c.rules.clone()
    } else if !s.rules_files.is_empty() {
        s.rules_files.clone()
    } else {
        vec![rules_files::default_rules_dir()]
    }
}

/// `harrier run --learn DURATION`: live detection with every alert collected in a file instead of
/// the outputs and sinks, then `harrier tune` over them.
fn learn(c: &Common, duration: &str) -> u8 {
    let secs = match harrier_fold::parse_duration(duration) {
        Ok(d) => d.as_secs().max(1),
        Err(e) => {
            eprintln!("harrier: --learn: {e}");
            return 1;
        }
    };
    let alerts = PathBuf::from(format!("{}.alerts.jsonl", c.learn_out.display()));
    let _ = std::fs::remove_file(&alerts);
    let mut c2 = c.clone();
    c2.learn = None;
    c2.stop_after = Some(secs);
    c2.config = None;
    for o in [
        "stdout_output.enabled=false".to_string(),
        "json_output=true".to_string(),
        "file_output.enabled=true".to_string(),
        format!("file_output.filename={}", alerts.display()),
    ] {
        c2.overrides.push(o);
    }
    eprintln!(
        "harrier: learning for {secs} s: alerts are collected in {} and sent nowhere; proposals go to {}",
        alerts.display(),
        c.learn_out.display()
    );
    let code = falco_form(&c2, true);
    if code != 0 {
        return code;
    }
    if !alerts.exists() {
        let _ = std::fs::write(&alerts, "");
    }
    match crate::tune_cmd::tune_file(&alerts, 5, Some(&c.learn_out), false) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("harrier: --learn: {e}");
            1
        }
    }
}

/// `harrier -r … -o engine.kind=replay …` and `harrier run`.
pub fn falco_form(c: &Common, live_cmd: bool) -> u8 {
    if let Some(d) = &c.learn {
        return learn(c, d);
    }
    let (raw, s) = match config::from_common(c) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("harrier: {e}");
            return 1;
        }
    };
    let (rule_paths, fetchers) = match rules_files::resolve_remote(&rule_paths_for(c, &s), true) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("harrier: {e}");
            return 1;
        }
    };
    let files = match rules_files::expand(&rule_paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("harrier: {e}");
            return 1;
        }
    };
    crate::falco_log::set_iso8601(s.time_format_iso_8601);
    if let Err(e) = crate::falco_log::configure(&s.log_level, s.log_stderr, s.log_syslog, s.log_json) {
        eprintln!("harrier: {e}");
        return 1;
    }
    let opening = match (live_cmd || s.engine_kind != "replay", s.capture_file.as_deref()) {
        (false, Some(p)) => Some(crate::falco_log::Opening::Replay(p)),
        (false, None) => None,
        (true, _) => Some(crate::falco_log::Opening::Live),
    };
    if let Some(o) = opening {
        let o = if c.dry_run { crate::falco_log::Opening::Nothing } else { o };
        crate::falco_log::startup(c.config.as_deref(), &files, o);
    }
    // Plugins load first: hosted plugins' sources and fields are known to the rules.
    let plugins = crate::plugins::prepare(&raw);
    let rs = match build_ruleset(&files, &s, c) {
        Ok(r) => r,
        Err(e) => {
            eprint!("{e}");
            eprintln!("harrier: rules are invalid; nothing was run");
            return 1;
        }
    };
    if let Err(e) = crate::stages::check_response(&s) {
        eprintln!("{e}");
        eprintln!("harrier: response rules are invalid; nothing was run");
        return 1;
    }
    // Plugin sources (k8s_audit) and --enable-source/--disable-source.
    let (rs, side) = match crate::plugins::run_plugin_sources(plugins, &s, c, rs) {
        crate::plugins::Next::Done(code) => return code,
        crate::plugins::Next::Syscall { rs, side } => (rs, side),
    };
    let kind = if live_cmd && s.engine_kind != "replay" { "modern_ebpf" } else { s.engine_kind.as_str() };
    if c.dry_run {
        eprintln!(
            "harrier: dry run: the configuration and {} rule file(s) are valid ({} rules enabled); no events processed",
            files.len(),
            rs.rules().iter().filter(|r| r.enabled).count()
        );
        return 0;
    }
    match kind {
        "replay" => {
            let Some(path) = s.capture_file.clone() else {
                eprintln!("harrier: engine.kind=replay needs engine.replay.capture_file=FILE");
                return 1;
            };
            // Falco evaluates rules on both directions of a capture that holds enter events.
            let mut src = match ScapSource::open(&path, NormalizeMode::WithEnter) {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("harrier: {e}");
                    return 1;
                }
            };
            let outs = match outputs(&s)
                .and_then(|o| crate::delivery::Delivery::new(o, c.config.as_deref(), false))
            {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("harrier: {e}");
                    return 1;
                }
            };
            let rs = Arc::new(rs);
            let mut det = Detector::new(rs.clone(), hostname(), crate::stages::build_replay(&s, outs));
            crate::stages::attach_profile(&s, &mut det, rs, hostname(), true);
            let res = det.run(&mut src);
            let stats = det.stats.clone();
            det.into_port().into_last().finish(std::time::Duration::from_secs(5));
            if let Err(e) = res {
                eprintln!("harrier: {e}");
                return 1;
            }
            print_falco_summary(&stats);
            0
        }
        "modern_ebpf" | "ebpf" | "kmod" => {
            let outs = match outputs(&s)
                .and_then(|o| crate::delivery::Delivery::new(o, c.config.as_deref(), true))
            {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("harrier: {e}");
                    return 1;
                }
            };
            // A reload reads the configuration again (watch_config_files, SIGHUP): the rules files,
            // priority and selection it names may have changed too.
            let c2 = c.clone();
            let reload: crate::live::Reload = std::sync::Arc::new(move || {
                let (_, s2) = config::from_common(&c2).map_err(|e| e.to_string())?;
                let (paths, _) = rules_files::resolve_remote(&rule_paths_for(&c2, &s2), false)?;
                let files = rules_files::expand(&paths)?;
                build_ruleset(&files, &s2, &c2)
            });
            let c3 = c.clone();
            let rebuild: crate::live::Rebuild = Box::new(move || {
                let (_, s3) = config::from_common(&c3).map_err(|e| e.to_string())?;
                // Prepared only: the router starts once the running one released its spools.
                let d = outputs(&s3)
                    .and_then(|o| crate::delivery::Delivery::prepare(o, c3.config.as_deref(), true))?;
                Ok((s3, d))
            });
            // Rules from URLs and registries: refreshed in the background; the file watch
            // reloads them when their cache file changes.
            harrier_ops::remote::follow(fetchers, s.rules_remote_interval);
            let ctx = crate::live::LiveCtx {
                config: c.config.clone(),
                rule_files: files.clone(),
                reload: Some(reload),
                rebuild: Some(rebuild),
                side,
            };
            crate::live::run(&s, rs, outs, hostname(), c.stop_after, ctx)
        }
        other => {
            eprintln!("harrier: unknown engine.kind '{other}' (expected modern_ebpf or replay)");
            1
        }
    }
}

fn print_falco_summary(st: &harrier_pipeline::RunStats) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "Events detected: {}", st.alerts);
    let _ = writeln!(out, "Rule counts by severity:");
    for (p, n) in &st.by_priority {
        let _ = writeln!(out, "   {}: {}", p.as_str().to_uppercase(), n);
    }
    let _ = writeln!(out, "Triggered rules by rule name:");
    for (r, n) in &st.by_rule {
        let _ = writeln!(out, "   {r}: {n}");
    }
}

struct ProgressBar {
    enabled: bool,
    start: Instant,
}

impl ProgressBar {
    fn new(quiet: bool) -> Self {
        ProgressBar { enabled: !quiet && std::io::stderr().is_terminal(), start: Instant::now() }
    }
    fn draw(&self, done: u64, total: Option<u64>) {
        if !self.enabled {
            return;
        }
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let mb = done as f64 / 1e6;
        match total.filter(|t| *t > 0) {
            Some(t) => {
                let frac = (done as f64 / t as f64).min(1.0);
                let w = 30;
                let fill = (frac * w as f64) as usize;
                eprint!(
                    "\r[{}{}] {:5.1}%  {:.1} MB  {:.1} MB/s ",
                    "=".repeat(fill),
                    " ".repeat(w - fill),
                    frac * 100.0,
                    mb,
                    mb / secs
                );
            }
            None => eprint!("\r{:.1} MB read  {:.1} MB/s ", mb, mb / secs),
        }
    }
    fn finish(&self) {
        if self.enabled {
            eprint!("\r{}\r", " ".repeat(70));
        }
    }
}

const DEFAULT_PRINT: &str =
    "%evt.num %evt.time %evt.cpu %proc.name (%thread.tid) %evt.dir %evt.type %evt.args";

/// `harrier replay FILE …`.
pub fn friendly(a: ReplayArgs) -> u8 {
    match friendly_inner(a) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("harrier: {e}");
            1
        }
    }
}

fn friendly_inner(a: ReplayArgs) -> Result<u8, String> {
    let common = Common { rules: a.rules.clone(), overrides: a.overrides.clone(), ..Default::default() };
    let (_, mut s) = config::from_common(&common).map_err(|e| e.to_string())?;
    if a.json {
        s.json_output = true;
    }
    let filter = match &a.filter {
        Some(text) => {
            let ast = harrier_condition::parse(text).map_err(|e| {
                format!("--filter: {} (line {}, column {})", e.message, e.pos.line, e.pos.col)
            })?;
            let (f, _) = compile_condition(Source::Syscall, &ast).map_err(|e| format!("--filter: {e}"))?;
            Some(f)
        }
        None => None,
    };
    let select_only = filter.is_some() && a.rules.is_empty();
    let bar = Arc::new(ProgressBar::new(a.quiet));
    let open_writer = |h: &harrier_scap::Header| -> Result<Option<Writer>, String> {
        match &a.write {
            Some(p) => {
                let mut w = Writer::create(p, WriterOptions { gzip: a.gzip, ..Default::default() })
                    .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
                w.write_header(h).map_err(|e| e.to_string())?;
                Ok(Some(w))
            }
            None => Ok(None),
        }
    };
    let started = Instant::now();
    let mut write_err: Option<String> = None;
    if select_only {
        // Selection mode mimics `sysdig -r FILE FILTER`: enter events kept, events numbered and
        // shown the way sysdig 0.29 numbers and shows them (see `SysdigNumbered`).
        let reader = harrier_scap::Reader::open(&a.file)
            .map_err(|e| format!("cannot read capture {}: {e}", a.file.display()))?;
        let mut src = SysdigNumbered::new(reader);
        {
            let bar = bar.clone();
            src.on_progress(move |p| bar.draw(p.consumed(), p.total()));
        }
        let mut writer = open_writer(src.reader.header())?;
        let tmpl = OutputTemplate::compile(Source::Syscall, a.print.as_deref().unwrap_or(DEFAULT_PRINT))
            .map_err(|e| format!("-p: {e}"))?;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let mut selected = 0u64;
        let total = filter_source(&mut src, filter.as_ref(), &mut |acc| {
            selected += 1;
            if let Some(w) = writer.as_mut() {
                if let Err(e) = w.write_event(&acc.ev) {
                    write_err.get_or_insert(e.to_string());
                }
            }
            if a.write.is_none() || a.print.is_some() {
                let line = if a.json {
                    serde_json::Value::Object(tmpl.render_fields(acc, acc.ev.ts()).into_iter().collect())
                        .to_string()
                } else {
                    tmpl.render(acc)
                };
                let _ = writeln!(out, "{line}");
            }
        })
        .map_err(|e| e.to_string())?;
        let _ = out.flush();
        bar.finish();
        if let Some(w) = writer {
            w.finish().map_err(|e| e.to_string())?;
        }
        if let Some(e) = write_err {
            return Err(format!("writing the capture failed: {e}"));
        }
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "{} events read, {} selected in {:.2} s ({:.0} events/s)",
            total,
            selected,
            secs,
            total as f64 / secs.max(1e-9)
        );
        return Ok(0);
    }

    // Falco evaluates rules on both directions of a capture that holds enter events; with a
    // --filter, only exits (and their folded enter parameters) are selected.
    let mode = if filter.is_some() { NormalizeMode::ExitOnly } else { NormalizeMode::WithEnter };
    let mut src = ScapSource::open(&a.file, mode).map_err(|e| e.to_string())?;
    {
        let bar = bar.clone();
        src.on_progress(move |p| bar.draw(p.consumed(), p.total()));
    }
    let mut writer = open_writer(src.reader().header())?;
    let files = if a.rules.is_empty() {
        rules_files::expand(&[rules_files::default_rules_dir()])?
    } else {
        rules_files::expand(&a.rules)?
    };
    let rs = build_ruleset(&files, &s, &common)?;
    let rs = Arc::new(rs);
    let mut det =
        Detector::new(rs.clone(), hostname(), crate::stages::build_replay(&s, OutputsPort(outputs(&s)?)));
    crate::stages::attach_profile(&s, &mut det, rs, hostname(), true);
    let mut scratch = harrier_engine::Scratch::new();
    scratch.ensure(filter.as_ref().map(|f| f.depth()).unwrap_or(1));
    src.seed(&mut det.state);
    let res = src.run(&mut |num, ev| {
        if let Some(f) = &filter {
            // Keep state complete: every event updates it; only selected events go to the rules.
            det.state.apply(ev);
            let acc = harrier_state::SyscallEvent::new(&det.state, *ev, num);
            if !f.eval(&acc, &mut scratch) {
                return harrier_pipeline::Flow::Continue;
            }
            det.process_applied(num, ev);
        } else {
            det.process(num, ev);
        }
        if let Some(w) = writer.as_mut() {
            if let Err(e) = w.write_event(ev) {
                write_err.get_or_insert(e.to_string());
            }
        }
        harrier_pipeline::Flow::Continue
    });
    det.flush_held();
    bar.finish();
    res.map_err(|e| e.to_string())?;
    if let Some(w) = writer {
        w.finish().map_err(|e| e.to_string())?;
    }
    if let Some(e) = write_err {
        return Err(format!("writing the capture failed: {e}"));
    }
    let secs = started.elapsed().as_secs_f64();
    let st = &det.stats;
    eprintln!(
        "{} events in {:.2} s ({:.0} events/s); {} alerts",
        st.events,
        secs,
        st.events as f64 / secs.max(1e-9),
        st.alerts
    );
    for (p, n) in &st.by_priority {
        eprintln!("  {:<13} {n}", p.as_str());
    }
    for (r, n) in &st.by_rule {
        eprintln!("  {n:>6}  {r}");
    }
    Ok(0)
}

/// The capture source of selection mode (`harrier replay FILE --filter EXPR` without rules): events
/// exactly as recorded (no normalisation: [`filter_source`] normalises a copy for the state and
/// evaluates the filter on the recorded event, as sysdig does), numbered like `sysdig -r FILE`
/// (Debian's sysdig 0.29) numbers them: `evt.num` counts only the event types sysdig 0.29 knows
/// ([`harrier_scap::sysdig029_counts`]). Events it does not count are still delivered, with number
/// 0, so that the state sees them (user and group lists of newer captures); [`filter_source`] never
/// shows them.
struct SysdigNumbered {
    reader: harrier_scap::Reader,
    progress: Option<Box<dyn FnMut(harrier_scap::Progress)>>,
}

impl SysdigNumbered {
    fn new(reader: harrier_scap::Reader) -> Self {
        SysdigNumbered { reader, progress: None }
    }

    fn on_progress(&mut self, f: impl FnMut(harrier_scap::Progress) + 'static) {
        self.progress = Some(Box::new(f));
    }
}

impl EventSource for SysdigNumbered {
    fn describe(&self) -> String {
        "capture file (as recorded, sysdig numbering)".to_string()
    }

    fn seed(&mut self, state: &mut harrier_state::State) {
        state.load_scap_header(self.reader.header());
    }

    fn run(
        &mut self,
        f: &mut dyn FnMut(u64, &harrier_event::Event<'_>) -> harrier_pipeline::Flow,
    ) -> Result<(), harrier_pipeline::SourceError> {
        let mut num = 0u64;
        let mut n = 0u64;
        let handle = self.reader.progress();
        let progress = &mut self.progress;
        self.reader
            .for_each_event(|ev| {
                n += 1;
                let counted = harrier_scap::sysdig029_counts(ev.etype());
                if counted {
                    num += 1;
                }
                if f(if counted { num } else { 0 }, &ev) == harrier_pipeline::Flow::Stop {
                    return false;
                }
                if n.is_multiple_of(65536) {
                    if let Some(p) = progress.as_mut() {
                        p(handle.clone());
                    }
                }
                true
            })
            .map_err(|e| harrier_pipeline::SourceError(e.to_string()))?;
        if let Some(p) = self.progress.as_mut() {
            p(self.reader.progress());
        }
        Ok(())
    }
}
