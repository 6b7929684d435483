//! `harrier doctor`: checks a node and a configuration the way a person would after the usual
//! production failures (CrashLoopBackOff from inotify limits, a sink host that does not resolve,
//! a probe the kernel refuses, alerts filtered away by `priority`/`minimumpriority`, a UI that was
//! never enabled, a rule that floods on an ordinary workload), and says how to fix each.
//!
//! Every check is one entry of [`CHECKS`]: a name and a function from the [`Context`] (the
//! configuration as read, the options) to [`Finding`]s. A new check is one entry.
//!
//! `harrier --support` ([`support::document`]) prints Falco's support document.

#[doc(hidden)]
pub mod fuzzing;
pub mod inotify;
pub mod kernel;
pub mod net;
pub mod noise;
pub mod rules;
pub mod services;
pub mod sinks;
pub mod support;
pub mod system;

use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Not broken, but worth a look (a limit nearly reached, a UI not enabled…).
    Warn,
    /// Broken: Harrier will not work as configured. `doctor` exits non-zero.
    Fail,
    /// Not applicable here (nothing configured to check).
    Skip,
}

impl Status {
    pub fn symbol(self) -> &'static str {
        match self {
            Status::Ok => "✓",
            Status::Warn => "!",
            Status::Fail => "✗",
            Status::Skip => "-",
        }
    }
}

/// One result line.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The check that produced it (an entry of [`CHECKS`]).
    pub check: &'static str,
    /// What was looked at (a program, a sink, a socket…).
    pub subject: String,
    pub status: Status,
    pub detail: String,
    /// What to do about it (empty when nothing needs doing).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

impl Finding {
    pub fn new(
        check: &'static str,
        subject: impl Into<String>,
        status: Status,
        detail: impl Into<String>,
    ) -> Self {
        Finding { check, subject: subject.into(), status, detail: detail.into(), fix: String::new() }
    }
    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = fix.into();
        self
    }
}

/// What `doctor` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The configuration file (`-c`); without it, Falco's defaults apply and no sink is checked.
    pub config: Option<PathBuf>,
    /// Rule files or directories given with `-r` (they replace the config's `rules_files`).
    pub rules: Vec<PathBuf>,
    /// Where the default rules are when neither `-r` nor `rules_files` names any.
    pub default_rules: Vec<PathBuf>,
    /// Run only these checks (names of [`CHECKS`]); empty: all.
    pub only: Vec<String>,
    /// Send a test alert to sinks that accept one (webhook, http_output).
    pub post_test: bool,
    /// Replay this capture with the rules and report noisy rules.
    pub capture: Option<PathBuf>,
    /// Capture this long live and report noisy rules (needs the probe).
    pub sample: Option<Duration>,
    /// A rule is noisy at or above this many alerts per minute of sample.
    pub noisy_per_minute: f64,
    /// Bound of each network step (resolve, connect, handshake, request).
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config: None,
            rules: Vec::new(),
            default_rules: Vec::new(),
            only: Vec::new(),
            post_test: false,
            capture: None,
            sample: None,
            noisy_per_minute: 10.0,
            timeout: Duration::from_secs(3),
        }
    }
}

/// The configuration as read once, shared by the checks.
pub struct Context {
    pub opts: Options,
    /// The configuration tree (empty mapping without `-c`).
    pub config: serde_yaml::Value,
    /// Why the configuration could not be read, if it could not.
    pub config_error: Option<String>,
    /// The raw text of the configuration file.
    pub config_text: String,
}

impl Context {
    pub fn new(opts: Options) -> Context {
        let mut cx = Context {
            opts,
            config: serde_yaml::Value::Mapping(Default::default()),
            config_error: None,
            config_text: String::new(),
        };
        if let Some(p) = cx.opts.config.clone() {
            match std::fs::read_to_string(&p) {
                Err(e) => cx.config_error = Some(format!("cannot read {}: {e}", p.display())),
                Ok(text) => cx.set_text(&p.display().to_string(), text),
            }
        }
        cx
    }

    /// The configuration from its text (`name` for messages).
    pub fn set_text(&mut self, name: &str, text: String) {
        match serde_yaml::from_str::<serde_yaml::Value>(&text) {
            Ok(serde_yaml::Value::Null) => {}
            Ok(v @ serde_yaml::Value::Mapping(_)) => self.config = v,
            Ok(_) => self.config_error = Some(format!("{name}: the top level must be a mapping of keys")),
            Err(e) => self.config_error = Some(format!("{name}: invalid YAML: {e}")),
        }
        self.config_text = text;
    }

    /// A key by dotted path (`webserver.listen_port`).
    pub fn get(&self, key: &str) -> Option<&serde_yaml::Value> {
        get_path(&self.config, key)
    }

    pub fn str(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            serde_yaml::Value::String(s) => Some(s.clone()),
            serde_yaml::Value::Number(n) => Some(n.to_string()),
            serde_yaml::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            serde_yaml::Value::Bool(b) => Some(*b),
            serde_yaml::Value::String(s) if s == "true" => Some(true),
            serde_yaml::Value::String(s) if s == "false" => Some(false),
            _ => None,
        }
    }
}

/// A key by dotted path in a YAML tree.
pub fn get_path<'a>(v: &'a serde_yaml::Value, key: &str) -> Option<&'a serde_yaml::Value> {
    let mut cur = v;
    for seg in key.split('.') {
        cur = cur.as_mapping()?.get(seg)?;
    }
    Some(cur)
}

