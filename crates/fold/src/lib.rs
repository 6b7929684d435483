//! Alert storms folded, nothing dropped.
//!
//! A stage behind the detector's port ([`harrier_pipeline::AlertStage`]). Alerts are grouped by
//! rule and by the values of a few output fields (by default `container.id` and the program,
//! `proc.exepath` or else `proc.name`: the same rule, from the same program in the same container;
//! a key may name alternatives, `a|b`: the first field the alert has). Within one group, the first alert
//! of a window goes out at once; the repeats that follow within the window are counted, and when
//! the window ends one summary alert goes out: the last repeat, with the count in its output and in
//! `harrier.fold.*` output fields. A group whose window passes without repeats is forgotten, so the
//! next alert goes out at once again.
//!
//! Windows are measured in event time as alerts arrive (so a capture replayed at full speed folds
//! as it would have live) and in wall-clock time when the source is idle (so a storm that stops is
//! summarised at most one window later). Groups are bounded ([`FoldConfig::max_groups`]): beyond
//! the bound alerts pass through unfolded and are counted.

pub mod fuzzing;

use harrier_engine::Alert;
use harrier_pipeline::AlertStage;
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default output fields that tell one storm from another (`a|b`: `a` if the alert has it, else `b`).
pub const DEFAULT_KEYS: [&str; 2] = ["container.id", "proc.exepath|proc.name"];

/// How alerts are folded.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldConfig {
    /// Length of a window.
    pub window: Duration,
    /// Output fields whose values, with the rule, make the group key.
    pub keys: Vec<String>,
    /// Per-rule keys and windows (first match wins).
    pub rules: Vec<RuleFold>,
    /// Most groups kept at once.
    pub max_groups: usize,
}

impl Default for FoldConfig {
    fn default() -> Self {
        FoldConfig {
            window: Duration::from_secs(60),
            keys: DEFAULT_KEYS.iter().map(|s| s.to_string()).collect(),
            rules: Vec::new(),
            max_groups: 10_000,
        }
    }
}

/// Keys and window for the rules whose name matches `rule` (`*` matches any run of characters).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFold {
    pub rule: String,
    pub keys: Option<Vec<String>>,
    pub window: Option<Duration>,
    /// `false`: alerts of these rules are never folded.
    pub fold: bool,
}

/// Counters, shared with whoever exports them.
#[derive(Debug, Default)]
pub struct FoldCounters {
    /// Alerts passed on as they came (first of a window, or not foldable).
    pub passed: AtomicU64,
    /// Repeats counted instead of passed on.
    pub folded: AtomicU64,
    /// Summary alerts sent.
    pub summaries: AtomicU64,
    /// Alerts passed on unfolded because the group table was full.
    pub overflow: AtomicU64,
}

impl FoldCounters {
    fn add(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    rule: String,
    values: Vec<String>,
}

struct Group {
    /// Event time the window ends at.
    end_ns: u64,
    /// Wall-clock time the window ends at.
    deadline: Instant,
    window: Duration,
    /// Event time of the window's first alert.
    first_ns: u64,
    repeats: u64,
    /// The last repeat (the summary is made from it).
    last: Option<Alert>,
}

/// The folding stage.
pub struct Fold {
    cfg: FoldConfig,
    groups: HashMap<GroupKey, Group>,
    counters: Arc<FoldCounters>,
}

impl Fold {
    pub fn new(cfg: FoldConfig) -> Self {
        Fold { cfg, groups: HashMap::new(), counters: Arc::default() }
    }

    pub fn counters(&self) -> Arc<FoldCounters> {
        self.counters.clone()
    }

    /// Groups currently kept.
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// The keys and window for a rule; `None`: never folded.
    fn rule_cfg(&self, rule: &str) -> Option<(&[String], Duration)> {
        match self.cfg.rules.iter().find(|r| glob(&r.rule, rule)) {
            Some(r) if !r.fold => None,
            Some(r) => {
                Some((r.keys.as_deref().unwrap_or(&self.cfg.keys), r.window.unwrap_or(self.cfg.window)))
            }
            None => Some((&self.cfg.keys, self.cfg.window)),
        }
    }

    fn summary(g: &mut Group) -> Option<Alert> {
        if g.repeats == 0 {
            return None;
        }
        let mut a = g.last.take()?;
        let n = g.repeats;
        let secs = g.window.as_secs_f64();
        a.output =
            format!("{} (repeated {n} more time{} in {secs:.0}s)", a.output, if n == 1 { "" } else { "s" });
        a.output_fields.insert("harrier.fold.count".into(), Json::from(n));
        a.output_fields.insert("harrier.fold.window_s".into(), Json::from(secs));
        a.output_fields.insert("harrier.fold.first_time".into(), Json::from(g.first_ns));
        if !a.tags.iter().any(|t| t == "folded") {
            a.tags.push("folded".into());
        }
        g.repeats = 0;
        Some(a)
    }
}

/// `*` wildcards; the rest compared exactly.
fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// The value of key `spec` in an alert: the first of its `|`-separated fields that is present.
fn key_value(a: &Alert, spec: &str) -> String {
    let v = spec
        .split('|')
        .map(|f| a.output_fields.get(f.trim()))
        .find(|v| v.is_some_and(|v| !v.is_null()))
        .flatten();
    field_text(v)
}

fn field_text(v: Option<&Json>) -> String {
    match v {
        None | Some(Json::Null) => "<NA>".to_string(),
        Some(Json::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

impl AlertStage for Fold {
    fn name(&self) -> &str {
        "fold"
    }

    fn on_alert(&mut self, alert: Alert, next: &mut dyn FnMut(Alert)) {
        let Some((keys, window)) = self.rule_cfg(&alert.rule) else {
            FoldCounters::add(&self.counters.passed);
            return next(alert);
        };
        let key = GroupKey {
            rule: alert.rule.clone(),
            values: keys.iter().map(|k| key_value(&alert, k)).collect(),
        };
        if let Some(g) = self.groups.get_mut(&key) {
            if alert.time_ns < g.end_ns {
                g.repeats += 1;
                g.last = Some(alert);
                FoldCounters::add(&self.counters.folded);
                return;
            }
            // The window ended (event time): its summary, then this alert opens a new one.
            if let Some(s) = Fold::summary(g) {
                FoldCounters::add(&self.counters.summaries);
                next(s);
            }
            *g = Group::open(&alert, window);
            FoldCounters::add(&self.counters.passed);
            return next(alert);
        }
        if self.groups.len() >= self.cfg.max_groups {
            FoldCounters::add(&self.counters.overflow);
            return next(alert);
        }
        self.groups.insert(key, Group::open(&alert, window));
        FoldCounters::add(&self.counters.passed);
        next(alert)
    }

    fn idle(&mut self, next: &mut dyn FnMut(Alert)) {
        let now = Instant::now();
        let counters = &self.counters;
        self.groups.retain(|_, g| {
            if now < g.deadline {
                return true;
            }
            if let Some(s) = Fold::summary(g) {
                FoldCounters::add(&counters.summaries);
                next(s);
            }
            false
        });
    }

    fn flush(&mut self, next: &mut dyn FnMut(Alert)) {
        let mut groups: Vec<Group> = self.groups.drain().map(|(_, g)| g).collect();
        // Summaries in the order their windows started.
        groups.sort_by_key(|g| g.first_ns);
        for mut g in groups {
            if let Some(s) = Fold::summary(&mut g) {
                FoldCounters::add(&self.counters.summaries);
                next(s);
            }
        }
    }
}

impl Group {
    fn open(a: &Alert, window: Duration) -> Group {
        Group {
            end_ns: a.time_ns.saturating_add(window.as_nanos() as u64),
            deadline: Instant::now() + window,
            window,
            first_ns: a.time_ns,
            repeats: 0,
            last: None,
        }
    }
}

/// Longest duration [`parse_duration`] accepts: ten years.
pub const MAX_DURATION_SECS: f64 = 3650.0 * 86400.0;

/// Parse a duration like `60s`, `5m`, `1h`, `7d`, `500ms` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&t[..i], t[i..].trim()),
        None => (t, "s"),
    };
    let n: f64 = num.parse().map_err(|_| format!("'{s}' is not a duration (e.g. 60s, 5m, 1h)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (ms, s, m, h or d)")),
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("'{s}': a window must be longer than zero"));
    }
    // Far beyond any window or look-back; also keeps `Instant::now() + d` from overflowing.
    if secs > MAX_DURATION_SECS {
        return Err(format!("'{s}' is too long (at most 3650d)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use harrier_pipeline::{AlertPort, Collect, Stages};

    const S: u64 = 1_000_000_000;

    fn alert(rule: &str, t_s: u64, exe: &str) -> Alert {
        let mut f = std::collections::BTreeMap::new();
        f.insert("container.id".to_string(), Json::from("host"));
        f.insert("proc.exepath".to_string(), Json::from(exe));
        Alert {
            time_ns: t_s * S,
            rule: rule.to_string(),
            priority: harrier_rules::Priority::Warning,
            source: "syscall".into(),
            tags: vec!["t".into()],
            output: format!("{rule} by {exe}"),
            output_fields: f,
            hostname: "h".into(),
        }
    }

    fn stage(cfg: FoldConfig) -> (Stages<Collect>, Arc<FoldCounters>) {
        let f = Fold::new(cfg);
        let c = f.counters();
        (Stages::new(Collect::default()).then(Box::new(f)), c)
    }

    fn outs(s: &Stages<Collect>) -> Vec<String> {
        s.last().0.iter().map(|a| a.output.clone()).collect()
    }

    #[test]
    fn first_goes_out_repeats_are_summarised_per_window_and_key() {
        let (mut s, c) = stage(FoldConfig::default());
        for t in 0..100 {
            s.put(alert("Memfd", t / 10, "/a"));
        }
        s.put(alert("Memfd", 3, "/b"));
        assert_eq!(outs(&s), ["Memfd by /a", "Memfd by /b"], "first of each key at once");
        // Event time past the window: the summary of the first window, then the new first.
        s.put(alert("Memfd", 61, "/a"));
        assert_eq!(s.last().0.len(), 4);
        let sum = &s.last().0[2];
        assert_eq!(sum.output, "Memfd by /a (repeated 99 more times in 60s)");
        assert_eq!(sum.output_fields["harrier.fold.count"], Json::from(99u64));
        assert_eq!(sum.time_ns, 9 * S, "the summary is the last repeat");
        assert!(sum.tags.contains(&"folded".to_string()));
        assert_eq!(s.last().0[3].output, "Memfd by /a");
        s.put(alert("Memfd", 62, "/a"));
        s.flush();
        let all = outs(&s);
        assert_eq!(all.len(), 5);
        assert_eq!(all[4], "Memfd by /a (repeated 1 more time in 60s)");
        // Every alert is accounted for: passed + folded = in; each fold is in one summary.
        let (p, f, n) = (
            c.passed.load(Ordering::Relaxed),
            c.folded.load(Ordering::Relaxed),
            c.summaries.load(Ordering::Relaxed),
        );
        assert_eq!(p + f, 103);
        assert_eq!((p, f, n), (3, 100, 2));
    }

    #[test]
    fn idle_closes_windows_by_wall_clock_and_forgets_quiet_groups() {
        let (mut s, _) = stage(FoldConfig { window: Duration::from_millis(20), ..Default::default() });
        s.put(alert("R", 0, "/a"));
        s.put(alert("R", 0, "/a"));
        s.put(alert("Q", 0, "/a"));
        std::thread::sleep(Duration::from_millis(30));
        s.idle();
        assert_eq!(outs(&s), ["R by /a", "Q by /a", "R by /a (repeated 1 more time in 0s)"]);
        // Both groups are gone: the next alerts go out at once.
        s.put(alert("Q", 0, "/a"));
        assert_eq!(s.last().0.len(), 4);
    }

    #[test]
    fn per_rule_keys_windows_and_exclusions() {
        let cfg = FoldConfig {
            rules: vec![
                RuleFold { rule: "Never*".into(), keys: None, window: None, fold: false },
                RuleFold { rule: "By rule".into(), keys: Some(vec![]), window: None, fold: true },
            ],
            ..Default::default()
        };
        let (mut s, _) = stage(cfg);
        s.put(alert("Never folded", 0, "/a"));
        s.put(alert("Never folded", 0, "/a"));
        s.put(alert("By rule", 0, "/a"));
        s.put(alert("By rule", 0, "/b"));
        assert_eq!(outs(&s), ["Never folded by /a", "Never folded by /a", "By rule by /a"]);
    }

    #[test]
    fn a_key_takes_the_first_field_the_alert_has() {
        let (mut s, _) = stage(FoldConfig::default());
        let mut a = alert("R", 0, "/a");
        a.output_fields.remove("proc.exepath");
        a.output_fields.insert("proc.name".into(), Json::from("scraper"));
        let mut b = a.clone();
        b.output_fields.insert("proc.name".into(), Json::from("cat"));
        s.put(a.clone());
        s.put(b);
        s.put(a);
        assert_eq!(s.last().0.len(), 2, "two programs, two groups; the repeat folded");
    }

    #[test]
    fn a_full_group_table_passes_alerts_through_and_counts_them() {
        let (mut s, c) = stage(FoldConfig { max_groups: 2, ..Default::default() });
        for exe in ["/a", "/b", "/c", "/c"] {
            s.put(alert("R", 0, exe));
        }
        assert_eq!(s.last().0.len(), 4);
        assert_eq!(c.overflow.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn durations_and_globs() {
        assert_eq!(parse_duration("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ten").is_err());
        assert_eq!(parse_duration("3d").unwrap(), Duration::from_secs(3 * 86400));
        assert!(parse_duration("3w").is_err());
        assert!(glob("Write below *", "Write below etc"));
        assert!(glob("*memfd*", "Fileless execution via memfd"));
        assert!(!glob("Write*etc", "Write below dev"));
        assert!(glob("a*b*c", "aXbYc") && !glob("a*b*c", "ac"));
    }
}