/// One check: its name (for `--check`), what it looks at, and the function.
pub struct Check {
    pub name: &'static str,
    pub about: &'static str,
    pub run: fn(&Context) -> Vec<Finding>,
}

/// Every check, in the order they run and print.
pub const CHECKS: &[Check] = &[
    Check { name: "config", about: "the configuration file reads", run: config_check },
    Check {
        name: "kernel",
        about: "kernel version, BTF, lockdown, eBPF capabilities",
        run: kernel::check_kernel,
    },
    Check { name: "probe", about: "Harrier's eBPF programs load and attach", run: kernel::check_probe },
    Check { name: "inotify", about: "inotify instances and watches left for this user", run: inotify::check },
    Check {
        name: "rules",
        about: "rules load; rules that can never fire or reach no output",
        run: rules::check,
    },
    Check {
        name: "sinks",
        about: "each configured sink resolves, connects, handshakes (and takes a test POST)",
        run: sinks::check,
    },
    Check {
        name: "runtimes",
        about: "container runtime sockets found and answering",
        run: services::check_runtimes,
    },
    Check {
        name: "services",
        about: "webserver, UI and store configured and reachable",
        run: services::check_services,
    },
    Check { name: "clock", about: "clock synchronised (NTP)", run: system::check_clock },
    Check { name: "hostname", about: "hostname set and usable in alerts", run: system::check_hostname },
    Check { name: "noise", about: "rules firing often on a capture or a live sample", run: noise::check },
];

fn config_check(cx: &Context) -> Vec<Finding> {
    let Some(p) = &cx.opts.config else {
        return vec![Finding::new(
            "config",
            "config",
            Status::Skip,
            "no -c given: Falco's defaults, no sinks",
        )];
    };
    match &cx.config_error {
        Some(e) => vec![Finding::new("config", p.display().to_string(), Status::Fail, e.clone())
            .fix("fix the file (harrier reads falco.yaml keys and falcosidekick blocks)")],
        None => vec![Finding::new("config", p.display().to_string(), Status::Ok, "reads as YAML")],
    }
}

/// The findings of one doctor run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether anything is broken.
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.status == Status::Fail)
    }

    pub fn count(&self, s: Status) -> usize {
        self.findings.iter().filter(|f| f.status == s).count()
    }

    /// `{"ok": bool, "summary": {...}, "findings": [...]}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ok": !self.failed(),
            "summary": {
                "ok": self.count(Status::Ok), "warn": self.count(Status::Warn),
                "fail": self.count(Status::Fail), "skip": self.count(Status::Skip),
            },
            "findings": self.findings,
        })
    }

    /// Human text: one line per finding with ✓/!/✗, the fix indented under it.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut last = "";
        for f in &self.findings {
            if f.check != last {
                out.push_str(&format!("{}\n", f.check));
                last = f.check;
            }
            out.push_str(&format!("  {} {}: {}\n", f.status.symbol(), f.subject, f.detail));
            if !f.fix.is_empty() && f.status != Status::Skip {
                out.push_str(&format!("      fix: {}\n", f.fix));
            }
        }
        out.push_str(&format!(
            "\n{} ok, {} warnings, {} broken, {} skipped\n",
            self.count(Status::Ok),
            self.count(Status::Warn),
            self.count(Status::Fail),
            self.count(Status::Skip)
        ));
        out
    }
}

/// Names of the checks, for `--help` and for validating `--check`.
pub fn check_names() -> Vec<&'static str> {
    CHECKS.iter().map(|c| c.name).collect()
}

/// Run the selected checks.
pub fn run(opts: Options) -> Result<Report, String> {
    for o in &opts.only {
        if !CHECKS.iter().any(|c| c.name == o) {
            return Err(format!("unknown check '{o}' (checks: {})", check_names().join(", ")));
        }
    }
    let cx = Context::new(opts);
    let mut findings = Vec::new();
    for c in CHECKS {
        if !cx.opts.only.is_empty() && !cx.opts.only.iter().any(|o| o == c.name) {
            continue;
        }
        tracing::debug!(check = c.name, "doctor check");
        findings.extend((c.run)(&cx));
    }
    Ok(Report { findings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_check_is_an_error() {
        let e = run(Options { only: vec!["nope".into()], ..Default::default() }).unwrap_err();
        assert!(e.contains("unknown check 'nope'") && e.contains("inotify"), "{e}");
    }

    #[test]
    fn garbled_config_is_a_failure_not_a_panic() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c.yaml");
        std::fs::write(&p, "priority: [unclosed\n  : : :").unwrap();
        let r = run(Options { config: Some(p), only: vec!["config".into()], ..Default::default() }).unwrap();
        assert!(r.failed());
        assert!(r.findings[0].detail.contains("invalid YAML"), "{:?}", r.findings);
    }

    #[test]
    fn text_report_marks_status_and_fix() {
        let r = Report {
            findings: vec![
                Finding::new("x", "a", Status::Ok, "fine"),
                Finding::new("x", "b", Status::Fail, "broken").fix("do this"),
            ],
        };
        let t = r.to_text();
        assert!(t.contains("✓ a: fine") && t.contains("✗ b: broken") && t.contains("fix: do this"), "{t}");
        assert_eq!(r.to_json()["ok"], false);
    }
}
